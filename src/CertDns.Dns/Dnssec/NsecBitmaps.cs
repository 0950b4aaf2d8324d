namespace CertDns.Dns.Dnssec;

/// <summary>
/// The NSEC type bitmaps (RFC 4034 section 4.1.2) a compact denial carries, one per kind of name in this zone; all
/// types are below 256, so each is window 0 only. Built once.
/// </summary>
internal static class NsecBitmaps
{
    /// <summary>An empty non-terminal, or a name that exists with nothing asked for: RRSIG NSEC.</summary>
    public static readonly byte[] Empty = Build(DnssecType.Rrsig, DnssecType.Nsec);

    /// <summary>The apex: NS SOA RRSIG NSEC DNSKEY.</summary>
    public static readonly byte[] Apex = Build(RecordType.Ns, RecordType.Soa, DnssecType.Rrsig, DnssecType.Nsec, DnssecType.Dnskey);

    /// <summary>A listed certificate's name (and a test entry): A TXT RRSIG NSEC.</summary>
    public static readonly byte[] Listed = Build(RecordType.A, RecordType.Txt, DnssecType.Rrsig, DnssecType.Nsec);

    /// <summary>A name that does not exist (RFC 9824 section 3.2): RRSIG NSEC NXNAME.</summary>
    public static readonly byte[] NxName = Build(DnssecType.Rrsig, DnssecType.Nsec, DnssecType.NxName);

    private static readonly byte[] A = Build(RecordType.A, DnssecType.Rrsig, DnssecType.Nsec),
        Aaaa = Build(RecordType.Aaaa, DnssecType.Rrsig, DnssecType.Nsec),
        AAndAaaa = Build(RecordType.A, RecordType.Aaaa, DnssecType.Rrsig, DnssecType.Nsec);

    /// <summary>An in-zone name server's name: the address types it has.</summary>
    public static byte[] Addresses(NameServer ns)
    {
        bool a = false, aaaa = false;
        for (int i = 0; i < ns.Glue.Count; i++)
        {
            a |= ns.Glue[i].Type == RecordType.A;
            aaaa |= ns.Glue[i].Type == RecordType.Aaaa;
        }
        return a && aaaa ? AAndAaaa : aaaa ? Aaaa : a ? A : Empty;
    }

    public static byte[] Build(params ushort[] types)
    {
        var bits = new byte[32];
        int used = 0;
        foreach (var t in types)
        {
            if (t > 255) throw new ArgumentOutOfRangeException(nameof(types), "window 0 only");
            bits[t >> 3] |= (byte)(0x80 >> (t & 7));
            used = Math.Max(used, (t >> 3) + 1);
        }
        return [0, (byte)used, .. bits.AsSpan(0, used)];
    }
}
