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
