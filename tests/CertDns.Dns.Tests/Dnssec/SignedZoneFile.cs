using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>
/// A small zone signed with <see cref="RrsigSigner"/> and written in zone-file form for validators outside the
/// project (ldns-verify-zone): apex SOA, NS, DNSKEY; <c>n{i}</c> names with A and TXT; an NSEC chain; every RRset signed.
/// </summary>
internal sealed class SignedZoneFile
{
    public const uint Ttl = 300;

    /// <summary>RR types (RFC 1035).</summary>
    internal static class T
    {
        public const ushort A = 1, Ns = 2, Soa = 6, Txt = 16;
    }

    private readonly DnssecKeySet _keys;
    private readonly SignatureWindow _window;
    private readonly StringBuilder _text = new();

    public SignedZoneFile(DnssecKeySet keys, SignatureWindow window)
    {
        _keys = keys;
        _window = window;
    }

    /// <summary>Every RRSIG RDATA written, with the key that made it, for checks in process.</summary>
    public List<(byte[] Owner, ushort Type, ReadOnlyMemory<byte>[] Rdatas, byte[] Rrsig, DnssecKey Key)> Signatures { get; } = [];

    public int RrsetCount { get; private set; }

    public string Build(int names)
    {
        string zone = _keys.Zone;
        var rrsets = new SortedDictionary<byte[], SortedDictionary<ushort, List<ReadOnlyMemory<byte>>>>(Comparer<byte[]>.Create((a, b) => CanonicalName.Compare(a, b)));
        void Add(string owner, ushort type, byte[] rdata)
        {
            var wire = CanonicalName.FromText(owner);
            if (!rrsets.TryGetValue(wire, out var types)) rrsets[wire] = types = [];
            if (!types.TryGetValue(type, out var list)) types[type] = list = [];
            list.Add(rdata);
        }
        byte[] ns = CanonicalName.FromText("ns1." + zone);
        Add(zone, T.Soa, [.. ns, .. CanonicalName.FromText("hostmaster." + zone), .. U32(2026120201), .. U32(3600), .. U32(600), .. U32(86400), .. U32(300)]);
        Add(zone, T.Ns, ns);
        foreach (var k in _keys.Published) Add(zone, DnssecType.Dnskey, k.DnskeyRdata);
        Add("ns1." + zone, T.A, [127, 0, 0, 1]);
        for (int i = 0; i < names; i++)
        {
            string owner = $"n{i}.{zone}";
            Add(owner, T.A, [127, 0, 0, (byte)(2 + i % 8)]);
            Add(owner, T.Txt, Txt($"status {i}"));
            if (i % 7 == 0) Add(owner, T.Txt, Txt($"second {i}"));
        }

        var owners = rrsets.Keys.ToList();
        for (int i = 0; i < owners.Count; i++)
        {
            var types = rrsets[owners[i]];
            var bitmapTypes = types.Keys.Append(DnssecType.Rrsig).Append(DnssecType.Nsec).Order().ToArray();
            byte[] next = owners[(i + 1) % owners.Count];
            types[DnssecType.Nsec] = [(byte[])[.. next, .. Bitmap(bitmapTypes)]];
        }

        foreach (var (owner, types) in rrsets)
        {
            foreach (var (type, rdatas) in types)
            {
                uint ttl = type == DnssecType.Nsec ? 300 : Ttl;
                var array = rdatas.ToArray();
                foreach (var rdata in array) Line(owner, ttl, type, rdata.Span);
                // Sign with the owner in upper case: the signer must lower it for the signed data.
                byte[] upper = [.. owner.Select(b => b is >= (byte)'a' and <= (byte)'z' ? (byte)(b & 0xDF) : b)];
                foreach (var key in _keys.SignersFor(type))
                {
                    var rrsig = new byte[RrsigSigner.RdataLength(_keys.ZoneWire)];
                    int length = RrsigSigner.Sign(upper, type, 1, ttl, array, _window, key, _keys.ZoneWire, rrsig);
                    Assert.Equal(rrsig.Length, length);
                    Line(owner, ttl, DnssecType.Rrsig, rrsig);
                    Signatures.Add((owner, type, array, rrsig, key));
                }
                RrsetCount++;
            }
        }
        return _text.ToString();
    }

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    private static byte[] Txt(string s) => [(byte)s.Length, .. Encoding.ASCII.GetBytes(s)];

    /// <summary>The NSEC type bitmap (RFC 4034 section 4.1.2), written here independently of the server's.</summary>
    public static byte[] Bitmap(IEnumerable<ushort> types)
    {
        var result = new List<byte>();
        foreach (var window in types.Distinct().Order().GroupBy(t => t >> 8))
        {
            var bits = new byte[32];
            int used = 0;
            foreach (var t in window)
            {
                bits[(t & 0xFF) >> 3] |= (byte)(0x80 >> (t & 7));
                used = Math.Max(used, ((t & 0xFF) >> 3) + 1);
            }
            result.Add((byte)window.Key);
            result.Add((byte)used);
            result.AddRange(bits.Take(used));
        }
        return [.. result];
    }

    /// <summary>An RR in RFC 3597 generic form: a validator parses it without any type-specific presentation code of ours.</summary>
    private void Line(byte[] owner, uint ttl, ushort type, ReadOnlySpan<byte> rdata) =>
        _text.Append(CultureInfo.InvariantCulture, $"{CanonicalName.ToText(owner)}\t{ttl}\tIN\t{TypeName(type)}\t\\# {rdata.Length} {Convert.ToHexString(rdata)}\n");

    private static string TypeName(ushort type) => type switch
    {
        T.A => "A",
        T.Ns => "NS",
        T.Soa => "SOA",
        T.Txt => "TXT",
        DnssecType.Rrsig => "RRSIG",
        DnssecType.Nsec => "NSEC",
        DnssecType.Dnskey => "DNSKEY",
        _ => "TYPE" + type,
    };
}
