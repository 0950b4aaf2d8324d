using CertDns.Core;
using System.Text;

namespace CertDns.Pki;

/// <summary>Turns a file's bytes into DER blobs: raw DER, PEM blocks with a given label, or bare base64.</summary>
internal static class InputText
{
    /// <summary>What a file turned out to be.</summary>
    internal enum Kind { Der, Pem, Base64, Unknown }

    /// <summary>
    /// Splits <paramref name="data"/> into DER blobs. DER is returned as is; PEM yields one blob per block whose
    /// label is in <paramref name="labels"/> (other blocks are skipped); text that is only base64 and whitespace
    /// is decoded as one blob.
    /// </summary>
    internal static List<byte[]> Decode(byte[] data, string source, string[] labels, string what, out Kind kind)
    {
        // A DER SEQUENCE starts with 0x30; no PEM or base64 text can (it would be the character '0').
        if (data.Length > 0 && data[0] == 0x30)
        {
            kind = Kind.Der;
            return [data];
        }
        var text = Encoding.Latin1.GetString(data);
        if (text.Contains("-----BEGIN ", StringComparison.Ordinal))
        {
            kind = Kind.Pem;
            return DecodePem(text, source, labels, what);
        }
        if (TryDecodeBase64(text, out var bytes) && bytes.Length > 0)
        {
            kind = Kind.Base64;
            return [bytes];
        }
        kind = Kind.Unknown;
        return [];
    }

    private static List<byte[]> DecodePem(string text, string source, string[] labels, string what)
    {
        var result = new List<byte[]>();
        int pos = 0;
        while (true)
        {
            int begin = text.IndexOf("-----BEGIN ", pos, StringComparison.Ordinal);
            if (begin < 0) break;
            int labelStart = begin + "-----BEGIN ".Length;
            int labelEnd = text.IndexOf("-----", labelStart, StringComparison.Ordinal);
            if (labelEnd < 0) break;
            var label = text[labelStart..labelEnd];
            var endMarker = "-----END " + label + "-----";
            int bodyStart = labelEnd + 5;
            int end = text.IndexOf(endMarker, bodyStart, StringComparison.Ordinal);
            if (end < 0)
            {
                throw new BadInputException(source, $"not a {what}: PEM block \"{label}\" has no END line");
            }
            pos = end + endMarker.Length;
            if (!labels.Contains(label, StringComparer.Ordinal)) continue;
            // RFC 1421 headers (e.g. "Proc-Type: ...") may precede the base64; they contain a colon.
            var body = new StringBuilder(end - bodyStart);
            foreach (var line in text[bodyStart..end].Split('\n'))
            {
                if (!line.Contains(':')) body.Append(line);
            }
            if (!TryDecodeBase64(body.ToString(), out var der) || der.Length == 0)
            {
                throw new BadInputException(source, $"not a {what}: PEM block \"{label}\" is not valid base64");
            }
            result.Add(der);
        }
        return result;
    }

    private static bool TryDecodeBase64(string text, out byte[] bytes)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c)) continue;
            if (!(char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=')) { bytes = []; return false; }
            sb.Append(c);
        }
        try
        {
            bytes = Convert.FromBase64String(sb.ToString());
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
