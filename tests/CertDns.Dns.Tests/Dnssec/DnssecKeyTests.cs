using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>Keys, key tags, DS records and the key set file, checked against ldns and RFC 4034's own examples.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DnssecKeyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 7, 30, 0, TimeSpan.Zero);

    [PeerTheory(Peer.LdnsKey2ds)]
    [InlineData(DnssecAlgorithm.EcdsaP256Sha256)]
    [InlineData(DnssecAlgorithm.Ed25519)]
    public async Task KeyTagAndDsMatchLdnsKey2ds(DnssecAlgorithm algorithm)
    {
        using var keys = DnssecKeySet.Generate("Bl.Example.", algorithm, split: false, Now);
        using var dir = new TempDir();
        File.WriteAllText(dir.File("key"), keys.DnskeyText(3600));
        var (code, output) = await RrsigSignerTests.Run(Peer.Path(Peer.LdnsKey2ds), "-n", "-2", dir.File("key"));
        Assert.True(code == 0, output);
        // ldns prints "bl.example. 3600 IN DS <tag> <alg> 2 <hex>"; compare fields, not spacing.
        var theirs = output.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var ours = keys.DsText(3600).Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(theirs[^4..].Select(s => s.ToUpperInvariant()), ours[^4..].Select(s => s.ToUpperInvariant()));
        Assert.Equal(keys.Keys[0].KeyTag.ToString(System.Globalization.CultureInfo.InvariantCulture), theirs[^4]);
    }

    [Fact]
    public void KeyTagOfRfc4034Example()
    {
        // RFC 4034 section 5.4: the DNSKEY of dskey.example.com (algorithm 5) has key tag 60485.
        byte[] rdata = [0x01, 0x00, 3, 5, .. Convert.FromBase64String(
            "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==")];
        Assert.Equal(60485, DnssecKey.ComputeKeyTag(rdata));
    }

    [Fact]
    public void CanonicalOrderIsRfc4034Section61s()
    {
        string[] ordered = ["example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."];
        var wires = ordered.Select(CanonicalName.FromText).ToArray();
        var shuffled = wires.Reverse().ToList();
        shuffled.Sort((a, b) => CanonicalName.Compare(a, b));
        Assert.Equal(wires.Select(w => CanonicalName.ToText(w)), shuffled.Select(w => CanonicalName.ToText(w)));
    }

    [Fact]
    public void LabelCountLeavesOutRootAndWildcard()
    {
        Assert.Equal(3, CanonicalName.LabelCount(CanonicalName.FromText("a.bl.example")));
        Assert.Equal(2, CanonicalName.LabelCount(CanonicalName.FromText("*.bl.example")));
        Assert.Equal(0, CanonicalName.LabelCount(CanonicalName.FromText(".")));
    }

    [Fact]
    public void SignatureWindowIsAlignedAndStableWithinAStep()
    {
        var a = SignatureWindow.Aligned(new DateTimeOffset(2026, 12, 2, 7, 0, 0, TimeSpan.Zero));
        var b = SignatureWindow.Aligned(new DateTimeOffset(2026, 12, 2, 7, 59, 59, TimeSpan.Zero));
        var c = SignatureWindow.Aligned(new DateTimeOffset(2026, 12, 2, 8, 0, 0, TimeSpan.Zero));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero), a.InceptionTime);
        Assert.Equal(a.InceptionTime.AddDays(7), a.ExpirationTime);
    }

    [Theory]
    [InlineData(DnssecAlgorithm.EcdsaP256Sha256)]
    [InlineData(DnssecAlgorithm.Ed25519)]
    public void KeySetFileRoundTripsWithMode0600(DnssecAlgorithm algorithm)
    {
        using var dir = new TempDir();
        string path = dir.File("bl.example.keys");
        using var keys = DnssecKeySet.Generate("bl.example", algorithm, split: true, Now);
        keys.Save(path, overwrite: false);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        using var loaded = DnssecKeySet.Load(path);
        Assert.Equal("bl.example.", loaded.Zone);
        Assert.Equal(keys.Keys.Select(k => Convert.ToHexString(k.DnskeyRdata)), loaded.Keys.Select(k => Convert.ToHexString(k.DnskeyRdata)));
        Assert.Equal(keys.Keys.Select(k => (k.State, k.Created, k.Activated)), loaded.Keys.Select(k => (k.State, k.Created, k.Activated)));
        Assert.True(loaded.KeySigningKeys[0].IsKeySigningKey);
        Assert.False(loaded.ZoneSigningKeys[0].IsKeySigningKey);
        // The loaded private half signs what the original verifies.
        var signature = new byte[64];
        loaded.ZoneSigningKeys[0].Sign("data"u8, signature);
        Assert.True(keys.ZoneSigningKeys[0].Verify("data"u8, signature));
        var e = Assert.Throws<BadInputException>(() => keys.Save(path, overwrite: false));
        Assert.Contains("exists", e.Message);
    }

    [Fact]
    public void KeySetReadableByOthersIsRefused()
    {
        using var dir = new TempDir();
        string path = dir.File("k");
        using var keys = DnssecKeySet.Generate("bl.example", DnssecAlgorithm.EcdsaP256Sha256, split: false, Now);
        keys.Save(path, overwrite: false);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        using (DnssecKeySet.Load(path)) { }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = Assert.Throws<BadInputException>(() => DnssecKeySet.Load(path));
        Assert.Contains("0644", e.Message);
    }

    [Fact]
    public void KeySetWithAWrongTagIsRefused()
    {
        using var dir = new TempDir();
        string path = dir.File("k");
        using var keys = DnssecKeySet.Generate("bl.example", DnssecAlgorithm.EcdsaP256Sha256, split: false, Now);
        keys.Save(path, overwrite: false);
        string text = File.ReadAllText(path).Replace($"\"tag\": {keys.Keys[0].KeyTag}", $"\"tag\": {(ushort)(keys.Keys[0].KeyTag + 1)}", StringComparison.Ordinal);
        File.WriteAllText(path, text);
        var e = Assert.Throws<BadInputException>(() => DnssecKeySet.Load(path));
        Assert.Contains("does not match", e.Message);
        Assert.StartsWith(path + ":", e.Message);
    }
}
