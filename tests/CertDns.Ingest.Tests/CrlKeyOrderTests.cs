using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CertDns.Core;
using CertDns.Pki;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CertDns.Ingest.Tests;

/// <summary>
/// A CRL's entries are stored in key order (issue #17: the B-tree takes them at its right edge), which must change
/// nothing stored: the revocations table after an ingest holds exactly the CRL's entries, the last of duplicates,
/// negative and zero serials apart from positive ones, removeFromCRL left out, whatever order the file has them in.
/// </summary>
public sealed class CrlKeyOrderTests : IDisposable
{
    private readonly StoreFile _store = new();
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _ca;

    public CrlKeyOrderTests()
    {
        var request = new CertificateRequest("CN=Key Order CA", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        using var store = _store.Open();
        new CaRegistry(store).Add("ca", _ca.RawData, [], null);
    }

    public void Dispose()
    {
        _store.Dispose();
        _caKey.Dispose();
        _ca.Dispose();
    }

    [Fact]
    public void Ingest_EntriesInRandomOrder_TableHoldsExactlyTheCrlsEntriesInKeyOrder()
    {
        var entries = Mixed();
        using (var store = _store.Open())
        {
            var result = new CrlIngestor(store).Ingest("crl", Crl(entries));
            Assert.Equal(entries.Count, result.Entries);
        }

        var expected = entries.Select((e, i) => (Key: Key(e.Serial), e.RevokedAt, e.Reason, Index: i))
            .Where(e => e.Reason != (int)RevocationReason.RemoveFromCrl)
            .GroupBy(e => Convert.ToHexString(e.Key)).Select(g => g.MaxBy(e => e.Index))
            .OrderBy(e => e.Key, BlobOrder.Instance)
            .Select(e => $"{Convert.ToHexString(e.Key)} {e.RevokedAt} {e.Reason}").ToList();
        Assert.Equal(expected, StoredRows());
    }

    [Fact]
    public void EntriesInKeyOrder_RandomOrder_SortedByStoredKeyDuplicatesInFileOrder()
    {
        var entries = Mixed();
        var crl = CrlFile.ParseDeferred(Crl(entries), "crl");

        var walked = crl.EntriesInKeyOrder().Select(e => $"{Convert.ToHexString(e.Serial.Span)} {e.RevokedAt.ToUnixTimeSeconds()} {(int)e.Reason}").ToList();

        var expected = entries.Select((e, i) => (Key: Key(e.Serial), e.RevokedAt, e.Reason, Index: i))
            .OrderBy(e => e.Key, BlobOrder.Instance).ThenBy(e => e.Index)
            .Select(e => $"{Convert.ToHexString(e.Key)} {e.RevokedAt} {e.Reason}").ToList();
        Assert.Equal(expected, walked);
        Assert.True(crl.EntriesChecked);
        Assert.Equal(entries.Count, crl.EntryCount);
    }

    [Fact]
    public void EntriesInKeyOrder_BadEntry_RefusedNamingItsPlaceInTheFile()
    {
        var entries = Mixed();
        entries[1234] = entries[1234] with { Reason = 7 };
        var crl = CrlFile.ParseDeferred(Crl(entries), "crl");

        var e = Assert.Throws<BadInputException>(() => crl.EntriesInKeyOrder().ToList());

        Assert.Equal("unsupported reason code 7 (entry 1235)", e.Reason);
    }

    [Fact]
    public void Ingest_SameCrlAsFirstOrAsReplacement_SameStoredRows()
    {
        // The first CRL of a series goes straight into the table in key order (triggers off); a later one is applied
        // as a difference through a temporary table. The same CRL must leave the same revocations either way.
        var entries = Mixed();
        using (var store = _store.Open()) new CrlIngestor(store).Ingest("crl", Crl(entries));

        using var other = new StoreFile();
        using (var store = other.Open())
        {
            new CaRegistry(store).Add("ca", _ca.RawData, [], null);
            var older = entries.Take(1_000).Select((e, i) => e with { Reason = (e.Reason + 1) % 7, RevokedAt = e.RevokedAt - i })
                .Concat(Enumerable.Range(0, 500).Select(i => new Entry(new BigInteger(5_000_000 + i), 1_650_000_000, 1))).ToList();
            new CrlIngestor(store).Ingest("crl-1", Crl(older, number: 1));
            var result = new CrlIngestor(store).Ingest("crl-2", Crl(entries, number: 2));
            Assert.True(result.Change!.Removed >= 500);
        }

        Assert.Equal(StoredRows(), StoredRows(other.Path));
    }

    [Theory]
    [InlineData(2900)]
    [InlineData(100)]
    public void EntriesInKeyOrder_BadEntryInTheSecondHalf_RefusedNamingItsPlaceInTheFile(int bad)
    {
        // The check runs in two halves on two cores; with a bad entry in the second half (and one in the first or not)
        // the refusal still names the first in the file.
        var entries = Mixed();
        entries[bad] = entries[bad] with { Reason = 7 };
        entries[3000] = entries[3000] with { Reason = 7 };
        var crl = CrlFile.ParseDeferred(Crl(entries), "crl");

        var e = Assert.Throws<BadInputException>(() => crl.EntriesInKeyOrder().ToList());

        Assert.Equal($"unsupported reason code 7 (entry {bad + 1})", e.Reason);
    }

    [Fact]
    public void Entries_WalkedAgainAfterTheCheck_SameEntriesAsTheCheckingWalk()
    {
        // The first walk of a deferred parse checks each entry with the full reader; later walks re-read the common
        // shapes from the octets: every shape Mixed has must read back the same (times at both ends of UTCTime's range too).
        var crl = CrlFile.ParseDeferred(Crl(Mixed()), "crl");

        var checking = crl.EntriesChecked ? null : crl.Entries().Select(Text).ToList();
        var again = crl.Entries().Select(Text).ToList();

        Assert.NotNull(checking);
        Assert.Equal(checking, again);
        Assert.Contains(again, e => e.Contains(" -631152000 ", StringComparison.Ordinal));
        Assert.Contains(again, e => e.Contains(" 2524607999 ", StringComparison.Ordinal));
    }

    private static string Text(CrlEntry e) =>
        $"{Convert.ToHexString(e.Serial.Span)} {e.RevokedAt.ToUnixTimeSeconds()} {e.RevokedAt.Offset} {(int)e.Reason} {e.InvalidityDate?.ToUnixTimeSeconds()} {e.CertificateIssuerDer?.Length}";

    /// <summary>An entry of the test CRL; <paramref name="Shape"/> picks its encoding (see <see cref="Crl"/>).</summary>
    private sealed record Entry(BigInteger Serial, long RevokedAt, int Reason, int Shape = 0);

    /// <summary>
    /// 3,000 serials of 1 to 20 octets in random order, several repeated later with another time and reason, -1 and
    /// 255 (keys 00 ff and ff), -256, zero, and removeFromCRL entries (which a full CRL does not store).
    /// </summary>
    private static List<Entry> Mixed()
    {
        var random = new Random(17);
        var entries = new List<Entry>();
        for (int i = 0; i < 3_000; i++)
        {
            var bytes = new byte[random.Next(1, 21)];
            random.NextBytes(bytes);
            bytes[0] &= 0x7F;
            entries.Add(new Entry(new BigInteger(bytes, isUnsigned: true, isBigEndian: true), 1_700_000_000 + random.Next(1_000_000), random.Next(0, 7), random.Next(0, Shapes)));
        }
        entries.AddRange([new(-1, 1_700_000_001, 1), new(255, 1_700_000_002, 2), new(-256, 1_700_000_003, 3), new(0, 1_700_000_004, 4)]);
        // Keys equal in their first 8 octets, and keys that are prefixes of others (01, 01 00, 01 00 00, ...).
        for (int i = 0; i < 12; i++) entries.Add(new Entry(BigInteger.Pow(256, i), 1_700_000_200 + i, i % 7));
        for (int i = 0; i < 12; i++) entries.Add(new Entry(BigInteger.Parse("0123456789ABCDEF00", System.Globalization.NumberStyles.HexNumber) * BigInteger.Pow(256, i % 4) + i, 1_700_000_300 + i, 1));
        // UTCTime's first and last second (RFC 5280 4.1.2.5.1: 1950 to 2049).
        entries.AddRange([new(77_777, -631_152_000, 1), new(77_778, 2_524_607_999, 2)]);
        for (int i = 0; i < 50; i++) entries.Add(entries[i * 37] with { RevokedAt = 1_600_000_000 + i, Reason = 1 + i % 5 });
        for (int i = 0; i < 20; i++) entries.Add(new Entry(new BigInteger(1_000_000 + i), 1_700_000_100, (int)RevocationReason.RemoveFromCrl));
        entries.Add(entries[5] with { Reason = (int)RevocationReason.RemoveFromCrl });
        return [.. entries.OrderBy(_ => random.Next())];
    }

    /// <summary>How many encodings <see cref="Crl"/> has for an entry.</summary>
    private const int Shapes = 6;

    /// <summary>The key the store keeps (DerUtil.TrimSerial): the minimal big-endian octets, 00 before a negative's.</summary>
    private static byte[] Key(BigInteger serial)
    {
        var contents = serial.ToByteArray(isUnsigned: false, isBigEndian: true);
        if (serial.Sign < 0) return [0x00, .. contents];
        return contents.Length > 1 && contents[0] == 0 ? contents[1..] : contents;
    }

    /// <summary>SQLite's order of blobs: memcmp over the shorter length, then the shorter first.</summary>
    private sealed class BlobOrder : IComparer<byte[]>
    {
        public static readonly BlobOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y)
        {
            for (int i = 0; i < Math.Min(x!.Length, y!.Length); i++)
                if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
            return x.Length.CompareTo(y.Length);
        }
    }

    private List<string> StoredRows(string? path = null)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path ?? _store.Path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        db.Open();
        return db.Query<(byte[] Serial, long RevokedAt, long Reason)>("SELECT serial, revoked_at, reason FROM revocations ORDER BY scope_id, delta, ca_id, serial;")
            .Select(r => $"{Convert.ToHexString(r.Serial)} {r.RevokedAt} {r.Reason}").ToList();
    }

    private byte[] Crl(List<Entry> entries, int number = 1)
    {
        var now = DateTimeOffset.UtcNow;
        var tbs = new AsnWriter(AsnEncodingRules.DER);
        using (tbs.PushSequence())
        {
            tbs.WriteInteger(1);
            using (tbs.PushSequence()) tbs.WriteObjectIdentifier("1.2.840.10045.4.3.2");
            tbs.WriteEncodedValue(_ca.SubjectName.RawData);
            tbs.WriteUtcTime(now.AddMinutes(-5));
            tbs.WriteUtcTime(now.AddDays(7));
            using (tbs.PushSequence())
            {
                foreach (var e in entries)
                {
                    using (tbs.PushSequence())
                    {
                        tbs.WriteInteger(e.Serial);
                        var revokedAt = DateTimeOffset.FromUnixTimeSeconds(e.RevokedAt);
                        if (e.Shape == 1) tbs.WriteGeneralizedTime(revokedAt, omitFractionalSeconds: true);
                        else tbs.WriteUtcTime(revokedAt);
                        // 0, 1: reasonCode alone; 2: critical reasonCode; 3: reasonCode, invalidityDate; 4: invalidityDate,
                        // reasonCode; 5: holdInstructionCode, reasonCode. No extension list when there is nothing in it.
                        if (e.Reason == 0 && e.Shape is not (3 or 4 or 5)) continue;
                        using (tbs.PushSequence())
                        {
                            if (e.Shape == 4) Invalidity(tbs, revokedAt);
                            if (e.Shape == 5)
                            {
                                using (tbs.PushSequence())
                                {
                                    tbs.WriteObjectIdentifier("2.5.29.23");
                                    var hold = new AsnWriter(AsnEncodingRules.DER);
                                    hold.WriteObjectIdentifier("1.2.840.10040.2.2");
                                    tbs.WriteOctetString(hold.Encode());
                                }
                            }
                            if (e.Reason != 0)
                            {
                                using (tbs.PushSequence())
                                {
                                    tbs.WriteObjectIdentifier("2.5.29.21");
                                    if (e.Shape == 2) tbs.WriteBoolean(true);
                                    tbs.WriteOctetString([0x0A, 0x01, (byte)e.Reason]);
                                }
                            }
                            if (e.Shape == 3) Invalidity(tbs, revokedAt);
                        }
                    }
                }
            }
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
            using (tbs.PushSequence())
            using (tbs.PushSequence())
            {
                tbs.WriteObjectIdentifier("2.5.29.20");
                var crlNumber = new AsnWriter(AsnEncodingRules.DER);
                crlNumber.WriteInteger(number);
                tbs.WriteOctetString(crlNumber.Encode());
            }
        }
        var signed = tbs.Encode();

        static void Invalidity(AsnWriter tbs, DateTimeOffset at)
        {
            using (tbs.PushSequence())
            {
                tbs.WriteObjectIdentifier("2.5.29.24");
                var time = new AsnWriter(AsnEncodingRules.DER);
                time.WriteGeneralizedTime(at.AddDays(-1), omitFractionalSeconds: true);
                tbs.WriteOctetString(time.Encode());
            }
        }
        var outer = new AsnWriter(AsnEncodingRules.DER);
        using (outer.PushSequence())
        {
            outer.WriteEncodedValue(signed);
            using (outer.PushSequence()) outer.WriteObjectIdentifier("1.2.840.10045.4.3.2");
            outer.WriteBitString(_caKey.SignData(signed, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }
        return outer.Encode();
    }
}
