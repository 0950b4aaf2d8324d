using System.Formats.Asn1;
using System.Numerics;
using System.Text;
using CertDns.Core;

namespace CertDns.Pki;

/// <summary>
/// A CRL whose structure has been checked completely (RFC 5280 section 5): envelope, version, times,
/// algorithm agreement, every entry and every extension. Holds the DER and offsets into it; entries are
/// re-read on demand by <see cref="Entries"/>, so a million-entry CRL costs its bytes and nothing per entry.
/// </summary>
public sealed class ParsedCrl
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);

    private readonly byte[] _der;
    private int _entriesOffset;
    private int _entriesLength;
    private readonly int _tbsOffset;
    private readonly int _tbsLength;

    private ParsedCrl(byte[] der, int tbsOffset, int tbsLength, string source, byte[] sha256)
    {
        _der = der;
        _tbsOffset = tbsOffset;
        _tbsLength = tbsLength;
        Source = source;
        Sha256 = sha256;
    }

    /// <summary>The file name or URL given to <see cref="CrlFile.Parse"/>.</summary>
    public string Source { get; }

    /// <summary>SHA-256 of the input file's bytes as given (PEM or base64 text included).</summary>
    public byte[] Sha256 { get; }

    /// <summary>The CRL's DER (decoded from PEM or base64 when needed).</summary>
    public ReadOnlyMemory<byte> Der => _der;

    /// <summary>1 or 2.</summary>
    public int Version { get; private set; }

    /// <summary>Raw DER of the issuer Name.</summary>
    public byte[] IssuerDer { get; private set; } = [];

    /// <summary>Issuer in RFC 4514 order.</summary>
    public string Issuer { get; private set; } = "";

    public DateTimeOffset ThisUpdate { get; private set; }

    public DateTimeOffset? NextUpdate { get; private set; }

    /// <summary>cRLNumber, when present.</summary>
    public BigInteger? Number { get; private set; }

    /// <summary>BaseCRLNumber of the deltaCRLIndicator: set only on delta CRLs.</summary>
    public BigInteger? DeltaBaseNumber { get; private set; }

    /// <summary>keyIdentifier of authorityKeyIdentifier, when present.</summary>
    public byte[]? AuthorityKeyId { get; private set; }

    /// <summary>issuingDistributionPoint, when present.</summary>
    public IssuingDistributionPoint? DistributionPoint { get; private set; }

    /// <summary>expiredCertsOnCRL (2.5.29.60), when present.</summary>
    public DateTimeOffset? ExpiredCertsOnCrl { get; private set; }

    /// <summary>Whether any entry carries a certificateIssuer extension (allowed only on indirect CRLs, RFC 5280 5.3.3).</summary>
    public bool HasCertificateIssuer { get; private set; }

    /// <summary>Number of revokedCertificates entries.</summary>
    public int EntryCount { get; private set; }

    /// <summary>The original tbsCertList bytes, as signed.</summary>
    public ReadOnlyMemory<byte> Tbs => _der.AsMemory(_tbsOffset, _tbsLength);

    /// <summary>DER AlgorithmIdentifier of the signature (equal inside and outside the TBS).</summary>
    public byte[] SignatureAlgorithmDer { get; private set; } = [];

    /// <summary>Dotted OID of the signature algorithm, e.g. <c>1.2.840.113549.1.1.11</c>.</summary>
    public string SignatureAlgorithm { get; private set; } = "";

    /// <summary>signatureValue contents.</summary>
    public byte[] Signature { get; private set; } = [];

    /// <summary>
    /// The entries in file order, read lazily from the validated DER; the certificateIssuer of an indirect
    /// CRL is carried forward to the entries that follow it (RFC 5280 5.3.3).
    /// </summary>
    /// <remarks>
    /// On a CRL from <see cref="CrlFile.ParseDeferred"/> whose entries are not yet checked, this walk is the check: an
    /// entry that does not parse throws <see cref="BadInputException"/> when reached, and once the walk completes
    /// <see cref="EntryCount"/> and <see cref="HasCertificateIssuer"/> are set: one DER walk instead of two.
    /// </remarks>
    public IEnumerable<CrlEntry> Entries()
    {
        // Whether this walk checks is decided when it starts, not when it is asked for.
        foreach (var entry in FileOrder(0, 0, !EntriesChecked)) yield return entry;
    }

    /// <summary>
    /// The entries in the order of their stored key (the serial as <see cref="CrlEntry.Serial"/> has it, compared as
    /// SQLite compares blobs), entries with equal keys in file order: a store's B-tree then takes a million rows at its
    /// right edge instead of at random pages. Checks every entry (as <see cref="Entries"/> does on a deferred parse)
    /// before the first is yielded.
    /// </summary>
    /// <remarks>
    /// Memory: the key range is cut into <see cref="KeyRanges"/> ranges of about equal counts by the keys' first two
    /// octets (a histogram kept by the checking walk), and each range is collected as offsets with an 8-octet key prefix
    /// (16 bytes an entry) by a header-only walk, sorted and yielded in turn, the next range sorted on another core while
    /// one is yielded: two quarters of the entries at a time (more for one prefix that has more), 8 MB for a million.
    /// The certificateIssuer of an indirect CRL applies to the entries after it in file order, so from the first entry
    /// that carries one on, the entries come in file order: those before it, then it and the rest as <see cref="Entries"/>
    /// yields them (a consumer refusing the extension sees it at the same entry). So does a CRL with a serial of 128
    /// octets or more (RFC 5280 allows 20). The checking walk of a large CRL runs in two halves on two cores
    /// (<see cref="CheckInHalves"/>); when either half meets anything unusual the walk runs again on one core, as above.
    /// </remarks>
    public IEnumerable<CrlEntry> EntriesInKeyOrder()
    {
        var histogram = new int[1 << 16];
        int pos = 0, count = 0;
        bool checking = !EntriesChecked;
        if (checking && CheckInHalves(histogram) is { } checkedCount)
        {
            (count, pos, EntriesWalked) = (checkedCount, _entriesLength, _entriesLength);
            checking = false;
            (EntryCount, HasCertificateIssuer, EntriesChecked) = (count, false, true);
        }
        while (checking ? pos < _entriesLength : count < EntryCount)
        {
            int start = pos;
            count++;
            var raw = checking ? CheckedEntryAt(ref pos, count) : ReadCheckedEntryAt(ref pos);
            EntriesWalked = pos;
            var serial = SerialAt(_der, _entriesOffset + start);
            if (raw.IssuerLength > 0 || serial.IsEmpty)
            {
                // In file order from here: the walk resumes at this entry, so nothing is checked or yielded twice.
                foreach (var entry in FileOrder(start, count - 1, checking)) yield return entry;
                yield break;
            }
            histogram[(int)(Packed(serial) >> 48)]++;
        }
        if (checking) (EntryCount, HasCertificateIssuer, EntriesChecked) = (count, false, true);

        // Contiguous prefix ranges of at most a quarter of the entries each (one prefix is never split).
        int capacity = Math.Max((count + KeyRanges - 1) / KeyRanges, histogram.Max());
        var ranges = new List<(int Low, int High, int Count)>();
        for (int low = 0; low < histogram.Length;)
        {
            int high = low, inRange = 0;
            while (high < histogram.Length && inRange + histogram[high] <= capacity) inRange += histogram[high++];
            ranges.Add((low, high, inRange));
            low = high;
        }
        // Two buffers: while one range is yielded (and inserted), the next is collected and sorted on another core, so
        // the consumer does not wait for a sort between ranges.
        SortKey[][] buffers = [new SortKey[capacity], ranges.Count > 1 ? new SortKey[capacity] : []];
        var pending = new Task?[ranges.Count];
        Task Ahead(int range) => Task.Factory.StartNew(() => CollectSorted(ranges[range], buffers[range % 2]),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            if (ranges.Count > 1) pending[1] = Ahead(1);
            CollectSorted(ranges[0], buffers[0]);
            for (int r = 0; r < ranges.Count; r++)
            {
                pending[r]?.GetAwaiter().GetResult();
                var keys = buffers[r % 2];
                for (int i = 0; i < ranges[r].Count; i++)
                {
                    int at = keys[i].Offset - _entriesOffset;
                    var raw = ReadCheckedEntryAt(ref at);
                    yield return Entry(raw, null);
                }
                if (r + 2 < ranges.Count) pending[r + 2] = Ahead(r + 2);
            }
        }
        finally
        {
            // A consumer that stops early (a refused CRL) leaves no sort running over the DER.
            foreach (var task in pending) ((IAsyncResult?)task)?.AsyncWaitHandle.WaitOne();
        }
    }

    /// <summary>The offsets and packed keys of one prefix range's entries (every entry checked), sorted by <see cref="KeyOrder"/>.</summary>
    private void CollectSorted((int Low, int High, int Count) range, SortKey[] keys)
    {
        int collected = 0;
        for (int at = 0; at < _entriesLength && collected < range.Count;)
        {
            int offset = _entriesOffset + at;
            ulong packed = Packed(SerialAt(_der, offset));
            int prefix = (int)(packed >> 48);
            if (prefix >= range.Low && prefix < range.High) keys[collected++] = new SortKey(packed, offset);
            DerUtil.TryReadHeader(_der.AsSpan(offset), out _, out int header, out long length);
            at += header + (int)length;
        }
        keys.AsSpan(0, collected).Sort(new KeyOrder(_der));
    }

    /// <summary>
    /// The checking walk of <see cref="EntriesInKeyOrder"/> on two cores: the first half of the entries here, the second
    /// on a thread of its own, each with the same full reader and a histogram of its own. Returns the entry count when
    /// every entry parsed and none needs file order (no certificateIssuer, no long serial); null when anything is
    /// amiss, and then nothing is kept: the one-core walk runs from the start and refuses (or falls back to file order)
    /// exactly as it always has, naming the first bad entry in the file.
    /// </summary>
    private int? CheckInHalves(int[] histogram)
    {
        if (_entriesLength < HalvesFrom) return null;
        // The first entry boundary at or past the middle, by headers alone (a header that does not add up: null).
        int mid = 0;
        while (mid < _entriesLength / 2)
        {
            var rest = _der.AsSpan(_entriesOffset + mid, _entriesLength - mid);
            if (rest[0] != 0x30 || !DerUtil.TryReadHeader(rest, out _, out int header, out long length) || header + length > rest.Length) return null;
            mid += header + (int)length;
        }
        if (mid >= _entriesLength) return null;
        var second = new int[histogram.Length];
        int? secondCount = null;
        var thread = new Thread(() =>
        {
            // Whatever goes wrong there, the one-core walk meets it again in its place.
            try
            {
                secondCount = CheckRange(mid, _entriesLength, second);
            }
            catch (Exception)
            {
                secondCount = null;
            }
        }) { IsBackground = true, Name = "crl check" };
        thread.Start();
        int? firstCount;
        try
        {
            firstCount = CheckRange(0, mid, histogram);
        }
        finally
        {
            thread.Join();
        }
        if (firstCount is null || secondCount is null)
        {
            Array.Clear(histogram);
            return null;
        }
        for (int i = 0; i < histogram.Length; i++) histogram[i] += second[i];
        return firstCount + secondCount;
    }

    /// <summary>Checks the entries from <paramref name="from"/> to <paramref name="to"/> into <paramref name="histogram"/>; their count, or null (see <see cref="CheckInHalves"/>).</summary>
    private int? CheckRange(int from, int to, int[] histogram)
    {
        int pos = from, count = 0;
        try
        {
            while (pos < to)
            {
                int start = pos;
                var raw = ReadEntryAt(ref pos);
                var serial = SerialAt(_der, _entriesOffset + start);
                if (raw.IssuerLength > 0 || serial.IsEmpty) return null;
                histogram[(int)(Packed(serial) >> 48)]++;
                count++;
            }
        }
        catch (CrlFormatException)
        {
            return null;
        }
        catch (AsnContentException)
        {
            return null;
        }
        return pos == to ? count : null;
    }

    /// <summary>Octets of entries from which <see cref="CheckInHalves"/> splits the check (below, one thread is as quick).</summary>
    private const int HalvesFrom = 64 * 1024;

    /// <summary>An entry as the store keys it: a negative serial's key has 00 before its contents.</summary>
    private CrlEntry Entry(in RawEntry raw, byte[]? issuer)
    {
        var serial = _der.AsMemory(raw.SerialOffset, raw.SerialLength);
        if (raw.Negative) serial = DerUtil.NegativeKey(serial.Span);
        return new CrlEntry(serial, raw.RevokedAt, raw.Reason, raw.InvalidityDate, issuer);
    }

    /// <summary>Into how many key ranges <see cref="EntriesInKeyOrder"/> cuts the entries (its offsets are 1/this of them).</summary>
    private const int KeyRanges = 4;

    /// <summary>
    /// The entries before <paramref name="pos"/> (already checked, none with a certificateIssuer), then the walk from
    /// there on in file order, counting from <paramref name="done"/>: all of <see cref="Entries"/> from 0, the tail of
    /// <see cref="EntriesInKeyOrder"/> when it meets an entry it cannot sort.
    /// </summary>
    private IEnumerable<CrlEntry> FileOrder(int pos, int done, bool checking)
    {
        for (int at = 0; at < pos;)
        {
            var raw = ReadCheckedEntryAt(ref at);
            yield return Entry(raw, null);
        }
        byte[]? issuer = null;
        bool hasIssuer = false;
        int count = done;
        while (checking ? pos < _entriesLength : count < EntryCount)
        {
            count++;
            var raw = checking ? CheckedEntryAt(ref pos, count) : ReadCheckedEntryAt(ref pos);
            if (raw.IssuerLength > 0)
            {
                issuer = _der.AsSpan(raw.IssuerOffset, raw.IssuerLength).ToArray();
                hasIssuer = true;
            }
            EntriesWalked = pos;
            yield return Entry(raw, issuer);
        }
        if (checking) (EntryCount, HasCertificateIssuer, EntriesChecked) = (count, hasIssuer, true);
    }

    /// <summary>
    /// The serial contents (short-form length) of the checked entry at <paramref name="offset"/>: after its SEQUENCE
    /// header, the INTEGER's tag and length. Empty when that length is not in short form.
    /// </summary>
    private static ReadOnlySpan<byte> SerialAt(byte[] der, int offset)
    {
        int length = der[offset + 1];
        int at = offset + 2 + (length < 0x80 ? 0 : length & 0x7F);
        int serialLength = der[at + 1];
        return serialLength < 0x80 ? der.AsSpan(at + 2, serialLength) : [];
    }

    /// <summary>
    /// The first 8 octets of a serial's stored key (00 and the contents for a negative one, the trimmed contents for
    /// any other), big-endian, 00 after a shorter key: monotone in <see cref="KeyOrder"/>, so two keys whose packed
    /// prefixes differ are ordered by them alone. Its top 16 bits are the histogram's prefix.
    /// </summary>
    private static ulong Packed(ReadOnlySpan<byte> serial)
    {
        var key = KeyOrder.Key(serial, out bool negative);
        Span<byte> first = stackalloc byte[8];
        first.Clear();
        if (negative) key[..Math.Min(7, key.Length)].CopyTo(first[1..]);
        else key[..Math.Min(8, key.Length)].CopyTo(first);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(first);
    }

    /// <summary>An entry's offset in the DER with its key's <see cref="Packed"/> prefix, as sorted by <see cref="KeyOrder"/>.</summary>
    private readonly record struct SortKey(ulong Prefix, int Offset);

    /// <summary>
    /// Orders entries by stored key: the trimmed serial, or 00 and the contents for a negative one (as
    /// <see cref="DerUtil.TrimSerial"/>), compared as memcmp then length; equal keys by offset, so the last of
    /// duplicates is still stored last. The packed prefixes decide first: only keys that share their first 8 octets
    /// (or are shorter and equal so far) are compared in the DER.
    /// </summary>
    private readonly struct KeyOrder(byte[] der) : IComparer<SortKey>
    {
        public int Compare(SortKey x, SortKey y)
        {
            if (x.Prefix != y.Prefix) return x.Prefix < y.Prefix ? -1 : 1;
            var a = Key(SerialAt(der, x.Offset), out bool negativeA);
            var b = Key(SerialAt(der, y.Offset), out bool negativeB);
            int order = negativeA == negativeB ? a.SequenceCompareTo(b) : negativeA ? Prefixed(a, b) : -Prefixed(b, a);
            return order != 0 ? order : x.Offset.CompareTo(y.Offset);
        }

        /// <summary>00 followed by <paramref name="negative"/>, compared with <paramref name="other"/>.</summary>
        private static int Prefixed(ReadOnlySpan<byte> negative, ReadOnlySpan<byte> other)
        {
            if (other[0] != 0) return -1;
            return negative.SequenceCompareTo(other[1..]);
        }

        /// <summary>The serial's key without the 00 a negative one has in front.</summary>
        public static ReadOnlySpan<byte> Key(ReadOnlySpan<byte> serial, out bool negative)
        {
            negative = DerUtil.IsNegative(serial);
            return negative ? serial : serial[DerUtil.TrimSerialOffset(serial)..];
        }
    }

    /// <summary>Whether every entry has been checked (always, but on a deferred parse whose entries are not yet walked).</summary>
    public bool EntriesChecked { get; private set; } = true;

    /// <summary>Octets of revokedCertificates the last <see cref="Entries"/> walk has passed, of <see cref="EntriesLength"/>.</summary>
    public int EntriesWalked { get; private set; }

    /// <summary>Octets of revokedCertificates' contents.</summary>
    public int EntriesLength => _entriesLength;

    /// <summary>Walks and checks every entry now, when a deferred parse has not yet (<see cref="EntriesChecked"/>).</summary>
    /// <exception cref="BadInputException">An entry does not parse; the reason names it.</exception>
    public void CheckEntries()
    {
        if (EntriesChecked) return;
        foreach (var _ in Entries()) { }
    }

    private RawEntry CheckedEntryAt(ref int pos, int number)
    {
        try
        {
            return ReadEntryAt(ref pos);
        }
        catch (CrlFormatException e)
        {
            throw EntryRefusal = new BadInputException(Source, $"{e.Message} (entry {number})");
        }
        catch (AsnContentException e)
        {
            throw EntryRefusal = new BadInputException(Source, $"malformed entry {number}: {e.Message}");
        }
    }

    /// <summary>The refusal of an entry a deferred walk found bad, or null.</summary>
    public BadInputException? EntryRefusal { get; private set; }

    /// <summary>
    /// Re-reads an entry a walk has already checked (<see cref="ReadEntry"/> passed on it): the common shapes (a short
    /// serial, a UTCTime, no extension or a reasonCode alone) straight from the octets, anything else through
    /// <see cref="ReadEntryAt"/>. Checks nothing, so only for checked entries; yields what <see cref="ReadEntry"/> does.
    /// </summary>
    private RawEntry ReadCheckedEntryAt(ref int pos)
    {
        var der = _der;
        int p = _entriesOffset + pos;
        int length = der[p + 1];
        p += 2;
        if (length >= 0x80)
        {
            int octets = length & 0x7F;
            if (octets > 2) return ReadEntryAt(ref pos);
            length = octets == 1 ? der[p] : (der[p] << 8) | der[p + 1];
            p += octets;
        }
        int end = p + length;
        // userCertificate INTEGER, short form (checked: present and not empty).
        int serialLength = der[p + 1];
        if (serialLength >= 0x80) return ReadEntryAt(ref pos);
        int serialOffset = p + 2;
        p = serialOffset + serialLength;
        // revocationDate as UTCTime YYMMDDHHMMSSZ (DER: seconds and Z present); GeneralizedTime goes the long way.
        if (der[p] != 0x17 || der[p + 1] != 13) return ReadEntryAt(ref pos);
        var time = der.AsSpan(p + 2, 12);
        static int Two(ReadOnlySpan<byte> digits, int at) => (digits[at] - '0') * 10 + (digits[at + 1] - '0');
        int year = Two(time, 0), month = Two(time, 2), day = Two(time, 4), hour = Two(time, 6), minute = Two(time, 8), second = Two(time, 10);
        // RFC 5280 4.1.2.5.1 as ReadTime reads it (twoDigitYearMax 2049): YY >= 50 means 19YY.
        year += year >= 50 ? 1900 : 2000;
        if (second > 59 || minute > 59 || hour > 23) return ReadEntryAt(ref pos);
        p += 15;
        var reason = RevocationReason.Unspecified;
        if (p < end)
        {
            // crlEntryExtensions holding one Extension: reasonCode (55 1D 15), critical or not, ENUMERATED of one octet.
            if (der[p + 1] >= 0x80 || p + 2 + der[p + 1] != end) return ReadEntryAt(ref pos);
            p += 2;
            if (der[p + 1] >= 0x80 || p + 2 + der[p + 1] != end) return ReadEntryAt(ref pos);
            p += 2;
            if (der[p] != 0x06 || der[p + 1] != 3 || der[p + 2] != 0x55 || der[p + 3] != 0x1D || der[p + 4] != 0x15) return ReadEntryAt(ref pos);
            p += 5;
            if (der[p] == 0x01) p += 3;
            if (p + 5 != end || der[p] != 0x04 || der[p + 1] != 3 || der[p + 2] != 0x0A || der[p + 3] != 1) return ReadEntryAt(ref pos);
            reason = (RevocationReason)(sbyte)der[p + 4];
        }
        var serial = der.AsSpan(serialOffset, serialLength);
        int trim = DerUtil.TrimSerialOffset(serial);
        pos = end - _entriesOffset;
        return new RawEntry(serialOffset + trim, serialLength - trim, new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero),
            reason, null, 0, 0, DerUtil.IsNegative(serial));
    }

    private RawEntry ReadEntryAt(ref int pos)
    {
        var list = new DerCursor(_der.AsSpan(_entriesOffset + pos, _entriesLength - pos), _entriesOffset + pos);
        var raw = ReadEntry(ref list, _der, Version);
        pos = list.Offset - _entriesOffset;
        return raw;
    }

    /// <summary>
    /// Checks that <paramref name="ca"/> issued this CRL: names match (DER or RFC 5280 matching), the CA may
    /// sign CRLs, and the signature verifies over the original TBS bytes with the CA's key.
    /// </summary>
    /// <exception cref="BadInputException">Any of the three fails; the reason says which.</exception>
    public void VerifySignedBy(ParsedCertificate ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        if (!Names.Match(IssuerDer, ca.SubjectDer))
        {
            throw new BadInputException(Source, $"issuer \"{Issuer}\" does not match CA \"{ca.Subject}\"");
        }
        if (ca.CanSignCrl == false)
        {
            throw new BadInputException(Source, $"CA \"{ca.Subject}\" may not sign CRLs (keyUsage lacks cRLSign)");
        }
        if (ca.KeyRefusal is { } refusal)
        {
            // Checked before any arithmetic: an unbounded key would cost seconds a signature.
            throw new BadInputException(Source, $"the key of CA \"{ca.Subject}\" is refused: {refusal}");
        }
        var verified = Signatures.TryVerifyNative(SignatureAlgorithmDer, Tbs.Span, Signature, ca.SubjectPublicKeyInfo);
        if (verified is null)
        {
            var key = ca.TryGetPublicKey()
                ?? throw new BadInputException(Source, $"cannot read the public key of \"{ca.Subject}\"");
            verified = Signatures.Verify(SignatureAlgorithmDer, Tbs.Span, Signature, key);
        }
        if (verified != true)
        {
            throw new BadInputException(Source, $"signature does not verify with the key of \"{ca.Subject}\" (algorithm {SignatureAlgorithm})");
        }
    }

    internal static ParsedCrl Parse(byte[] der, byte[] sha256, string source, bool deferEntries = false)
    {
        if (der.Length == 0 || der[0] != 0x30)
        {
            throw new BadInputException(source, "not a CRL: does not start with a DER SEQUENCE");
        }
        if (!DerUtil.TryReadHeader(der, out _, out int header, out long length))
        {
            throw new BadInputException(source, der.Length < 6 ? "truncated DER" : "not a CRL: bad DER length");
        }
        if (header + length > der.Length)
        {
            throw new BadInputException(source, $"truncated DER: the CRL claims {header + length} bytes, {der.Length} present");
        }
        if (header + length < der.Length)
        {
            throw new BadInputException(source, $"trailing garbage: {der.Length - header - length} bytes after the CRL");
        }

        string where = "CertificateList";
        try
        {
            var outer = new DerCursor(der, 0);
            var list = outer.ReadSequence("CertificateList");
            if (!list.NextIs(Asn1Tag.Sequence)) throw new CrlFormatException("not a CRL: no tbsCertList");
            var tbsEncoded = list.ReadEncoded(out int tbsOffset);
            where = "signatureAlgorithm";
            if (!list.NextIs(Asn1Tag.Sequence)) throw new CrlFormatException("not a CRL: no signatureAlgorithm");
            var outerAlgorithm = list.ReadEncoded(out _);
            where = "signatureValue";
            var signature = list.ReadBitString(out _);
            list.EnsureEnd("signatureValue");

            var crl = new ParsedCrl(der, tbsOffset, tbsEncoded.Length, source, sha256);
            crl.SignatureAlgorithmDer = outerAlgorithm.ToArray();
            crl.SignatureAlgorithm = Signatures.Name(outerAlgorithm);
            crl.Signature = signature.ToArray();

            where = "tbsCertList";
            var tbs = new DerCursor(tbsEncoded, tbsOffset).ReadSequence("tbsCertList");
            crl.Version = 1;
            if (tbs.NextIs(Asn1Tag.Integer))
            {
                where = "version";
                var version = tbs.ReadBigInteger();
                // RFC 5280 5.1.2.1: the field is present only in v2 CRLs, and then it is 1.
                if (version != 1)
                {
                    throw new CrlFormatException($"bad version: INTEGER {version} (a v2 CRL has 1, a v1 CRL omits it)");
                }
                crl.Version = 2;
            }
            where = "signature";
            if (!tbs.NextIs(Asn1Tag.Sequence)) throw new CrlFormatException("not a CRL: no signature AlgorithmIdentifier in tbsCertList");
            var innerAlgorithm = tbs.ReadEncoded(out _);
            Signatures.RequireSameAlgorithm(innerAlgorithm, outerAlgorithm, "tbsCertList");
            where = "issuer";
            if (!tbs.NextIs(Asn1Tag.Sequence)) throw new CrlFormatException("not a CRL: no issuer Name");
            crl.IssuerDer = tbs.ReadEncoded(out _).ToArray();
            crl.Issuer = Names.ToText(crl.IssuerDer);
            where = "thisUpdate";
            if (!tbs.HasData) throw new CrlFormatException("not a CRL: no thisUpdate");
            crl.ThisUpdate = tbs.ReadTime("thisUpdate");
            where = "nextUpdate";
            if (tbs.NextIs(Asn1Tag.UtcTime) || tbs.NextIs(Asn1Tag.GeneralizedTime))
            {
                crl.NextUpdate = tbs.ReadTime("nextUpdate");
                // RFC 5280 5.1.2.5: the next issue is due after this one; a nextUpdate before thisUpdate is a
                // broken or forged CRL, and taken it would read as stale or (by clock skew) current.
                if (crl.NextUpdate < crl.ThisUpdate)
                    throw new CrlFormatException($"nextUpdate {TimeText.Utc(crl.NextUpdate.Value)} is before thisUpdate {TimeText.Utc(crl.ThisUpdate)}");
            }
            where = "revokedCertificates";
            if (tbs.NextIs(Asn1Tag.Sequence))
            {
                var entries = tbs.ReadSequence("revokedCertificates");
                if (deferEntries)
                {
                    (crl._entriesOffset, crl._entriesLength, crl.EntriesChecked) = (entries.Offset, entries.Remaining, false);
                }
                else
                {
                    crl.ValidateEntries(ref entries);
                }
            }
            where = "crlExtensions";
            if (tbs.NextIs(Context0))
            {
                if (crl.Version == 1) throw new CrlFormatException("v1 CRL must not have extensions");
                var wrapper = tbs.ReadConstructed(Context0, "crlExtensions");
                var extensions = wrapper.ReadSequence("crlExtensions");
                wrapper.EnsureEnd("crlExtensions");
                crl.ReadExtensions(ref extensions);
            }
            if (tbs.HasData)
            {
                throw new CrlFormatException($"unexpected {DescribeTag(tbs.PeekTag())} at the end of tbsCertList");
            }
            return crl;
        }
        catch (CrlFormatException e)
        {
            throw new BadInputException(source, e.Message);
        }
        catch (AsnContentException e)
        {
            throw new BadInputException(source, $"malformed DER in {where}: {e.Message}");
        }
    }

    private void ValidateEntries(ref DerCursor entries)
    {
        _entriesOffset = entries.Offset;
        _entriesLength = entries.Remaining;
        int count = 0;
        while (entries.HasData)
        {
            count++;
            try
            {
                if (ReadEntry(ref entries, _der, Version).IssuerLength > 0) HasCertificateIssuer = true;
            }
            catch (CrlFormatException e)
            {
                throw new CrlFormatException($"{e.Message} (entry {count})");
            }
            catch (AsnContentException e)
            {
                throw new CrlFormatException($"malformed entry {count}: {e.Message}");
            }
        }
        EntryCount = count;
    }

    private readonly record struct RawEntry(
        int SerialOffset, int SerialLength, DateTimeOffset RevokedAt, RevocationReason Reason,
        DateTimeOffset? InvalidityDate, int IssuerOffset, int IssuerLength, bool Negative);

    private static RawEntry ReadEntry(ref DerCursor list, ReadOnlySpan<byte> der, int version)
    {
        var entry = list.ReadSequence("revokedCertificate");
        var serial = entry.ReadPrimitive(Asn1Tag.Integer, "userCertificate", out int serialOffset);
        if (serial.IsEmpty) throw new CrlFormatException("empty serial number");
        int trim = DerUtil.TrimSerialOffset(serial);
        if (!entry.HasData) throw new CrlFormatException("entry has no revocationDate");
        var revokedAt = entry.ReadTime("revocationDate");
        var reason = RevocationReason.Unspecified;
        DateTimeOffset? invalidity = null;
        int issuerOffset = 0, issuerLength = 0;
        if (entry.HasData)
        {
            if (version == 1) throw new CrlFormatException("v1 CRL entry must not have extensions");
            var extensions = entry.ReadSequence("crlEntryExtensions");
            entry.EnsureEnd("crlEntryExtensions");
            // Offsets of the OIDs seen so far in this entry, to refuse duplicates (RFC 5280 4.2) without allocating.
            Span<int> seen = stackalloc int[32];
            int seenCount = 0;
            while (extensions.HasData)
            {
                var extension = extensions.ReadSequence("Extension");
                int oidOffset = extension.Offset;
                var oid = extension.ReadObjectIdentifierBytes();
                bool critical = extension.NextIs(Asn1Tag.Boolean) && extension.ReadBoolean();
                var value = extension.ReadOctetString(out int valueOffset);
                extension.EnsureEnd("extnValue");
                for (int i = 0; i < seenCount; i += 2)
                {
                    if (der.Slice(seen[i], seen[i + 1]).SequenceEqual(oid))
                    {
                        throw new CrlFormatException($"duplicate entry extension {OidText(oid)}");
                    }
                }
                if (seenCount == seen.Length) throw new CrlFormatException("more than 16 extensions on one entry");
                seen[seenCount++] = oidOffset + 2;
                seen[seenCount++] = oid.Length;

                switch (IdCe(oid))
                {
                    case 0x15: // reasonCode
                        reason = ReadReason(value);
                        break;
                    case 0x18: // invalidityDate
                        var time = new DerCursor(value, valueOffset);
                        invalidity = time.ReadTime("invalidityDate");
                        time.EnsureEnd("invalidityDate");
                        break;
                    case 0x1D: // certificateIssuer
                        (issuerOffset, issuerLength) = ReadCertificateIssuer(value, valueOffset);
                        break;
                    case 0x17: // holdInstructionCode
                        var hold = new DerCursor(value, valueOffset);
                        hold.ReadObjectIdentifierBytes();
                        hold.EnsureEnd("holdInstructionCode");
                        break;
                    default:
                        if (critical) throw new CrlFormatException($"unknown critical entry extension {OidText(oid)}");
                        break;
                }
            }
        }
        return new RawEntry(serialOffset + trim, serial.Length - trim, revokedAt, reason, invalidity, issuerOffset, issuerLength, DerUtil.IsNegative(serial));
    }

    private static RevocationReason ReadReason(ReadOnlySpan<byte> value)
    {
        var bytes = AsnDecoder.ReadEnumeratedBytes(value, AsnEncodingRules.DER, out int consumed);
        if (consumed != value.Length) throw new CrlFormatException("unexpected data after reasonCode");
        int code = bytes.Length > 2 ? -1 : bytes.Length == 1 ? (sbyte)bytes[0] : (short)((bytes[0] << 8) | bytes[1]);
        if (!RevocationReasons.IsDefined(code))
        {
            throw new CrlFormatException($"unsupported reason code {(code < 0 && bytes.Length > 2 ? Convert.ToHexStringLower(bytes) : code)}");
        }
        return (RevocationReason)code;
    }

    private static (int Offset, int Length) ReadCertificateIssuer(ReadOnlySpan<byte> value, int valueOffset)
    {
        var directoryName = new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true);
        try
        {
            var outer = new DerCursor(value, valueOffset);
            var names = outer.ReadSequence("GeneralNames");
            outer.EnsureEnd("GeneralNames");
            while (names.HasData)
            {
                if (names.NextIs(directoryName))
                {
                    // directoryName is EXPLICIT because Name is a CHOICE (RFC 5280 appendix A.2).
                    var wrapper = names.ReadConstructed(directoryName, "directoryName");
                    if (!wrapper.NextIs(Asn1Tag.Sequence)) throw new AsnContentException("directoryName is not a Name");
                    var name = wrapper.ReadEncoded(out int offset);
                    return (offset, name.Length);
                }
                names.ReadEncoded(out _);
            }
        }
        catch (AsnContentException)
        {
            throw new CrlFormatException("invalid certificateIssuer entry extension");
        }
        throw new CrlFormatException("certificateIssuer entry extension has no directoryName");
    }

    private void ReadExtensions(ref DerCursor extensions)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence("Extension");
            var oid = extension.ReadObjectIdentifierBytes();
            bool critical = extension.NextIs(Asn1Tag.Boolean) && extension.ReadBoolean();
            var value = extension.ReadOctetString(out int valueOffset);
            extension.EnsureEnd("extnValue");
            var name = OidText(oid);
            if (!seen.Add(name)) throw new CrlFormatException($"duplicate CRL extension {name}");
            var reader = new DerCursor(value, valueOffset);
            try
            {
                switch (IdCe(oid))
                {
                    case 0x14: // cRLNumber
                        Number = ReadCrlNumber(ref reader, "cRLNumber");
                        break;
                    case 0x1B: // deltaCRLIndicator
                        DeltaBaseNumber = ReadCrlNumber(ref reader, "deltaCRLIndicator");
                        break;
                    case 0x23: // authorityKeyIdentifier
                        var aki = reader.ReadSequence("authorityKeyIdentifier");
                        var keyId = new Asn1Tag(TagClass.ContextSpecific, 0);
                        if (aki.NextIs(keyId)) AuthorityKeyId = aki.ReadPrimitive(keyId, "keyIdentifier", out _).ToArray();
                        break;
                    case 0x1C: // issuingDistributionPoint
                        DistributionPoint = ReadDistributionPoint(ref reader, IssuerDer);
                        break;
                    case 0x3C: // expiredCertsOnCRL: GeneralizedTime per X.509, UTCTime seen in the wild
                        ExpiredCertsOnCrl = reader.ReadTime("expiredCertsOnCRL");
                        break;
                    case 0x2E: // freshestCRL
                    case 0x12: // issuerAltName
                        reader.ReadSequence(name);
                        break;
                    default:
                        if (oid.SequenceEqual(AuthorityInfoAccess))
                        {
                            reader.ReadSequence(name);
                            break;
                        }
                        if (critical) throw new CrlFormatException($"unknown critical CRL extension {name}");
                        continue; // RFC 5280 5.2: a non-critical extension we do not know is ignored

                }
                reader.EnsureEnd(name);
            }
            catch (AsnContentException e)
            {
                throw new CrlFormatException($"invalid CRL extension {name}: {e.Message}");
            }
        }
    }

    /// <summary>RFC 5280 5.2.3: CRL numbers are at most 20 octets.</summary>
    private const int MaxCrlNumberOctets = 20;

    private static BigInteger ReadCrlNumber(ref DerCursor reader, string what)
    {
        var number = reader.ReadBigInteger();
        // RFC 5280 5.2.3: CRLNumber ::= INTEGER (0..MAX), and no longer than 20 octets: a longer one would
        // lock the series (nothing after it can be greater and still conform).
        if (number.Sign < 0) throw new CrlFormatException($"{what} is negative");
        if (number.GetByteCount() > MaxCrlNumberOctets)
            throw new CrlFormatException($"{what} is {number.GetByteCount()} octets long; RFC 5280 allows at most {MaxCrlNumberOctets}");
        return number;
    }

    private static IssuingDistributionPoint ReadDistributionPoint(ref DerCursor reader, byte[] issuer)
    {
        var der = reader.ReadEncoded(out _).ToArray();
        var outer = new DerCursor(der, 0);
        var idp = outer.ReadSequence("issuingDistributionPoint");
        byte[]? pointName = null;
        var names = new List<string>();
        bool relative = false;
        var point = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
        if (idp.NextIs(point))
        {
            var dp = idp.ReadConstructed(point, "distributionPoint");
            // DistributionPointName is a CHOICE, so [0] is explicit: its content is the whole name (RFC 5280 appendix A.2).
            pointName = dp.HasData ? dp.PeekEncoded().ToArray() : null;
            var fullName = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
            var relativeName = new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true);
            if (dp.NextIs(fullName))
            {
                var general = dp.ReadConstructed(fullName, "fullName");
                var uri = new Asn1Tag(TagClass.ContextSpecific, 6);
                while (general.HasData)
                {
                    if (general.NextIs(uri)) names.Add(Encoding.ASCII.GetString(general.ReadPrimitive(uri, "uniformResourceIdentifier", out _)));
                    else general.ReadEncoded(out _);
                }
            }
            else
            {
                dp.ReadConstructed(relativeName, "nameRelativeToCRLIssuer");
                relative = true;
            }
            dp.EnsureEnd("distributionPoint");
        }
        bool Flag(ref DerCursor c, int number)
        {
            var tag = new Asn1Tag(TagClass.ContextSpecific, number);
            return c.NextIs(tag) && c.ReadBoolean(tag);
        }
        bool onlyUser = Flag(ref idp, 1);
        bool onlyCa = Flag(ref idp, 2);
        HashSet<RevocationReason>? reasons = null;
        var someReasons = new Asn1Tag(TagClass.ContextSpecific, 3);
        if (idp.NextIs(someReasons))
        {
            var bits = idp.ReadBitString(out _, someReasons);
            reasons = [];
            // ReasonFlags bit n (RFC 5280 4.2.1.13) is CRLReason n, except privilegeWithdrawn (7 -> 9) and aACompromise (8 -> 10).
            for (int bit = 1; bit <= 8; bit++)
            {
                int octet = bit / 8;
                if (octet < bits.Length && (bits[octet] & (0x80 >> (bit % 8))) != 0)
                {
                    reasons.Add(bit switch { 7 => RevocationReason.PrivilegeWithdrawn, 8 => RevocationReason.AaCompromise, _ => (RevocationReason)bit });
                }
            }
        }
        bool indirect = Flag(ref idp, 4);
        bool onlyAttribute = Flag(ref idp, 5);
        idp.EnsureEnd("issuingDistributionPoint");
        // Stored whole, as certificates store theirs: a relative name is appended to this CRL's issuer (RFC 5280 5.2.5).
        return new IssuingDistributionPoint(der, pointName is null ? null : DistributionPoints.PointNames(Names.WholePointName(pointName, issuer)), names, relative, onlyUser, onlyCa, onlyAttribute, indirect, reasons);
    }

    private static ReadOnlySpan<byte> AuthorityInfoAccess => [0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];

    /// <summary>The last arc of an id-ce OID (2.5.29.x, content 55 1D x), or -1 for any other OID.</summary>
    private static int IdCe(ReadOnlySpan<byte> oid) => oid.Length == 3 && oid[0] == 0x55 && oid[1] == 0x1D ? oid[2] : -1;

    private static string OidText(ReadOnlySpan<byte> content)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteEncodedValue([0x06, .. EncodeLength(content.Length), .. content]);
        try
        {
            return AsnDecoder.ReadObjectIdentifier(writer.Encode(), AsnEncodingRules.DER, out _);
        }
        catch (AsnContentException)
        {
            return Convert.ToHexStringLower(content);
        }
    }

    private static byte[] EncodeLength(int length) => length < 0x80
        ? [(byte)length]
        : length < 0x100 ? [0x81, (byte)length] : [0x82, (byte)(length >> 8), (byte)length];

    private static string DescribeTag(Asn1Tag tag) => tag.TagClass == TagClass.Universal
        ? ((UniversalTagNumber)tag.TagValue).ToString()
        : $"[{tag.TagValue}]";
}
