using System.Security.Cryptography;
using System.Text;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Ingest.Tests;

/// <summary><c>certdns reporters</c>: who may complain by mail; every field checked, one reporter per key, audited.</summary>
public sealed class ReporterRegistryTests : IDisposable
{
    private readonly StoreFile _file = new();
    private readonly TestReporter _alice = new("alice");

    public void Dispose() => _file.Dispose();

    private static ReporterRow Add(CertStore store, TestReporter r, string? name = null, string? domain = null, string? selector = null,
        string? pem = null, string? host = null, int weight = 1) =>
        new ReporterRegistry(store).Add(name ?? r.Name, domain ?? r.Domain, selector ?? r.Selector, "key.pem",
            Encoding.ASCII.GetBytes(pem ?? r.PublicPem), host ?? r.AuthservId, weight);

    [Fact]
    public void Add_ThenList_ThenRemove_Audited()
    {
        using var store = _file.Open();
        var serial = store.Serial;

        var row = Add(store, _alice, weight: 2);

        Assert.Equal(("alice", "alice.example", "abuse", "mx.alice.example", 2), (row.Name, row.DkimDomain, row.DkimSelector, row.AuthservId, row.Weight));
        Assert.Equal(_alice.Key.ExportSubjectPublicKeyInfo(), Assert.Single(store.Reporters.List()).DkimKey);
        // Reporters are not published: the zone's serial stays.
        Assert.Equal(serial, store.Serial);

        new ReporterRegistry(store).Remove("alice", "left the programme");

        Assert.Empty(store.Reporters.List());
        var audit = store.AuditLog().Where(a => a.Action.StartsWith("reporter", StringComparison.Ordinal)).ToList();
        Assert.Equal(["reporter add", "reporter remove"], audit.Select(a => a.Action));
        Assert.Contains("abuse._domainkey.alice.example", audit[0].Reason);
        Assert.Equal("left the programme", audit[1].Reason);
    }

    [Fact]
    public void Add_SameKeyUnderSecondName_Refused()
    {
        using var store = _file.Open();
        Add(store, _alice);

        var e = Assert.Throws<BadInputException>(() => Add(store, new TestReporter("alias", _alice.Key)));

        Assert.Contains("that DKIM key belongs to reporter alice", e.Message);
        Assert.Single(store.Reporters.List());
    }

    [Theory]
    [InlineData("name", "a reporter name")]
    [InlineData("domain", "--dkim-domain is not a domain name")]
    [InlineData("selector", "--dkim-selector is not a DNS label")]
    [InlineData("host", "--authserv-id is not a host name")]
    [InlineData("weight", "--weight is 1 to 10")]
    [InlineData("pem", "not a PEM public key")]
    [InlineData("short", "RSA key under 1024 bits")]
    [InlineData("private", "not a PEM public key")]
    [InlineData("same-name", "a reporter of that name is registered")]
    [InlineData("same-selector", "belongs to reporter alice")]
    [InlineData("same-host", "authserv-id mx.alice.example belongs to reporter alice")]
    public void Add_BadField_RefusedNothingStored(string field, string reason)
    {
        using var store = _file.Open();
        Add(store, _alice);
        var other = new TestReporter("bob");
        using var small = RSA.Create(512);

        var e = Assert.Throws<BadInputException>(() => field switch
        {
            "name" => Add(store, other, name: "bob; rm"),
            "domain" => Add(store, other, domain: "not a domain"),
            "selector" => Add(store, other, selector: "a.b"),
            "host" => Add(store, other, host: "mx;evil"),
            "weight" => Add(store, other, weight: 0),
            "pem" => Add(store, other, pem: "hello"),
            "short" => Add(store, other, pem: small.ExportSubjectPublicKeyInfoPem()),
            "private" => Add(store, other, pem: other.Key.ExportRSAPrivateKeyPem()),
            "same-name" => Add(store, other, name: "alice"),
            "same-selector" => Add(store, other, domain: "ALICE.example"),
            "same-host" => Add(store, other, host: "MX.alice.example"),
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        });

        Assert.Contains(reason, e.Message);
        Assert.Equal(["alice"], store.Reporters.List().Select(r => r.Name));
    }

    [Fact]
    public void Remove_Unknown_Refused()
    {
        using var store = _file.Open();
        var e = Assert.Throws<BadInputException>(() => new ReporterRegistry(store).Remove("nobody", null));
        Assert.Contains("no reporter of that name", e.Message);
    }
}
