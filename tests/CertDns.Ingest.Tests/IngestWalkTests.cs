using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest.Tests;

/// <summary>
/// Ingestion checks the entries in the same walk that stores them, the CRL signature on another core meanwhile, and
/// certificates on every core: a refusal found after thousands of rows are inserted must still change nothing.
/// </summary>
public sealed class IngestWalkTests : IDisposable
{
    private const int Entries = 50_000;
    private readonly StoreFile _store = new();
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _ca;

    public IngestWalkTests()
    {
        var request = new CertificateRequest("CN=Walk CA", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        using var store = _store.Open();
        new CaRegistry(store).Add("ca", _ca.RawData, [], null);
        // A stored series, so a refused CRL has something to leave intact.
        new CrlIngestor(store).Ingest("crl-1", Crl(1, 10, _caKey));
    }

    public void Dispose()
    {
        _store.Dispose();
        _caKey.Dispose();
        _ca.Dispose();
    }

    [Fact]
    public void Ingest_SignedCrlWithBadLastEntry_RefusedNamingItAndStoreUnchanged()
    {
        var e = Refused(Crl(2, Entries, _caKey, badLast: true));

        Assert.Equal($"unsupported reason code 7 (entry {Entries})", e.Reason);
    }

    [Fact]
    public void Ingest_LargeCrlSignedByAnotherKey_RefusedAndStoreUnchanged()
    {
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var e = Refused(Crl(2, Entries, other));

        Assert.StartsWith("signature does not verify", e.Reason);
    }

    [Fact]
    public void Ingest_ForgedRollBack_RefusedForItsSignature()
    {
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var e = Refused(Crl(0, Entries, other));

        Assert.StartsWith("signature does not verify", e.Reason);
    }

    [Fact]
    public void Ingest_BadEntryAndWrongKey_EntryReportedAsAFullParseWould()
    {
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var e = Refused(Crl(2, Entries, other, badLast: true));

        Assert.Equal($"unsupported reason code 7 (entry {Entries})", e.Reason);
    }

    [Fact]
    public void Ingest_LargeCrl_EveryEntryStoredWithItsReason()
    {
        using var store = _store.Open();
        var result = new CrlIngestor(store).Ingest("crl-2", Crl(2, Entries, _caKey));

        Assert.Equal(Entries, result.Entries);
        Assert.Equal(Entries, store.Crls.RevocationCount(result.Ca.Id));
        Assert.Equal(RevocationReason.KeyCompromise, store.Crls.FindRevocation(result.Ca.Id, Serial(Entries - 1))?.Reason);
        Assert.Null(store.Crls.FindRevocation(result.Ca.Id, Serial(Entries)));
    }

    [Fact]
    public void Add_ManyCertificatesWithForgedAndGarbage_NothingStoredRefusalsInInputOrder()
    {
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var inputs = Enumerable.Range(0, 2_000).Select(i => ($"c{i}", Leaf(i, i == 1_500 ? forger : _caKey))).ToList();
        inputs.Insert(700, ("garbage", "not a certificate"u8.ToArray()));
        using var store = _store.Open();
        var before = store.Certificates.Count();

        var result = new CertificateRegistry(store).Add(inputs);

        Assert.False(result.Stored);
        Assert.Equal(inputs.Select(i => i.Item1), result.Outcomes.Select(o => o.Source));
        Assert.Equal(["garbage", "c1500"], result.Outcomes.Where(o => o.Refusal is not null).Select(o => o.Source));
        Assert.StartsWith("signature does not verify", result.Outcomes.Single(o => o.Source == "c1500").Refusal);
        Assert.Equal(before, store.Certificates.Count());
    }

    [Fact]
    public void Add_ManyCertificates_AllStoredUnderTheCa()
    {
        var inputs = Enumerable.Range(0, 2_000).Select(i => ($"c{i}", Leaf(i, _caKey))).ToList();
        using var store = _store.Open();

        var result = new CertificateRegistry(store).Add(inputs);

        Assert.True(result.Stored);
        Assert.Equal(2_000, result.Added);
        var first = CertificateFile.Read(inputs[0].Item2, "c0")[0];
        Assert.Equal(Hex.Lower(first.Sha256), Hex.Lower(store.Certificates.Find(first.Sha256)!.Sha256));
    }

    [Fact]
    public void Add_MoreInputsThanVerifiedAheadWithTheLastForged_NothingStoredEveryOutcomeInInputOrder()
    {
        // Past what the verifiers may run ahead of the consumer (64 chunks of 64): the workers wait for it, and their
        // results are dropped as it goes, before the forged last one is reached.
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        const int Count = 4_200;
        var inputs = Enumerable.Range(0, Count).Select(i => ($"c{i}", Leaf(i, i == Count - 1 ? forger : _caKey))).ToList();
        // A bundle of two: its certificates are named by their position.
        inputs.Insert(10, ("bundle", [.. Leaf(Count, _caKey), .. Leaf(Count + 1, _caKey)]));
        using var store = _store.Open();
        var before = store.Certificates.Count();
        uint serial = store.Serial;

        var result = new CertificateRegistry(store).Add(inputs);

        Assert.False(result.Stored);
        Assert.Equal(0, result.Added);
        Assert.Equal(Count + 2, result.Outcomes.Count);
        Assert.Equal(["c9", "bundle#1", "bundle#2", "c10"], result.Outcomes.Skip(9).Take(4).Select(o => o.Source));
        Assert.Equal([$"c{Count - 1}"], result.Outcomes.Where(o => o.Refusal is not null).Select(o => o.Source));
        Assert.Equal(before, store.Certificates.Count());
        Assert.Equal(serial, store.Serial);
    }

    [Fact]
    public void Add_FromAReader_InputsReadAsVerifiedNotAllUpFront()
    {
        const int Count = 12_000, Window = 64 * 64;
        var leaf = Leaf(0, _caKey);
        int furthest = -1;
        using var pastTheWindow = new ManualResetEventSlim();
        var readAheadWhenReported = new List<int>();
        using var store = _store.Open();

        var result = new CertificateRegistry(store).Add(
            Enumerable.Range(0, Count).Select(i => $"c{i}").ToList(),
            i =>
            {
                int seen;
                while ((seen = Volatile.Read(ref furthest)) < i && Interlocked.CompareExchange(ref furthest, i, seen) != seen) { }
                if (i >= 2 * Window) pastTheWindow.Set();
                return leaf;
            },
            (done, total) =>
            {
                // The consumer held at its first report: the readers go as far as they may. Only a reader with no
                // bound gets past twice the window, so the wait runs out, bounded, when all is well.
                if (readAheadWhenReported.Count == 0) pastTheWindow.Wait(TimeSpan.FromSeconds(2));
                readAheadWhenReported.Add(Volatile.Read(ref furthest) - done);
            });

        Assert.True(result.Stored);
        Assert.Equal(1, result.Added);
        Assert.Equal(Count, result.Outcomes.Count);
        Assert.Equal(Count / 64, readAheadWhenReported.Count);
        // Never more read than the window past what was consumed: not the whole input first.
        Assert.True(readAheadWhenReported.Max() < Window, $"read {readAheadWhenReported.Max()} inputs ahead");
    }

    [Fact]
    public void Add_ReaderFailsOnTwoInputsAndPassesSomeOver_FirstFailureInInputOrderThrownNothingStored()
    {
        const int Count = 3_000;
        var leaves = Enumerable.Range(0, Count).Select(i => Leaf(i, _caKey)).ToArray();
        using var store = _store.Open();
        var before = store.Certificates.Count();

        // Input 2,500 fails first in time (the read of input 1,000 waits for it), input 1,000 first in input order.
        using var laterFailed = new ManualResetEventSlim();
        var e = Assert.Throws<BadInputException>(() => new CertificateRegistry(store).Add(
            Enumerable.Range(0, Count).Select(i => $"c{i}").ToList(),
            i =>
            {
                if (i == 2_500)
                {
                    laterFailed.Set();
                    throw new IOException("c2500: disk on fire");
                }
                if (i == 1_000)
                {
                    laterFailed.Wait(TimeSpan.FromSeconds(30));
                    throw new BadInputException("c1000", "permission denied");
                }
                return i % 7 == 0 ? null : leaves[i];
            }));

        Assert.Equal("c1000", e.Input);
        Assert.Equal(before, store.Certificates.Count());

        // Without the failures, every seventh input is passed over, named, with no outcome.
        var result = new CertificateRegistry(store).Add(Enumerable.Range(0, Count).Select(i => $"c{i}").ToList(), i => i % 7 == 0 ? null : leaves[i]);
        Assert.True(result.Stored);
        Assert.Equal(Enumerable.Range(0, Count).Where(i => i % 7 == 0).Select(i => $"c{i}"), result.Skipped);
        Assert.Equal(Enumerable.Range(0, Count).Where(i => i % 7 != 0).Select(i => $"c{i}"), result.Outcomes.Select(o => o.Source));
        Assert.Equal(result.Outcomes.Count, result.Added);
    }

    [Fact]
    public void Add_WhileVerifying_TheStoreTakesAnotherWriter()
    {
        // A CRL ingested (another process's connection) while certs add is verifying: the write lock is only the
        // insert's, so it goes through at once rather than waiting out the busy timeout behind the whole verification.
        const int Count = 2_000;
        var leaves = Enumerable.Range(0, Count).Select(i => Leaf(i, _caKey)).ToArray();
        using var store = _store.Open();
        int entries = -1;

        var result = new CertificateRegistry(store).Add(Enumerable.Range(0, Count).Select(i => $"c{i}").ToList(), i =>
        {
            if (i == Count / 2)
            {
                using var other = _store.Open();
                entries = new CrlIngestor(other).Ingest("crl-2", Crl(2, 10, _caKey)).Entries;
            }
            return leaves[i];
        });

        Assert.Equal(10, entries);
        Assert.True(result.Stored);
        Assert.Equal(Count, result.Added);
        Assert.Equal(Count, store.Certificates.Count());
    }

    private BadInputException Refused(byte[] crl)
    {
        var before = _store.Bytes();
        using (var store = _store.Open())
        {
            var e = Assert.Throws<BadInputException>(() => new CrlIngestor(store).Ingest("crl-2", crl));
            Assert.Equal("crl-2", e.Input);
            Assert.Equal(before, _store.Bytes());
            return e;
        }
    }

    private byte[] Leaf(int i, ECDsa signer)
    {
        var request = new CertificateRequest($"CN=host{i}.example", _caKey, HashAlgorithmName.SHA256);
        using var cert = request.Create(_ca.SubjectName, X509SignatureGenerator.CreateForECDsa(signer), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), Serial(i));
        return cert.RawData;
    }

    private static byte[] Serial(int i)
    {
        var serial = SHA256.HashData(BitConverter.GetBytes(i))[..16];
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return serial;
    }

    /// <summary>A v2 CRL signed with <paramref name="key"/>: every entry keyCompromise, the last with reason code 7 (unassigned) when asked.</summary>
    private byte[] Crl(int number, int entries, ECDsa key, bool badLast = false)
    {
        var now = DateTimeOffset.UtcNow;
        var tbs = new AsnWriter(AsnEncodingRules.DER);
        using (tbs.PushSequence())
        {
            tbs.WriteInteger(1);
            using (tbs.PushSequence()) tbs.WriteObjectIdentifier("1.2.840.10045.4.3.2");
            tbs.WriteEncodedValue(_ca.SubjectName.RawData);
            tbs.WriteUtcTime(now.AddMinutes(number - 10));
            tbs.WriteUtcTime(now.AddDays(7));
            using (tbs.PushSequence())
            {
                for (int i = 0; i < entries; i++)
                {
                    using (tbs.PushSequence())
                    {
                        tbs.WriteIntegerUnsigned(Serial(i));
                        tbs.WriteUtcTime(now.AddDays(-1));
                        using (tbs.PushSequence())
                        using (tbs.PushSequence())
                        {
                            tbs.WriteObjectIdentifier("2.5.29.21");
                            tbs.WriteOctetString([0x0A, 0x01, (byte)(badLast && i == entries - 1 ? 7 : 1)]);
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
        var outer = new AsnWriter(AsnEncodingRules.DER);
        using (outer.PushSequence())
        {
            outer.WriteEncodedValue(signed);
            using (outer.PushSequence()) outer.WriteObjectIdentifier("1.2.840.10045.4.3.2");
            outer.WriteBitString(key.SignData(signed, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }
        return outer.Encode();
    }
}
