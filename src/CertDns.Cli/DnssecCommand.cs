using System.CommandLine;
using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Cli;

/// <summary>
/// <c>certdns dnssec keygen|ds|dnskey</c>: the zone's DNSSEC key set (SPEC section 2.12), kept in one file outside the
/// store (<c>zone.dnssec-keys</c> or <c>--keys</c>), and what the parent and validating resolvers need from it.
/// </summary>
internal static class DnssecCommand
{
    public static Command Create()
    {
        var keys = new Option<string?>("--keys") { Description = "The key set file (default: zone.dnssec-keys of --config)", Recursive = true };
        var command = new Command("dnssec", "DNSSEC keys: create them, print the DS for the parent and the DNSKEY RRset for a trust anchor") { keys };

        var algorithm = new Option<string>("--algorithm") { Description = "ecdsa (13, ECDSA P-256, the default) or ed25519 (15)", DefaultValueFactory = _ => "ecdsa" };
        var split = new Option<bool>("--split") { Description = "A key-signing key and a zone-signing key, instead of one combined signing key" };
        var force = new Option<bool>("--force") { Description = "Replace an existing key set (a parent's DS pointing at the old keys goes bogus)" };
        var keygen = new Command("keygen", "Create the zone's key set, mode 0600") { algorithm, split, force };
        keygen.SetAction(r => Run.Guarded(() =>
        {
            var path = KeysPath(r, keys);
            var alg = r.GetValue(algorithm) switch
            {
                "ecdsa" or "13" or "ecdsap256sha256" => DnssecAlgorithm.EcdsaP256Sha256,
                "ed25519" or "15" => DnssecAlgorithm.Ed25519,
                var other => throw new BadInputException("--algorithm", $"\"{other}\": must be ecdsa or ed25519"),
            };
            using var set = DnssecKeySet.Generate(GlobalOptions.ZoneName(r), alg, r.GetValue(split), DateTimeOffset.UtcNow);
            set.Save(path, r.GetValue(force));
            foreach (var k in set.Keys)
                Console.WriteLine($"{path}: {(k.IsKeySigningKey ? "KSK" : "ZSK")} algorithm {(byte)k.Algorithm} key tag {k.KeyTag}, {k.State.ToString().ToLowerInvariant()}");
            return ExitCodes.Ok;
        }));

        var ttl = new Option<uint>("--ttl") { Description = "TTL of the records printed", DefaultValueFactory = _ => 3600 };
        var ds = new Command("ds", "Print the DS records (SHA-256) to give the parent zone") { ttl };
        ds.SetAction(r => Run.Guarded(() =>
        {
            using var set = DnssecKeySet.Load(KeysPath(r, keys));
            Console.Write(set.DsText(r.GetValue(ttl)));
            return ExitCodes.Ok;
        }));
        var dnskey = new Command("dnskey", "Print the DNSKEY RRset, as a trust-anchor file (Unbound's trust-anchor-file) reads it") { ttl };
        dnskey.SetAction(r => Run.Guarded(() =>
        {
            using var set = DnssecKeySet.Load(KeysPath(r, keys));
            Console.Write(set.DnskeyText(r.GetValue(ttl)));
            return ExitCodes.Ok;
        }));
        command.Add(keygen);
        command.Add(ds);
        command.Add(dnskey);
        return command;
    }

    private static string KeysPath(ParseResult r, Option<string?> keys) =>
        r.GetValue(keys) ?? GlobalOptions.ConfigFile(r)?.DnssecKeys
        ?? throw new BadInputException("--keys", "no key set file named (give --keys, or zone.dnssec-keys in --config)");
}
