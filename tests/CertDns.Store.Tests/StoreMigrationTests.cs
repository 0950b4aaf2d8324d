using System.Formats.Asn1;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;
using Microsoft.Data.Sqlite;

namespace CertDns.Store.Tests;

/// <summary>Schema 4 kept distribution points as DER; schema 5 keeps plain values, converted once through CertDns.Pki.</summary>
[Collection(nameof(StoredDerDecoderCollection))]
public sealed class StoreMigrationTests : IDisposable
{
    private static readonly byte[] Sha = [.. Enumerable.Repeat((byte)0xA1, 32)], OtherSha = [.. Enumerable.Repeat((byte)0xB2, 32)];
    private readonly StoreFile _file = new();
    private readonly IStoredDerDecoder? _before = CertStore.StoredDerDecoder;

    public void Dispose()
    {
        CertStore.StoredDerDecoder = _before;
        _file.Dispose();
    }

    [Fact]
    public void Open_Schema4WithDerPoints_ConvertsThemSoCoverageStillMatches()
    {
        WriteSchema4Store();
        CertStore.StoredDerDecoder = DistributionPoints.Legacy;

        using var store = _file.Open();
        var snapshot = store.Snapshots.Load();

        Assert.Equal(CertStore.LatestSchemaVersion, store.SchemaVersion);
        var now = DateTimeOffset.UtcNow;
        // The certificate naming the CRL's point is covered by it; the one naming another point is not.
        Assert.StartsWith("valid", snapshot.Evaluate(DigestKind.Sha256, Sha, false, now)!.Text);
        var other = snapshot.Evaluate(DigestKind.Sha256, OtherSha, false, now)!;
        Assert.Equal(CertStatus.Stale, other.Status);
        Assert.Contains("another distribution point", other.Text);
    }

    [Fact]
    public void Open_Schema4WithDerPointsAndNoDecoder_RefusedAndUnchanged()
    {
        WriteSchema4Store();
        CertStore.StoredDerDecoder = null;

        var refusal = Assert.Throws<BadInputException>(() => _file.Open().Dispose());

        Assert.Contains("schema 4", refusal.Message);
        using var raw = new SqliteConnection($"Data Source={_file.Path};Pooling=False");
        raw.Open();
        using var cmd = raw.CreateCommand();
        cmd.CommandText = "PRAGMA user_version;";
        Assert.Equal(4L, cmd.ExecuteScalar());
    }

    private static byte[] FullName(string uri)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
        return writer.Encode();
    }

    /// <summary>A store as certdns of schema 4 wrote it: one CA, a CRL naming a point, two certificates naming points.</summary>
    private void WriteSchema4Store()
    {
        using var raw = new SqliteConnection($"Data Source={_file.Path};Pooling=False");
        raw.Open();
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var cmd = raw.CreateCommand();
        cmd.CommandText = string.Join("\n", Schema.Migrations.Take(4)) + $"""
            PRAGMA user_version = 4;
            INSERT INTO cas (id, sha256, subject, subject_der, spki_sha256, not_before, not_after, can_sign_crl, der, added_at)
                VALUES (1, x'01', 'CN=Old CA', x'3000', x'02', {now - 86400}, {now + 86400 * 365}, 1, x'00', {now});
            INSERT INTO crl_scopes (id, ca_id, idp, point_name) VALUES (1, 1, x'3000', $point);
            INSERT INTO crls (ca_id, number, this_update, next_update, sha256, source, entry_count, ingested_at, scope_id, is_delta)
                VALUES (1, '1', {now - 60}, {now + 86400}, x'03', 'old.crl', 0, {now}, 1, 0);
            INSERT INTO certificates (sha256, sha1, md5, spki_sha256, ca_id, serial, not_before, not_after, added_at, crl_points)
                VALUES ($sha, x'04', x'05', x'06', 1, x'10', {now - 86400}, {now + 86400}, {now}, $point),
                       ($other, x'07', x'08', x'09', 1, x'11', {now - 86400}, {now + 86400}, {now}, $elsewhere);
            """;
        cmd.Parameters.AddWithValue("$point", FullName("http://old.example/crl"));
        cmd.Parameters.AddWithValue("$elsewhere", FullName("http://old.example/other.crl"));
        cmd.Parameters.AddWithValue("$sha", Sha);
        cmd.Parameters.AddWithValue("$other", OtherSha);
        cmd.ExecuteNonQuery();
    }
}

/// <summary>Tests that set <see cref="CertStore.StoredDerDecoder"/>, a process-wide setting, run one at a time.</summary>
[CollectionDefinition(nameof(StoredDerDecoderCollection), DisableParallelization = true)]
public sealed class StoredDerDecoderCollection;
