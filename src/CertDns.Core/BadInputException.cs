namespace CertDns.Core;

/// <summary>
/// The one exception for "this input is bad": a user's file, name or argument that cannot be taken.
/// The CLI prints <see cref="Exception.Message"/> as one line and exits 1; nothing is stored.
/// </summary>
public sealed class BadInputException(string input, string reason) : Exception($"{input}: {reason}")
{
    /// <summary>The file, URL, name or argument that was refused.</summary>
    public string Input { get; } = input;

    /// <summary>Why it was refused, without the input's name.</summary>
    public string Reason { get; } = reason;
}
