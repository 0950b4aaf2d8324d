using System.Text;

namespace CertDns.Core;

/// <summary>
/// Makes untrusted text (reasons, CA subjects from certificates) safe for line-framed output: a CLI message, a
/// Postfix policy reply, a socketmap netstring. Control characters (C0, DEL, C1) and the Unicode line and
/// paragraph separators could end a line early or smuggle a second answer, so each becomes one space; every
/// other character, UTF-8 included, is kept (Postfix passes valid UTF-8 through when smtputf8_enable=yes, its
/// default since 3.0: util/printable.c).
/// </summary>
public static class SafeText
{
    /// <summary>Whether <paramref name="c"/> may break a line-framed protocol or a terminal.</summary>
    public static bool IsUnsafe(char c) =>
        char.IsControl(c) || c is '\u2028' or '\u2029';

    /// <summary>Whether the text holds any character <see cref="OneLine"/> would replace.</summary>
    public static bool HasUnsafe(string text)
    {
        foreach (var c in text)
        {
            if (IsUnsafe(c)) return true;
        }
        return false;
    }

    /// <summary>The text with every control character (CR, LF, NUL, TAB, ESC, ...) replaced by a space.</summary>
    public static string OneLine(string? text)
    {
        if (text is null) return "";
        if (!HasUnsafe(text)) return text;
        var sb = new StringBuilder(text.Length);
        foreach (var c in text) sb.Append(IsUnsafe(c) ? ' ' : c);
        return sb.ToString();
    }

    /// <summary>Refuses text an operator typed (a reason) that carries control characters: it would be published in TXT.</summary>
    /// <exception cref="BadInputException">The text holds a control character.</exception>
    public static string RequireOneLine(string text, string option)
    {
        if (HasUnsafe(text))
            throw new BadInputException(option, "must not contain control characters (line breaks, tabs, NUL): it is published in TXT and policy replies");
        return text;
    }
}
