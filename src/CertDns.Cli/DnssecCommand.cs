using System.CommandLine;
using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Cli;

/// <summary>
/// <c>certdns dnssec keygen|ds|dnskey|rollover|status</c>: the zone's DNSSEC key set (SPEC section 2.12), kept in one
/// file outside the store (<c>zone.dnssec-keys</c> or <c>--keys</c>), what the parent and validating resolvers need
/// from it, and its rollovers (planned into the file's times; the server follows them by the clock).
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
                Console.WriteLine($"{path}: {set.RoleOf(k)} algorithm {(byte)k.Algorithm} key tag {k.KeyTag}, {set.StateOf(k).ToString().ToLowerInvariant()}");
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
        var key = new Option<string?>("--key") { Description = "The key tag of the key to roll (default: the CSK, or in a split set the ZSK; --ksk: the KSK)" };
        var ksk = new Option<bool>("--ksk") { Description = "Roll the KSK of a split set (double signature) instead of its ZSK (pre-publication)" };
        var dsChanged = new Option<bool>("--ds-changed") { Description = "The parent now serves the new key's DS alone: the old key goes once the old DS has left the caches" };
        var dsTtl = new Option<uint>("--ds-ttl") { Description = "The parent's DS TTL in seconds", DefaultValueFactory = _ => (uint)RolloverTiming.DefaultDsTtl.TotalSeconds };
        var rollover = new Command("rollover", "Start a key rollover (ZSK: pre-publication; KSK, CSK: double signature), timed by the zone's TTLs; --ds-changed after the parent's DS change") { key, ksk, dsChanged, dsTtl };
        rollover.SetAction(r => Run.Guarded(() =>
        {
            var path = KeysPath(r, keys);
            var now = DateTimeOffset.UtcNow;
            using var set = DnssecKeySet.Load(path, now);
            var timing = Timing(r, set, r.GetValue(dsTtl));
            if (r.GetValue(dsChanged))
            {
                if (r.GetValue(key) is not null || r.GetValue(ksk)) throw new BadInputException("--ds-changed", "takes no --key or --ksk: it ends the rollover running");
                var old = KeyRollover.DsChanged(set, path, timing, now);
                set.Save(path, overwrite: true);
                Console.WriteLine($"{path}: {KeyRollover.Next(set.AtTime(now), timing, now)}");
                return ExitCodes.Ok;
            }
            ushort? tag = r.GetValue(key) is { } text
                ? ushort.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var t) ? t
                    : throw new BadInputException("--key", $"\"{text}\": a key tag is a number from 0 to 65535")
                : null;
            if (tag is not null && r.GetValue(ksk)) throw new BadInputException("--ksk", "give --key or --ksk, not both");
            var (next, fresh) = KeyRollover.Start(set, path, tag, r.GetValue(ksk) ? "KSK" : null, timing, now);
            using (next)
            {
                next.Save(path, overwrite: true);
                Console.WriteLine($"{path}: new {next.RoleOf(fresh)} algorithm {(byte)fresh.Algorithm} key tag {fresh.KeyTag}");
                Console.WriteLine($"{path}: {KeyRollover.Next(next, timing, now)}");
            }
            return ExitCodes.Ok;
        }));
        var status = new Command("status", "Print each key's role, state and times, and where a rollover is and when its next step is due") { dsTtl };
        status.SetAction(r => Run.Guarded(() =>
        {
            var path = KeysPath(r, keys);
            var now = DateTimeOffset.UtcNow;
            using var set = DnssecKeySet.Load(path, now);
            foreach (var k in set.Keys)
            {
                Console.WriteLine($"{set.RoleOf(k)} {k.KeyTag} algorithm {(byte)k.Algorithm} {set.StateOf(k).ToString().ToLowerInvariant()}: published {When(k.Published)}, active {When(k.Activated)}, retired {When(k.Retired)}, removed {When(k.Removed)}"
                    + (k.Successor is { } s ? $", successor {s}" : ""));
            }
            Console.WriteLine(KeyRollover.Next(set, Timing(r, set, r.GetValue(dsTtl)), now));
            return ExitCodes.Ok;
        }));
        command.Add(keygen);
        command.Add(ds);
        command.Add(dnskey);
        command.Add(rollover);
        command.Add(status);
        return command;
    }

    private static string When(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) : "-";

    /// <summary>The zone's TTLs as <c>--config</c> sets them (the defaults without one), the key set checked at every store poll.</summary>
    private static RolloverTiming Timing(ParseResult r, DnssecKeySet set, uint dsTtl)
    {
        var file = GlobalOptions.ConfigFile(r);
        var zone = new CertDns.Dns.ZoneOptions { Apex = set.Zone.TrimEnd('.') };
        if (file is not null) zone = CertDns.Server.Configuration.CertDnsConfigLoader.ZoneOptionsFrom(file, zone);
        return RolloverTiming.For(zone, TimeSpan.FromSeconds(file?.Poll ?? 1.0), TimeSpan.FromSeconds(dsTtl));
    }

    private static string KeysPath(ParseResult r, Option<string?> keys) =>
        r.GetValue(keys) ?? GlobalOptions.ConfigFile(r)?.DnssecKeys
        ?? throw new BadInputException("--keys", "no key set file named (give --keys, or zone.dnssec-keys in --config)");
}
