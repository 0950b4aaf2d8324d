using System.Diagnostics;
using CertDns.Dns.Dnssec;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>
/// RRSIGs from <see cref="RrsigSigner"/> as validators outside the project check them: ldns-verify-zone over a signed
/// zone for each algorithm and key layout, and BouncyCastle (not .NET's ECDsa, which made them) over thousands of
/// RRsets, including the signatures whose r or s is below 2^248 (the left-padding case ARSoft gets wrong).
/// </summary>
public sealed class RrsigSignerTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [PeerTheory(Peer.LdnsVerifyZone)]
    [InlineData(DnssecAlgorithm.EcdsaP256Sha256, false)]
    [InlineData(DnssecAlgorithm.EcdsaP256Sha256, true)]
    [InlineData(DnssecAlgorithm.Ed25519, false)]
    [InlineData(DnssecAlgorithm.Ed25519, true)]
    public async Task LdnsVerifyZoneAcceptsEverySignature(DnssecAlgorithm algorithm, bool split)
    {
        using var keys = DnssecKeySet.Generate("Signed.Example", algorithm, split, Now);
        var zone = new SignedZoneFile(keys, SignatureWindow.Aligned(Now));
        using var dir = new TempDir();
        File.WriteAllText(dir.File("zone"), zone.Build(names: 400));
        var (code, output) = await Run(Peer.Path(Peer.LdnsVerifyZone), "-V", "3", dir.File("zone"));
        Assert.True(code == 0, output);
        Assert.Contains("Zone is verified and complete", output);
        Assert.True(zone.RrsetCount > 1000, $"{zone.RrsetCount} RRsets");
    }

    [PeerFact(Peer.LdnsVerifyZone)]
    public async Task LdnsVerifyZoneRejectsOneFlippedSignatureByte()
    {
        using var keys = DnssecKeySet.Generate("signed.example", DnssecAlgorithm.EcdsaP256Sha256, split: false, Now);
        var zone = new SignedZoneFile(keys, SignatureWindow.Aligned(Now));
        string text = zone.Build(names: 20);
        var lines = text.Split('\n');
        int victim = Array.FindIndex(lines, l => l.StartsWith("n7.signed.example.", StringComparison.Ordinal) && l.Contains("\tRRSIG\t", StringComparison.Ordinal));
        char last = lines[victim][^1];
        lines[victim] = lines[victim][..^1] + (last == '0' ? '1' : '0');
        using var dir = new TempDir();
        File.WriteAllText(dir.File("zone"), string.Join('\n', lines));
        var (code, output) = await Run(Peer.Path(Peer.LdnsVerifyZone), dir.File("zone"));
        Assert.True(code != 0, output);
        Assert.Contains("n7.signed.example", output);
    }

    [Fact]
    public void BouncyCastleVerifiesThousandsOfEcdsaSignaturesIncludingPaddedOnes()
    {
        using var keys = DnssecKeySet.Generate("signed.example", DnssecAlgorithm.EcdsaP256Sha256, split: false, Now);
        var zone = new SignedZoneFile(keys, SignatureWindow.Aligned(Now));
        zone.Build(names: 1500);
        var key = keys.ZoneSigningKeys[0];
        var curve = NistNamedCurves.GetByName("P-256");
        var domain = new ECDomainParameters(curve.Curve, curve.G, curve.N, curve.H);
        var q = curve.Curve.CreatePoint(new BigInteger(1, key.PublicKey, 0, 32), new BigInteger(1, key.PublicKey, 32, 32));
        var publicKey = new ECPublicKeyParameters(q, domain);
        int padded = 0, bad = 0;
        foreach (var (owner, type, rdatas, rrsig, _) in zone.Signatures)
        {
            var (data, signature) = SignedData(owner, type, rdatas, rrsig);
            Assert.Equal(64, signature.Length);
            if (signature[0] == 0 || signature[32] == 0) padded++;
            var verifier = new ECDsaSigner();
            verifier.Init(false, publicKey);
            byte[] digest = System.Security.Cryptography.SHA256.HashData(data);
            if (!verifier.VerifySignature(digest, new BigInteger(1, signature, 0, 32), new BigInteger(1, signature, 32, 32))) bad++;
        }
        Assert.True(zone.Signatures.Count >= 4000, $"{zone.Signatures.Count} signatures");
        Assert.Equal(0, bad);
        // About 2 in 256 signatures have r or s below 2^248: at 4,000+ the chance of none is below 1e-13.
        Assert.True(padded > 0, "no signature exercised the left-padding case");
    }

    [Fact]
    public void BouncyCastleVerifiesEd25519Signatures()
    {
        using var keys = DnssecKeySet.Generate("signed.example", DnssecAlgorithm.Ed25519, split: true, Now);
        var zone = new SignedZoneFile(keys, SignatureWindow.Aligned(Now));
        zone.Build(names: 400);
        int bad = 0;
        foreach (var (owner, type, rdatas, rrsig, key) in zone.Signatures)
        {
            var (data, signature) = SignedData(owner, type, rdatas, rrsig);
            var verifier = new Ed25519Signer();
            verifier.Init(false, new Ed25519PublicKeyParameters(key.PublicKey));
            verifier.BlockUpdate(data, 0, data.Length);
            if (!verifier.VerifySignature(signature)) bad++;
        }
        Assert.True(zone.Signatures.Count >= 1000);
        Assert.Equal(0, bad);
    }

    [Fact]
    public void SelfCheckRejectsAChangedRrset()
    {
        using var keys = DnssecKeySet.Generate("signed.example", DnssecAlgorithm.EcdsaP256Sha256, split: false, Now);
        byte[] owner = CanonicalName.FromText("a.signed.example");
        ReadOnlyMemory<byte>[] rdatas = [new byte[] { 127, 0, 0, 2 }, new byte[] { 127, 0, 0, 3 }];
        var rrsig = new byte[RrsigSigner.RdataLength(keys.ZoneWire)];
        RrsigSigner.Sign(owner, 1, 1, 60, rdatas, SignatureWindow.Aligned(Now), keys.ZoneSigningKeys[0], keys.ZoneWire, rrsig);
        Assert.True(RrsigSigner.Verify(owner, 1, 1, [rdatas[1], rdatas[0]], rrsig, keys.ZoneSigningKeys[0]));
        Assert.False(RrsigSigner.Verify(owner, 1, 1, [rdatas[0]], rrsig, keys.ZoneSigningKeys[0]));
    }

    /// <summary>The signed data rebuilt here from RFC 4034 section 3.1.8.1, not with the project's canonical form code.</summary>
    private static (byte[] Data, byte[] Signature) SignedData(byte[] owner, ushort type, ReadOnlyMemory<byte>[] rdatas, byte[] rrsig)
    {
        int signerLength = 0;
        while (rrsig[18 + signerLength] != 0) signerLength += 1 + rrsig[18 + signerLength];
        int header = 18 + signerLength + 1;
        var data = new List<byte>(rrsig.AsSpan(0, header).ToArray());
        byte[] lower = [.. owner.Select(b => b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b)];
        foreach (var rdata in rdatas.Select(r => r.ToArray()).OrderBy(r => Convert.ToHexString(r), StringComparer.Ordinal).DistinctBy(Convert.ToHexString))
        {
            data.AddRange(lower);
            data.AddRange([(byte)(type >> 8), (byte)type, 0, 1]);
            data.AddRange(rrsig.AsSpan(4, 4).ToArray());
            data.AddRange([(byte)(rdata.Length >> 8), (byte)rdata.Length]);
            data.AddRange(rdata);
        }
        return ([.. data], rrsig[header..]);
    }

    internal static async Task<(int Code, string Output)> Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (process.ExitCode, await stdout + await stderr);
    }
}
