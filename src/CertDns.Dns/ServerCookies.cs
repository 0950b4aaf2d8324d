using System.Buffers.Binary;
using CertDns.Core;

namespace CertDns.Dns;

/// <summary>What a query's DNS COOKIE option (RFC 7873) turned out to be.</summary>
public enum CookieOutcome
{
    /// <summary>No COOKIE option, or cookies are off.</summary>
    None,

    /// <summary>A client cookie alone (RFC 7873 section 5.2.3): answered, with a server cookie to learn.</summary>
    ClientOnly,

    /// <summary>A server cookie this server made for this client, recent enough (RFC 7873 section 5.2.5): exempt from rate limiting.</summary>
    Valid,

    /// <summary>A server cookie that is not ours, not this client's, or too old (RFC 7873 section 5.2.4).</summary>
    Invalid,

    /// <summary>An option of a length no cookie has (RFC 7873 section 5.2.2): FORMERR.</summary>
    Malformed,
}

/// <summary>
/// Server cookies as RFC 9018 makes them, so that an anycast set of different servers sharing a secret accept each
/// other's: version 1, three reserved octets, a 32-bit timestamp, and SipHash-2-4 over the client cookie, those eight
/// octets and the client's address (section 4.4). A cookie is valid for an hour and five minutes ahead (section 4.3).
/// Rotation (section 5): the secret being replaced stays accepted, so clients holding its cookies are not refused
/// while they learn new ones. Thread-safe; checking allocates nothing.
/// </summary>
public sealed class ServerCookies
{
    /// <summary>RFC 7873 section 4: the client cookie is eight octets.</summary>
    public const int ClientCookieLength = 8;

    /// <summary>RFC 9018 section 4: the server cookie this server makes.</summary>
    public const int ServerCookieLength = 16;

    /// <summary>The COOKIE option this server answers with: the client cookie, then its server cookie.</summary>
    public const int ResponseLength = ClientCookieLength + ServerCookieLength;

    /// <summary>The server secret's length: SipHash-2-4's key.</summary>
    public const int SecretLength = SipHash.KeyLength;

    private const byte Version = 1;
    // RFC 9018 section 4.3: older than an hour, or more than five minutes ahead, the cookie is not accepted.
    private const int MaxAge = 3600;
    private const int MaxAhead = 300;
    // Section 4.3: a valid cookie under half an hour old may be sent back as it is; an older one is renewed.
    private const int RenewAfter = 1800;

    private readonly TimeProvider _time;
    private Secrets _secrets;

    /// <summary>Cookies made with <paramref name="secret"/>, and those made with <paramref name="previous"/> still accepted.</summary>
    /// <exception cref="ArgumentException">A secret is not 16 octets.</exception>
    public ServerCookies(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> previous, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _secrets = new Secrets(Check(secret), previous.IsEmpty ? null : Check(previous));
    }

    /// <summary>Cookies under a secret drawn at random: good for one server, not for an anycast set (each would refuse the others').</summary>
    public static ServerCookies Random(TimeProvider time) => new(KernelRandom.GetBytes(SecretLength), default, time);

    /// <summary>
    /// Makes <paramref name="secret"/> the one new cookies are made with; the one it replaces stays accepted (RFC 9018
    /// section 5), the one before that no longer. One reference swap: a query sees the old pair or the new one.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="secret"/> is not 16 octets.</exception>
    public void Rotate(ReadOnlySpan<byte> secret)
    {
        var next = Check(secret);
        Volatile.Write(ref _secrets, new Secrets(next, Volatile.Read(ref _secrets).Current));
    }

    /// <summary>
    /// Checks a query's COOKIE option data (<paramref name="option"/>: the client cookie, then any server cookie) for
    /// the client at <paramref name="clientAddress"/> (4 or 16 octets), and writes the option to answer with into
    /// <paramref name="response"/> (<see cref="ResponseLength"/> octets) unless the option is malformed.
    /// </summary>
    public CookieOutcome Check(ReadOnlySpan<byte> option, ReadOnlySpan<byte> clientAddress, Span<byte> response)
    {
        // RFC 7873 section 5.2.2: eight octets of client cookie, or a server cookie of 8 to 32 octets with it.
        if (option.Length != ClientCookieLength && option.Length is < ClientCookieLength + 8 or > ClientCookieLength + 32) return CookieOutcome.Malformed;
        var client = option[..ClientCookieLength];
        var presented = option[ClientCookieLength..];
        var secrets = Volatile.Read(ref _secrets);
        uint now = (uint)_time.GetUtcNow().ToUnixTimeSeconds();
        client.CopyTo(response);
        var server = response.Slice(ClientCookieLength, ServerCookieLength);

        var outcome = CookieOutcome.ClientOnly;
        if (!presented.IsEmpty)
        {
            outcome = CookieOutcome.Invalid;
            if (presented.Length == ServerCookieLength && presented[0] == Version)
            {
                uint stamp = BinaryPrimitives.ReadUInt32BigEndian(presented[4..]);
                // RFC 1982 serial arithmetic: the timestamp wraps in 2106.
                int age = (int)(now - stamp);
                if (age is >= -MaxAhead and <= MaxAge)
                {
                    if (Matches(secrets.Current, client, presented, clientAddress))
                    {
                        outcome = CookieOutcome.Valid;
                        if (age is >= 0 and < RenewAfter)
                        {
                            presented.CopyTo(server);
                            return outcome;
                        }
                    }
                    else if (secrets.Previous is { } previous && Matches(previous, client, presented, clientAddress))
                    {
                        outcome = CookieOutcome.Valid;
                    }
                }
            }
        }
        Make(secrets.Current, client, now, clientAddress, server);
        return outcome;
    }

    /// <summary>The server cookie for <paramref name="client"/> at <paramref name="clientAddress"/> with timestamp <paramref name="stamp"/>.</summary>
    internal static void Make(byte[] secret, ReadOnlySpan<byte> client, uint stamp, ReadOnlySpan<byte> clientAddress, Span<byte> server)
    {
        server[0] = Version;
        server[1] = server[2] = server[3] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(server[4..], stamp);
        BinaryPrimitives.WriteUInt64LittleEndian(server[8..], Hash(secret, client, server[..8], clientAddress));
    }

    private static bool Matches(byte[] secret, ReadOnlySpan<byte> client, ReadOnlySpan<byte> presented, ReadOnlySpan<byte> clientAddress) =>
        BinaryPrimitives.ReadUInt64LittleEndian(presented[8..]) == Hash(secret, client, presented[..8], clientAddress);

    /// <summary>RFC 9018 section 4.4: SipHash-2-4 ( Client Cookie | Version | Reserved | Timestamp | Client-IP, Server Secret ).</summary>
    private static ulong Hash(byte[] secret, ReadOnlySpan<byte> client, ReadOnlySpan<byte> head, ReadOnlySpan<byte> clientAddress)
    {
        Span<byte> input = stackalloc byte[ClientCookieLength + 8 + 16];
        client.CopyTo(input);
        head.CopyTo(input[ClientCookieLength..]);
        int address = Math.Min(clientAddress.Length, 16);
        clientAddress[..address].CopyTo(input[(ClientCookieLength + 8)..]);
        return SipHash.Hash(secret, input[..(ClientCookieLength + 8 + address)]);
    }

    private static byte[] Check(ReadOnlySpan<byte> secret) =>
        secret.Length == SecretLength ? secret.ToArray() : throw new ArgumentException($"a cookie secret is {SecretLength} octets", nameof(secret));

    private sealed record Secrets(byte[] Current, byte[]? Previous);
}
