namespace CertDns.TestInfrastructure;

/// <summary>Query-name forms as a client writes them, built independently of the codec under test.</summary>
public static class QueryNames
{
    /// <summary>One label per byte (Sendmail's <c>${cert_fp}</c> with its colons turned into dots).</summary>
    public static string PerByte(byte[] digest) => string.Join('.', Convert.ToHexStringLower(digest).Chunk(2).Select(c => new string(c)));
}
