using System.Text;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// Domain names in canonical wire form (RFC 4034 section 6.2: uncompressed, ASCII letters lower case) and their
/// canonical order (section 6.1), which NSEC chains and the signed data need.
/// </summary>
public static class CanonicalName
{
    public const int MaxLength = 255;

    /// <summary>
    /// The canonical wire form of a presentation-format name (trailing dot optional; <c>\DDD</c> and <c>\X</c>
    /// escapes read as in RFC 1035 section 5.1). Throws <see cref="FormatException"/> naming the name and the reason.
    /// </summary>
    public static byte[] FromText(string name)
    {
        var wire = new List<byte>(name.Length + 2);
        var label = new List<byte>(63);
        if (name is "." or "") return [0];
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (c == '.')
            {
                EndLabel(name, wire, label);
                continue;
            }
            int b;
            if (c == '\\')
            {
                if (i + 3 < name.Length && char.IsAsciiDigit(name[i + 1]) && char.IsAsciiDigit(name[i + 2]) && char.IsAsciiDigit(name[i + 3]))
                {
                    b = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
                    if (b > 255) throw new FormatException($"name '{name}': escape \\{name.Substring(i + 1, 3)} is above 255");
                    i += 3;
                }
                else if (i + 1 < name.Length) b = name[++i];
                else throw new FormatException($"name '{name}': ends in a lone backslash");
            }
            else if (c > 127) throw new FormatException($"name '{name}': non-ASCII character (use \\DDD escapes)");
            else b = c;
            label.Add(LowerByte((byte)b));
        }
        if (label.Count > 0) EndLabel(name, wire, label);
        wire.Add(0);
        if (wire.Count > MaxLength) throw new FormatException($"name '{name}' is longer than {MaxLength} octets in wire form");
        return [.. wire];
    }

    private static void EndLabel(string name, List<byte> wire, List<byte> label)
    {
        if (label.Count == 0) throw new FormatException($"name '{name}' has an empty label");
        if (label.Count > 63) throw new FormatException($"name '{name}' has a label longer than 63 octets");
        wire.Add((byte)label.Count);
        wire.AddRange(label);
        label.Clear();
    }

    /// <summary>Presentation form with a trailing dot, escaping what is not a letter, digit, hyphen or underscore.</summary>
    public static string ToText(ReadOnlySpan<byte> wire)
    {
        if (wire.Length == 0 || wire[0] == 0) return ".";
        var sb = new StringBuilder(wire.Length + 1);
        for (int at = 0; at < wire.Length && wire[at] != 0; at += 1 + wire[at])
        {
            foreach (byte b in wire.Slice(at + 1, wire[at]))
            {
                if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'*') sb.Append((char)b);
                else if (b is > 32 and < 127) sb.Append('\\').Append((char)b);
                else sb.Append('\\').Append(b.ToString("D3"));
            }
            sb.Append('.');
        }
        return sb.ToString();
    }

    /// <summary>Length of the uncompressed name at the start of <paramref name="wire"/>, or -1 if it is not one.</summary>
    public static int Length(ReadOnlySpan<byte> wire)
    {
        int at = 0;
        while (at < wire.Length)
        {
            int len = wire[at];
            if (len == 0) return at + 1 > MaxLength ? -1 : at + 1;
            if (len > 63) return -1;
            at += 1 + len;
        }
        return -1;
    }

    /// <summary>The RRSIG Labels field (RFC 4034 section 3.1.3): labels of the owner, not counting the root or a leading <c>*</c>.</summary>
    public static byte LabelCount(ReadOnlySpan<byte> wire)
    {
        int count = 0;
        for (int at = 0; at < wire.Length && wire[at] != 0; at += 1 + wire[at]) count++;
        if (count > 0 && wire[0] == 1 && wire[1] == (byte)'*') count--;
        return (byte)count;
    }

    /// <summary>Copies a name in wire form, lowering ASCII letters; returns its length.</summary>
    public static int CopyLower(ReadOnlySpan<byte> wire, Span<byte> destination)
    {
        int length = Length(wire);
        if (length < 0) throw new ArgumentException("not a domain name in uncompressed wire form", nameof(wire));
        for (int i = 0, at = 0; i < length; i++)
        {
            // Length octets are below 64, so lowering every octet in A..Z leaves them alone.
            destination[i] = i == at ? wire[i] : LowerByte(wire[i]);
            if (i == at) at += 1 + wire[i];
        }
        return length;
    }

    /// <summary>Canonical order of two names in wire form (RFC 4034 section 6.1): label by label from the root, octets case-folded.</summary>
    public static int Compare(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Span<int> la = stackalloc int[128], lb = stackalloc int[128];
        int na = LabelStarts(a, la), nb = LabelStarts(b, lb);
        for (int i = na - 1, j = nb - 1; i >= 0 && j >= 0; i--, j--)
        {
            var x = a.Slice(la[i] + 1, a[la[i]]);
            var y = b.Slice(lb[j] + 1, b[lb[j]]);
            int n = Math.Min(x.Length, y.Length);
            for (int k = 0; k < n; k++)
            {
                int d = LowerByte(x[k]) - LowerByte(y[k]);
                if (d != 0) return d;
            }
            if (x.Length != y.Length) return x.Length - y.Length;
        }
        return na - nb;
    }

    private static int LabelStarts(ReadOnlySpan<byte> wire, Span<int> starts)
    {
        int n = 0;
        for (int at = 0; at < wire.Length && wire[at] != 0; at += 1 + wire[at]) starts[n++] = at;
        return n;
    }

    internal static byte LowerByte(byte b) => b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b;
}
