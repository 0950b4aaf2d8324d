using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CertDns.Core;
using CertDns.Dns;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace CertDns.Server.Configuration;

/// <summary>
/// Reads <c>certdns.toml</c> (TOML 1.0, through Tomlyn's syntax tree so every refusal names its line): known keys only,
/// each value checked, the first fault refused as <c>FILE:LINE: KEY: reason</c>. The zone's identity (name servers,
/// glue, SOA contact) is also checked as <see cref="Zone"/> would take it, so <c>config check</c> refuses what
/// <c>serve</c> would.
/// </summary>
public static class CertDnsConfigLoader
{
    /// <summary>The tables a file may have; every key lives in one of them.</summary>
    private static readonly string[] Tables = ["store", "zone", "zone.glue", "zone.soa", "server", "metrics", "journal", "log", "rrl", "cookies", "complaints"];

    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    /// <exception cref="BadInputException">The file is missing, is not TOML, or has an unknown key or a bad value.</exception>
    public static CertDnsConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new BadInputException(path, "is a folder, expected a configuration file");
        if (!File.Exists(path)) throw new BadInputException(path, "no such file");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException(path, $"cannot read: {e.Message}");
        }
        var config = Parse(text, path);
        if (config.Keys is { Count: > 0 } && !OperatingSystem.IsWindows())
        {
            // A secret in a file others can read is anyone's key to the zone's transfers.
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.OtherRead | UnixFileMode.GroupRead)) != 0) config = config with { SecretReadableByOthers = true };
        }
        return config;
    }

    /// <summary>Checks <paramref name="text"/> as if read from <paramref name="path"/>.</summary>
    /// <exception cref="BadInputException">Not TOML, an unknown key or a bad value.</exception>
    public static CertDnsConfig Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        DocumentSyntax document;
        try
        {
            document = SyntaxParser.Parse(text, path);
        }
        catch (Exception e) when (e is Tomlyn.TomlException or ArgumentException or InvalidOperationException)
        {
            throw new BadInputException(path, $"not TOML: {e.Message}");
        }
        if (document.HasErrors)
        {
            var first = document.Diagnostics.First(d => d.Kind == DiagnosticMessageKind.Error);
            throw new BadInputException($"{path}:{first.Span.Start.Line + 1}", $"not TOML: {first.Message}");
        }

        var entries = new List<Entry>();
        var arrays = new List<(string Table, int Line, List<Entry> Items)>();
        foreach (var kv in document.KeyValues) Collect(entries, [], kv, path);
        foreach (var table in document.Tables)
        {
            int line = table.Span.Start.Line + 1;
            if (table is TableArraySyntax array && array.Name is not null)
            {
                // [[key]], [[transfer]], [[notify]]: one table per entry, each entry's keys checked on their own.
                var arrayName = string.Join('.', KeyParts(array.Name));
                if (!ArrayTables.Contains(arrayName, StringComparer.Ordinal))
                    throw new BadInputException($"{path}:{line}", $"arrays of tables other than {string.Join(", ", ArrayTables.Select(t => $"[[{t}]]"))} are not part of certdns.toml ([[{arrayName}]])");
                var items = new List<Entry>();
                foreach (var kv in array.Items) Collect(items, [arrayName], kv, path);
                arrays.Add((arrayName, line, items));
                continue;
            }
            if (table is not TableSyntax || table.Name is null)
                throw new BadInputException($"{path}:{line}", "arrays of tables ([[...]]) are not part of certdns.toml");
            var name = KeyParts(table.Name);
            var joined = string.Join('.', name);
            if (!Tables.Contains(joined, StringComparer.Ordinal))
                throw new BadInputException($"{path}:{line}", $"[{joined}]: unknown table (known: {string.Join(", ", Tables)})");
            foreach (var kv in table.Items) Collect(entries, name, kv, path);
        }
        return Tsig(Build(entries, path), arrays, path);
    }

    // TSIG (RFC 8945): [[key]], [[transfer]], [[notify]].

    /// <summary>The arrays of tables a file may have.</summary>
    private static readonly string[] ArrayTables = ["key", "transfer", "notify"];

    /// <summary>
    /// Reads the [[key]], [[transfer]] and [[notify]] entries: every key of an entry known, the secret base64 and long
    /// enough, each key name given once and every one used defined. A refusal never shows a secret.
    /// </summary>
    private static CertDnsConfig Tsig(CertDnsConfig config, List<(string Table, int Line, List<Entry> Items)> arrays, string path)
    {
        var keys = new Dictionary<string, TsigKey>(StringComparer.OrdinalIgnoreCase);
        foreach (var (table, line, items) in arrays.Where(a => a.Table == "key"))
        {
            string? name = null, secret = null;
            int secretLine = line;
            var algorithm = TsigAlgorithm.HmacSha256;
            foreach (var e in items)
            {
                switch (e.Key)
                {
                    case "key.name": name = NonEmpty(e, path); break;
                    case "key.algorithm":
                        if (!TsigKey.TryParseAlgorithm(Single(e, path), out algorithm))
                            throw Bad(e, path, "expected hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1");
                        break;
                    case "key.secret":
                        secret = Single(e, path);
                        secretLine = e.Line;
                        break;
                    default: throw Bad(e, path, "unknown key (a [[key]] has name, algorithm, secret)");
                }
            }
            if (name is null) throw new BadInputException($"{path}:{line}", "[[key]]: name is missing");
            if (secret is null) throw new BadInputException($"{path}:{line}", $"[[key]] \"{name}\": secret is missing");
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(secret.Trim());
            }
            catch (FormatException)
            {
                throw new BadInputException($"{path}:{secretLine}", $"key.secret: [[key]] \"{name}\": not base64 (tsig-keygen prints one)");
            }
            TsigKey key;
            try
            {
                key = new TsigKey(name, algorithm, bytes);
            }
            catch (ArgumentException x)
            {
                throw new BadInputException($"{path}:{(x.ParamName == "secret" ? secretLine : line)}", $"{(x.ParamName == "secret" ? "key.secret" : "key.name")}: {x.Message.Split(" (Parameter", 2)[0]}");
            }
            if (!keys.TryAdd(key.Name, key)) throw new BadInputException($"{path}:{line}", $"key.name: \"{key.Name}\" given twice");
        }

        TsigKey? KeyNamed(Entry e) => keys.TryGetValue(NonEmpty(e, path).Trim().TrimEnd('.'), out var k) ? k
            : throw Bad(e, path, $"no [[key]] named \"{Single(e, path)}\"");

        var transfers = new List<TransferRule>();
        var notifies = new List<NotifyTarget>();
        foreach (var (table, line, items) in arrays.Where(a => a.Table != "key"))
        {
            string? address = null;
            Entry? addressEntry = null;
            TsigKey? key = null;
            foreach (var e in items)
            {
                if (e.Key == $"{table}.address")
                {
                    address = NonEmpty(e, path);
                    addressEntry = e;
                }
                else if (e.Key == $"{table}.key") key = KeyNamed(e);
                else throw Bad(e, path, $"unknown key (a [[{table}]] has address, key)");
            }
            if (address is null || addressEntry is null) throw new BadInputException($"{path}:{line}", $"[[{table}]]: address is missing");
            if (table == "transfer") transfers.Add(new TransferRule(Prefix(addressEntry, path, address), key));
            else notifies.Add(new NotifyTarget(Endpoint(addressEntry, path, address, listen: false), key));
        }
        return config with
        {
            Keys = keys.Count > 0 ? [.. keys.Values] : config.Keys,
            Transfers = transfers.Count > 0 ? transfers : config.Transfers,
            NotifyTargets = notifies.Count > 0 ? notifies : config.NotifyTargets,
        };
    }

    /// <summary>An address (a /32 or /128) or a prefix, IPv4 or IPv6, without host bits past the prefix.</summary>
    private static IPNetwork Prefix(Entry e, string path, string text)
    {
        if (!text.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(text, out var ip))
            return new IPNetwork(ip, ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
        // A prefix with host bits set (192.0.2.1/24) is a typo for an address or for the network: refused, not guessed.
        if (IPNetwork.TryParse(text, out var network) && IPAddress.TryParse(text.Split('/')[0], out var given) && given.Equals(network.BaseAddress)) return network;
        throw Bad(e, path, $"\"{text}\" is not an address or prefix (e.g. 192.0.2.53, 192.0.2.0/24, 2001:db8::/64)");
    }

    private sealed record Entry(string Key, string[] Parts, ValueSyntax Value, int Line);

    private static void Collect(List<Entry> entries, string[] prefix, KeyValueSyntax kv, string path)
    {
        var parts = prefix.Concat(KeyParts(kv.Key!)).ToArray();
        int line = kv.Span.Start.Line + 1;
        // An inline table ({ refresh = 3600 }) is the same keys written on one line.
        if (kv.Value is InlineTableSyntax inline && !IsGlue(parts))
        {
            foreach (var item in inline.Items) Collect(entries, parts, item.KeyValue!, path);
            return;
        }
        entries.Add(new Entry(string.Join('.', parts), parts, kv.Value!, line));
    }

    // zone.glue = { "ns1.status.example" = [...] } is a table of names: kept whole and read as one.
    private static bool IsGlue(string[] parts) => parts is ["zone", "glue"];

    private static string[] KeyParts(KeySyntax key)
    {
        var parts = new List<string> { Part(key.Key!) };
        foreach (var dotted in key.DotKeys) parts.Add(Part(dotted.Key!));
        return [.. parts];
    }

    private static string Part(BareKeyOrStringValueSyntax key) => key switch
    {
        BareKeySyntax bare => bare.Key!.Text!,
        StringValueSyntax quoted => quoted.Value!,
        _ => key.ToString()!,
    };

    private static CertDnsConfig Build(List<Entry> entries, string path)
    {
        var config = new CertDnsConfig { Path = path };
        var glue = new List<(string Name, IReadOnlyList<IPAddress> Addresses, int Line)>();
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            lines[e.Key] = e.Line;
            if (e.Parts.Length >= 3 && e.Parts[0] == "zone" && e.Parts[1] == "glue")
            {
                // [zone.glue] ns1.status.example = [...]: an unquoted name is a dotted key, its labels the rest of the path.
                glue.Add((string.Join('.', e.Parts[2..]).TrimEnd('.'), Strings(e, path).Select(s => Address(e, path, s)).ToList(), e.Line));
                continue;
            }
            if (e.Key == "zone.glue" && e.Value is InlineTableSyntax names)
            {
                foreach (var item in names.Items)
                {
                    var sub = new Entry(e.Key + "." + string.Join('.', KeyParts(item.KeyValue!.Key!)), [], item.KeyValue.Value!, item.KeyValue.Span.Start.Line + 1);
                    glue.Add((string.Join('.', KeyParts(item.KeyValue.Key!)).TrimEnd('.'), Strings(sub, path).Select(s => Address(sub, path, s)).ToList(), sub.Line));
                }
                continue;
            }
            config = e.Key switch
            {
                "store.path" => config with { StorePath = NonEmpty(e, path) },
                "zone.name" => config with { ZoneName = ZoneName(e, path) },
                "zone.ns" => config with { NameServers = NameServers(e, path) },
                "zone.soa-contact" => config with { SoaRname = Rname(e, path) },
                "zone.soa.refresh" => config with { Refresh = Integer(e, path, 1, int.MaxValue) },
                "zone.soa.retry" => config with { Retry = Integer(e, path, 1, int.MaxValue) },
                "zone.soa.expire" => config with { Expire = Integer(e, path, 1, int.MaxValue) },
                "zone.soa.minimum" => config with { Minimum = Integer(e, path, 0, 86400) },
                "zone.ttl" => config with { Ttl = Integer(e, path, 1, 86400) },
                "zone.forms" => config with { Forms = Forms(e, path) },
                "zone.dnssec" => config with { Dnssec = Boolean(e, path) },
                "zone.dnssec-keys" => config with { DnssecKeys = NonEmpty(e, path) },
                "server.listen" => config with { Listen = Strings(e, path).Select(s => Endpoint(e, path, s, listen: true)).ToList() },
                "server.poll" => config with { Poll = Number(e, path, 0, 3600, exclusiveMin: true) },
                "server.udp-threads" => config with { UdpThreads = Integer(e, path, 1, 256) },
                "server.allow-transfer" => config with { AllowTransfer = Strings(e, path).Select(s => Address(e, path, s)).ToList() },
                "server.notify" => config with { Notify = Strings(e, path).Select(s => Endpoint(e, path, s, listen: false)).ToList() },
                "server.time-changes" => config with { TimeChanges = Number(e, path, 0, 86400, exclusiveMin: false) },
                "metrics.listen" => config with { MetricsListen = Endpoint(e, path, Single(e, path), listen: true) },
                // [journal]: IXFR journal bounds.
                "journal.max-size" => config with { JournalMaxSize = Integer(e, path, 0, int.MaxValue) },
                "journal.max-age" => config with { JournalMaxAge = Number(e, path, 0, 366 * 86400, exclusiveMin: true) },
                // [log]: the dnstap query log.
                "log.dnstap" => config with { Dnstap = DnstapTarget(e, path) },
                "log.dnstap-queue" => config with { DnstapQueue = Integer(e, path, 1, MaxDnstapQueue) },
                "log.dnstap-queries" => config with { DnstapQueries = Boolean(e, path) },
                "log.dnstap-responses" => config with { DnstapResponses = Boolean(e, path) },
                // Response rate limiting and DNS cookies.
                "rrl.enable" => config with { RrlEnable = Boolean(e, path) },
                "rrl.responses-per-second" => config with { Rrl = Rrl(config) with { ResponsesPerSecond = Integer(e, path, 1, 1_000_000) } },
                "rrl.nxdomains-per-second" => config with { Rrl = Rrl(config) with { NxDomainsPerSecond = Integer(e, path, 1, 1_000_000) } },
                "rrl.errors-per-second" => config with { Rrl = Rrl(config) with { ErrorsPerSecond = Integer(e, path, 1, 1_000_000) } },
                "rrl.slip" => config with { Rrl = Rrl(config) with { Slip = Integer(e, path, 0, 10) } },
                "rrl.window" => config with { Rrl = Rrl(config) with { Window = Integer(e, path, 1, 3600) } },
                "rrl.ipv4-prefix-length" => config with { Rrl = Rrl(config) with { Ipv4PrefixLength = Integer(e, path, 1, 32) } },
                "rrl.ipv6-prefix-length" => config with { Rrl = Rrl(config) with { Ipv6PrefixLength = Integer(e, path, 1, 64) } },
                "rrl.table-size" => config with { Rrl = Rrl(config) with { TableSize = Integer(e, path, 4, 1 << 24) } },
                "cookies.enable" => config with { CookiesEnable = Boolean(e, path) },
                "cookies.secret" => config with { CookieSecret = CookieSecret(e, path) },
                "cookies.previous-secret" => config with { CookiePreviousSecret = CookieSecret(e, path) },
                // [complaints]: checked by the verbs that send (report, complaints expire), as their flags are.
                "complaints.sendmail" => config with { ComplaintsSendmail = NonEmpty(e, path) },
                "complaints.from" => config with { ComplaintsFrom = NonEmpty(e, path) },
                _ => throw Bad(e, path, "unknown key"),
            };
        }
        if (glue.Count > 0)
        {
            var byName = new Dictionary<string, IReadOnlyList<IPAddress>>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, addresses, line) in glue)
            {
                if (addresses.Count == 0) throw new BadInputException($"{path}:{line}", $"zone.glue.\"{name}\": no address");
                if (!byName.TryAdd(name, addresses)) throw new BadInputException($"{path}:{line}", $"zone.glue.\"{name}\": given twice");
            }
            config = config with { Glue = byName };
        }
        CheckZone(config, path, lines);
        return config;
    }

    /// <summary>The zone identity as <see cref="Zone"/> checks it: in-zone name servers with glue, glue only for them.</summary>
    private static void CheckZone(CertDnsConfig config, string path, Dictionary<string, int> lines)
    {
        if (config.NameServers is null && config.Glue is null && config.SoaRname is null) return;
        var options = ZoneOptionsFrom(config, new ZoneOptions { Apex = config.ZoneName ?? new ZoneOptions().Apex });
        try
        {
            _ = new Zone(options);
        }
        catch (ArgumentException e)
        {
            string key = e.Message.Contains("glue", StringComparison.Ordinal) && config.Glue is not null ? "zone.glue" : config.NameServers is not null ? "zone.ns" : "zone.soa-contact";
            int line = lines.Where(l => l.Key.StartsWith(key, StringComparison.Ordinal)).Select(l => l.Value).DefaultIfEmpty(1).Min();
            throw new BadInputException($"{path}:{line}", $"{key}: {e.Message.Split(" (Parameter", 2)[0]}");
        }
    }

    /// <summary>The zone keys of <paramref name="config"/> laid over <paramref name="defaults"/>.</summary>
    public static ZoneOptions ZoneOptionsFrom(CertDnsConfig config, ZoneOptions defaults)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(defaults);
        var o = defaults;
        if (config.NameServers is { } ns) o = o with { NameServers = ns };
        if (config.Glue is { } glue) o = o with { Glue = glue };
        if (config.SoaRname is { } rname) o = o with { Hostmaster = rname };
        if (config.Refresh is { } refresh) o = o with { Refresh = refresh };
        if (config.Retry is { } retry) o = o with { Retry = retry };
        if (config.Expire is { } expire) o = o with { Expire = expire };
        if (config.Minimum is { } minimum) o = o with { Minimum = minimum };
        if (config.Ttl is { } ttl) o = o with { MaxTtl = ttl };
        return o;
    }

    // Response rate limiting and DNS cookies.
    private static RateLimitOptions Rrl(CertDnsConfig config) => config.Rrl ?? new RateLimitOptions();

    private static bool Boolean(Entry e, string path) =>
        e.Value is BooleanValueSyntax b ? b.Value : throw Bad(e, path, "expected true or false");

    private static byte[] CookieSecret(Entry e, string path)
    {
        var text = Single(e, path).Trim();
        if (text.Length == 2 * ServerCookies.SecretLength && text.All(Uri.IsHexDigit)) return Convert.FromHexString(text);
        throw Bad(e, path, $"expected {2 * ServerCookies.SecretLength} hex digits (a 16-octet secret, e.g. from: openssl rand -hex 16)");
    }

    private static BadInputException Bad(Entry e, string path, string reason) => new($"{path}:{e.Line}", $"{e.Key}: {reason}");

    private static string Single(Entry e, string path) =>
        e.Value is StringValueSyntax { Value: { } s } ? s : throw Bad(e, path, "expected a string");

    private static string NonEmpty(Entry e, string path) =>
        Single(e, path) is { Length: > 0 } s ? s : throw Bad(e, path, "must not be empty");

    /// <summary>A list of strings; one string alone is taken as a list of one.</summary>
    private static List<string> Strings(Entry e, string path)
    {
        if (e.Value is StringValueSyntax) return [Single(e, path)];
        if (e.Value is not ArraySyntax array) throw Bad(e, path, "expected a list of strings");
        var list = new List<string>();
        foreach (var item in array.Items)
            list.Add(item.Value is StringValueSyntax { Value: { } s } ? s : throw Bad(e, path, "expected a list of strings"));
        return list;
    }

    private static int Integer(Entry e, string path, int min, int max) =>
        e.Value is IntegerValueSyntax i && i.Value >= min && i.Value <= max
            ? (int)i.Value
            : throw Bad(e, path, string.Create(CultureInfo.InvariantCulture, $"expected a whole number from {min} to {max}"));

    private static double Number(Entry e, string path, double min, double max, bool exclusiveMin)
    {
        double? value = e.Value switch
        {
            IntegerValueSyntax i => i.Value,
            FloatValueSyntax f => f.Value,
            _ => null,
        };
        if (value is { } v && !double.IsNaN(v) && (exclusiveMin ? v > min : v >= min) && v <= max) return v;
        throw Bad(e, path, string.Create(CultureInfo.InvariantCulture, $"expected seconds, {(exclusiveMin ? "above" : "from")} {min} to {max}"));
    }

    private static string ZoneName(Entry e, string path)
    {
        var name = Single(e, path).Trim().TrimEnd('.').ToLowerInvariant();
        if (name.Length == 0 || name.Split('.').Any(l => l.Length is 0 or > QueryName.MaxLabelLength) || name.Length > 253 || name.Any(c => c <= ' ' || c >= 0x7F))
            throw Bad(e, path, $"\"{name}\" is not a valid zone name");
        return name;
    }

    private static List<string> NameServers(Entry e, string path)
    {
        var names = Strings(e, path);
        if (names.Count == 0) throw Bad(e, path, "at least one name server");
        if (names.Count > Zone.MaxNameServers) throw Bad(e, path, string.Create(CultureInfo.InvariantCulture, $"at most {Zone.MaxNameServers} name servers"));
        return names.Select(n => n.Trim().TrimEnd('.')).ToList();
    }

    private static string Rname(Entry e, string path)
    {
        try
        {
            return ZoneOptions.RnameFromEmail(Single(e, path).Trim());
        }
        catch (ArgumentException x)
        {
            throw Bad(e, path, x.Message.Split(" (Parameter", 2)[0]);
        }
    }

    private static string Forms(Entry e, string path)
    {
        var joined = string.Join(',', Strings(e, path));
        try
        {
            _ = PublishedNames.Parse(joined, e.Key);
        }
        catch (BadInputException x)
        {
            throw Bad(e, path, x.Reason);
        }
        return joined;
    }

    /// <summary>The largest <c>log.dnstap-queue</c> (and <c>--dnstap-queue</c>): a slot is about a kilobyte.</summary>
    public const int MaxDnstapQueue = 1 << 20;

    private static string DnstapTarget(Entry e, string path) =>
        CheckDnstapTarget(NonEmpty(e, path)) is { } reason ? throw Bad(e, path, reason) : Single(e, path);

    /// <summary>Why <paramref name="target"/> is no query log target (a file path, or <c>unix:</c> and an absolute socket path); null when it is one.</summary>
    public static string? CheckDnstapTarget(string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.StartsWith("unix:", StringComparison.Ordinal))
            return target.Length > 5 && target[5] == '/' ? null : "expected unix: and an absolute socket path, e.g. unix:/run/certdns/dnstap.sock";
        if (target.Length == 0) return "must not be empty";
        if (Directory.Exists(target)) return $"\"{target}\" is a folder, expected a file";
        return null;
    }

    private static IPAddress Address(Entry e, string path, string text) =>
        IPAddress.TryParse(text, out var ip) && !text.Contains('/', StringComparison.Ordinal) ? ip : throw Bad(e, path, $"\"{text}\" is not an IP address");

    /// <summary>address:port, IPv6 in brackets; port 0 only where a listener may take any free port.</summary>
    private static IPEndPoint Endpoint(Entry e, string path, string text, bool listen)
    {
        bool hasPort = text.StartsWith('[') ? text.Contains("]:", StringComparison.Ordinal) : text.Count(c => c == ':') == 1;
        if (IPEndPoint.TryParse(text, out var endpoint) && hasPort && (listen || endpoint.Port != 0)
            && endpoint.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            return endpoint;
        throw Bad(e, path, $"\"{text}\" is not address:port (e.g. 127.0.0.1:53 or [::1]:53)");
    }
}
