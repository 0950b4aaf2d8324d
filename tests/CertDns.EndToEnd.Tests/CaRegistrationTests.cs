using System.Diagnostics;
using CertDns.Ingest;
using CertDns.Pki;
using CertDns.Store;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// `certdns ca add` accepts CA certificates only (issue #11): each case is a certificate crafted here with one
/// thing wrong, given to the real binary, which must refuse it in one line with exit 1 and store nothing.
/// </summary>
public sealed class CaRegistrationTests : IDisposable
{
    private readonly TempDir _dir = new();
    private static readonly DateTime Now = DateTime.UtcNow;

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Cli(params string[] args) => CertDnsProcess.Run(_dir.Path, args);

    private string Write(string name, byte[] der)
    {
        File.WriteAllText(_dir.File(name), TestAuthority.ToPem("CERTIFICATE", der));
        return name;
    }

    /// <summary>An empty store, as a writing verb creates it (reading verbs never do).</summary>
    private void CreateStore()
    {
        using (CertDns.Store.CertStore.Open(_dir.File("certdns.db"))) { }
    }

    private byte[]? Db() => File.Exists(_dir.File("certdns.db")) ? File.ReadAllBytes(_dir.File("certdns.db")) : null;

    private void AssertRefused(string file, string reason, params string[] args)
    {
        CreateStore(); // the store exists, so "nothing stored" is byte-for-byte
        var before = Db();
        var result = Cli(args.Length > 0 ? args : ["ca", "add", file]);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(file, line);
        Assert.Contains(reason, line);
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout);
        Assert.Equal(before, Db());
    }

    [Fact]
    public void CaAdd_BasicConstraintsCaFalse_Refused()
    {
        var key = Craft.NewKey();
        AssertRefused(Write("leaf.pem", Craft.Cert(Craft.Name("Not A CA"), key, Craft.Name("Not A CA"), key.Public, basic: new BasicConstraints(false))),
            "basicConstraints cA is FALSE");
    }

    [Fact]
    public void CaAdd_NoBasicConstraints_Refused()
    {
        var key = Craft.NewKey();
        AssertRefused(Write("nobc.pem", Craft.Cert(Craft.Name("No Constraints"), key, Craft.Name("No Constraints"), key.Public, noBasic: true)),
            "no basicConstraints");
    }

    [Fact]
    public void CaAdd_KeyUsageWithoutKeyCertSign_Refused()
    {
        var key = Craft.NewKey();
        AssertRefused(Write("nosign.pem", Craft.Cert(Craft.Name("CRL Only CA"), key, Craft.Name("CRL Only CA"), key.Public,
            keyUsage: KeyUsage.DigitalSignature)), "lacks keyCertSign");
    }

    [Theory]
    [InlineData(-400, -10, "expired on")]
    [InlineData(10, 400, "not valid before")]
    public void CaAdd_OutsideValidity_Refused(int fromDays, int toDays, string reason)
    {
        var key = Craft.NewKey();
        AssertRefused(Write("time.pem", Craft.Cert(Craft.Name("Time CA"), key, Craft.Name("Time CA"), key.Public,
            notBefore: Now.AddDays(fromDays), notAfter: Now.AddDays(toDays))), reason);
    }

    [Theory]
    [InlineData]
    [InlineData("--anchor")]
    public void CaAdd_SelfSignedWithBrokenSignature_RefusedEvenWithAnchor(params string[] options)
    {
        var key = Craft.NewKey();
        var file = Write("broken.pem", Craft.Cert(Craft.Name("Broken CA"), key, Craft.Name("Broken CA"), key.Public, breakSignature: true));
        AssertRefused(file, "self-signature does not verify", ["ca", "add", .. options, file]);
    }

    [Theory]
    [InlineData(16384, 65537, "RSA modulus of 16384 bits")]
    [InlineData(4096, -16384, "RSA public exponent of 16384 bits")]
    [InlineData(1024, 65537, "RSA modulus of 1024 bits")]
    [InlineData(2048, 65536, "odd")]
    public void CaAdd_RsaKeyOutOfBounds_RefusedBeforeAnyArithmetic(int modulusBits, int exponent, string reason)
    {
        // Signed with an EC key: the certificate is only a carrier for the key, whose bounds are checked first.
        var signer = Craft.NewKey();
        var spki = Craft.FakeRsa(modulusBits, exponent);
        var watch = Stopwatch.StartNew();
        AssertRefused(Write("big.pem", Craft.Cert(Craft.Name("Big CA"), signer, Craft.Name("Big CA"), spki)), reason);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    [Fact]
    public void CaAdd_IntermediateOfUnregisteredIssuer_RefusedThenAcceptedWithAnchor()
    {
        var root = new TestAuthority("Absent Root");
        var intermediate = root.IssueCa("Orphan Intermediate");
        var file = Write("orphan.pem", intermediate.CertificateDer);

        AssertRefused(file, "is not a registered CA");

        var anchored = Cli("ca", "add", "--anchor", file);
        Assert.Equal(0, anchored.ExitCode);
        Assert.Contains("anchor (operator)", anchored.Stdout);
        Assert.Contains("anchor (operator)", Cli("ca", "list").Stdout);
        Assert.Contains("anchor (operator)", Cli("audit").Stdout);
    }

    [Fact]
    public void CaAdd_IntermediateOfRegisteredRoot_RegisteredUnderItAndIssuesCertificates()
    {
        var root = new TestAuthority("Registered Root");
        var intermediate = root.IssueCa("Registered Intermediate");
        Assert.Equal(0, Cli("ca", "add", Write("root.pem", root.CertificateDer)).ExitCode);

        var added = Cli("ca", "add", Write("intermediate.pem", intermediate.CertificateDer));

        Assert.Equal(0, added.ExitCode);
        Assert.Contains("added: CA 2 \"CN=Registered Intermediate,O=CertDns Test\" under CA 1", added.Stdout);
        var list = Cli("ca", "list").Stdout;
        Assert.Contains("anchor (self-signed)", list);
        Assert.Contains("under CA 1", list);

        var leaf = intermediate.Issue("leaf.example", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var certs = Cli("certs", "add", Write("leaf.pem", leaf));
        Assert.Equal(0, certs.ExitCode);
        Assert.Contains("1 added", certs.Stdout);
        using var store = CertStore.Open(_dir.File("certdns.db"));
        Assert.Equal(2, store.Certificates.Find(System.Security.Cryptography.SHA256.HashData(leaf))!.CaId);
    }

    [Fact]
    public void CaAdd_BundleIntermediateFirst_BothRegisteredRootAsAnchor()
    {
        var root = new TestAuthority("Bundle Root");
        var intermediate = root.IssueCa("Bundle Intermediate");
        File.WriteAllText(_dir.File("bundle.pem"), intermediate.CertificatePem + root.CertificatePem);

        var added = Cli("ca", "add", "bundle.pem");

        Assert.Equal(0, added.ExitCode);
        using var store = CertStore.Open(_dir.File("certdns.db"));
        var cas = store.Cas.List();
        var rootRow = Assert.Single(cas, c => c.Subject.Contains("Bundle Root", StringComparison.Ordinal));
        Assert.Equal(CaAnchor.SelfSigned, rootRow.Anchor);
        Assert.Equal(rootRow.Id, Assert.Single(cas, c => c.Subject.Contains("Bundle Intermediate", StringComparison.Ordinal)).ParentId);
    }

    [Fact]
    public void CaAdd_BelowPathLengthZero_Refused()
    {
        var root = new TestAuthority("Path Root");
        var intermediate = root.IssueCa("Path Zero", pathLength: 0);
        var below = intermediate.IssueCa("Too Deep");
        Assert.Equal(0, Cli("ca", "add", Write("root.pem", root.CertificateDer), Write("zero.pem", intermediate.CertificateDer)).ExitCode);

        AssertRefused(Write("deep.pem", below.CertificateDer), "pathLenConstraint");
    }

    [Fact]
    public void CaAdd_SeveralFilesOneBad_EveryRefusalPrintedNothingStored()
    {
        var good = new TestAuthority("Good Batch CA");
        var key = Craft.NewKey();
        Write("good.pem", good.CertificateDer);
        Write("leaf1.pem", Craft.Cert(Craft.Name("Leaf One"), key, Craft.Name("Leaf One"), key.Public, basic: new BasicConstraints(false)));
        Write("leaf2.pem", Craft.Cert(Craft.Name("Leaf Two"), key, Craft.Name("Leaf Two"), key.Public, noBasic: true));
        CreateStore();
        var before = Db();

        var result = Cli("ca", "add", "good.pem", "leaf1.pem", "leaf2.pem");

        Assert.Equal(1, result.ExitCode);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains("leaf1.pem", lines[0]);
        Assert.Contains("leaf2.pem", lines[1]);
        Assert.Contains("nothing stored", result.Stdout);
        Assert.Equal(before, Db());
    }

    [Fact]
    public void CertsAdd_CertificateSignedByACrlSigner_RefusedThoughTheSignerIsRegistered()
    {
        // A separate CRL-signing key (RFC 5280 6.3.3 (f)) registers under its CA, but issues no certificates.
        var rootKey = Craft.NewKey();
        var signerKey = Craft.NewKey();
        Write("root.pem", Craft.Cert(Craft.Name("Signer Root"), rootKey, Craft.Name("Signer Root"), rootKey.Public));
        Write("signer.pem", Craft.Cert(Craft.Name("Signer Root"), rootKey, Craft.Name("CRL Signer"), signerKey.Public, noBasic: true, keyUsage: KeyUsage.CrlSign));
        var added = Cli("ca", "add", "root.pem", "signer.pem");
        Assert.Equal(0, added.ExitCode);
        Assert.Contains("\"CN=CRL Signer\" under CA 1", added.Stdout);
        var leafKey = Craft.NewKey();
        Write("leaf.pem", Craft.Cert(Craft.Name("CRL Signer"), signerKey, Craft.Name("leaf.example"), leafKey.Public,
            basic: new BasicConstraints(false), keyUsage: KeyUsage.DigitalSignature));

        AssertRefused("leaf.pem", "issues no certificates", "certs", "add", "leaf.pem");
    }

    [Fact]
    public void CertsAdd_TwentyCertificatesOfAnUnboundedKeyCa_RefusedInMilliseconds()
    {
        // A store from before CA checks may hold a CA with a 16384-bit key and exponent: its certificates are refused
        // without one modular exponentiation (202 s for 20 on the code before the fix).
        using var file = new StoreFile();
        using var store = file.Open();
        var signer = Craft.NewKey();
        var bigCa = Craft.Cert(Craft.Name("Huge Key CA"), signer, Craft.Name("Huge Key CA"), Craft.FakeRsa(16384, -16384));
        var parsed = CertificateFile.Read(bigCa, "huge")[0];
        store.Cas.Add(new CaRecord(parsed.Sha256, parsed.Subject, parsed.SubjectDer, parsed.SubjectKeyId, parsed.SpkiSha256, parsed.NotBefore,
            parsed.NotAfter, true, parsed.Der, null, Anchor: CaAnchor.Migrated), []);
        var leafKey = Craft.NewKey();
        var inputs = Enumerable.Range(0, 20).Select(i => ($"leaf{i}",
            Craft.Cert(Craft.Name("Huge Key CA"), signer, Craft.Name($"leaf {i}"), leafKey.Public, basic: new BasicConstraints(false), rsaSignature: true))).ToList();

        var watch = Stopwatch.StartNew();
        var result = new CertificateRegistry(store).Add(inputs);
        watch.Stop();

        Assert.False(result.Stored);
        Assert.Equal(20, result.Refused);
        Assert.All(result.Outcomes, o => Assert.Contains("16384 bits", o.Refusal));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"20 refusals took {watch.Elapsed}");
    }

    [Fact]
    public void CertsAdd_CertificatesCarryingAnUnboundedKey_Refused()
    {
        var key = Craft.NewKey();
        Assert.Equal(0, Cli("ca", "add", Write("ca.pem", Craft.Cert(Craft.Name("Carrier CA"), key, Craft.Name("Carrier CA"), key.Public))).ExitCode);
        var leaf = Craft.Cert(Craft.Name("Carrier CA"), key, Craft.Name("big.example"), Craft.FakeRsa(16384, -16384),
            basic: new BasicConstraints(false), keyUsage: KeyUsage.DigitalSignature);

        AssertRefused(Write("big.pem", leaf), "RSA modulus of 16384 bits", "certs", "add", "big.pem");
    }

    [Fact]
    public void Open_StoreAtVersion4WithCas_KeepsThemAsAuditedAnchors()
    {
        using var file = new StoreFile();
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file.Path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = string.Concat(Schema.Migrations[..4]) + """
                PRAGMA user_version = 4;
                INSERT INTO cas (sha256, subject, subject_der, spki_sha256, not_before, not_after, can_sign_crl, der, added_at)
                VALUES (x'01', 'CN=Old CA', x'30', x'02', 0, 4102444800, 1, x'30', 1700000000);
                """;
            cmd.ExecuteNonQuery();
        }

        using var store = file.Open();

        var ca = Assert.Single(store.Cas.List());
        Assert.True(ca.Trusted);
        Assert.Null(ca.ParentId);
        Assert.Equal(CaAnchor.Migrated, ca.Anchor);
        var line = Assert.Single(store.AuditLog(), a => a.Action == "ca anchor");
        Assert.Equal("CN=Old CA", line.Subject);
    }

    /// <summary>Certificates with any field wrong, made with BouncyCastle's structures rather than its generator.</summary>
    private static class Craft
    {
        private static readonly SecureRandom Random = new();

        public static AsymmetricCipherKeyPair NewKey()
        {
            var generator = new ECKeyPairGenerator();
            generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, Random));
            return generator.GenerateKeyPair();
        }

        public static X509Name Name(string cn) => new($"CN={cn}");

        /// <summary>An RSA SubjectPublicKeyInfo with an odd modulus of that many bits; a negative exponent means one of that many bits.</summary>
        public static SubjectPublicKeyInfo FakeRsa(int modulusBits, int exponent)
        {
            var modulus = BcBigInteger.One.ShiftLeft(modulusBits - 1).Add(BcBigInteger.One);
            var e = exponent < 0 ? BcBigInteger.One.ShiftLeft(-exponent - 1).Add(BcBigInteger.One) : BcBigInteger.ValueOf(exponent);
            return new SubjectPublicKeyInfo(new AlgorithmIdentifier(PkcsObjectIdentifiers.RsaEncryption, DerNull.Instance),
                new RsaPublicKeyStructure(modulus, e));
        }

        public static byte[] Cert(X509Name issuer, AsymmetricCipherKeyPair signer, X509Name subject, AsymmetricKeyParameter key,
            BasicConstraints? basic = null, bool noBasic = false, int keyUsage = KeyUsage.KeyCertSign | KeyUsage.CrlSign, DateTime? notBefore = null,
            DateTime? notAfter = null, bool breakSignature = false, bool rsaSignature = false) =>
            Cert(issuer, signer, subject, SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(key), basic, noBasic, keyUsage, notBefore, notAfter, breakSignature, rsaSignature);

        /// <summary>A certificate; basicConstraints cA=TRUE unless <paramref name="basic"/> says otherwise or <paramref name="noBasic"/>.</summary>
        public static byte[] Cert(X509Name issuer, AsymmetricCipherKeyPair signer, X509Name subject, SubjectPublicKeyInfo spki,
            BasicConstraints? basic = null, bool noBasic = false, int keyUsage = KeyUsage.KeyCertSign | KeyUsage.CrlSign, DateTime? notBefore = null,
            DateTime? notAfter = null, bool breakSignature = false, bool rsaSignature = false)
        {
            var tbs = new V3TbsCertificateGenerator();
            tbs.SetSerialNumber(new DerInteger(new BcBigInteger(64, Random).Add(BcBigInteger.One)));
            tbs.SetIssuer(issuer);
            tbs.SetSubject(subject);
            tbs.SetStartDate(new Time(notBefore ?? Now.AddDays(-1)));
            tbs.SetEndDate(new Time(notAfter ?? Now.AddYears(1)));
            tbs.SetSubjectPublicKeyInfo(spki);
            // An RSA signature algorithm claims the (unbounded) RSA issuer key; the bytes are an EC signature.
            var algorithm = new AlgorithmIdentifier(rsaSignature ? PkcsObjectIdentifiers.Sha256WithRsaEncryption : X9ObjectIdentifiers.ECDsaWithSha256,
                rsaSignature ? DerNull.Instance : null);
            tbs.SetSignature(algorithm);
            var extensions = new X509ExtensionsGenerator();
            if (!noBasic) extensions.AddExtension(X509Extensions.BasicConstraints, true, basic ?? new BasicConstraints(true));
            extensions.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(keyUsage));
            tbs.SetExtensions(extensions.Generate());
            var tbsCert = tbs.GenerateTbsCertificate();
            var sign = SignerUtilities.GetSigner("SHA256WITHECDSA");
            sign.Init(true, signer.Private);
            var bytes = tbsCert.GetDerEncoded();
            sign.BlockUpdate(bytes, 0, bytes.Length);
            var signature = sign.GenerateSignature();
            if (breakSignature) signature[^1] ^= 0x01;
            return new X509CertificateStructure(tbsCert, algorithm, new DerBitString(signature)).GetDerEncoded();
        }
    }
}
