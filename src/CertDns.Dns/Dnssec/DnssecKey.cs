using System.Buffers.Binary;
using System.Security.Cryptography;
using NSec.Cryptography;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// One DNSSEC key of a zone: its DNSKEY RDATA (RFC 4034 section 2), key tag (appendix B), DS (RFC 4509), state and
/// timing, and the private half that signs. ECDSA P-256 signs with .NET's <see cref="ECDsa"/> in IEEE P1363 form
/// (r and s each left-padded to 32 octets, RFC 6605 section 4), one instance per thread since an OpenSSL key handle is
/// not documented safe to share; Ed25519 with NSec (libsodium), which is.
/// </summary>
public sealed class DnssecKey : IDisposable
{
    /// <summary>Both algorithms' signatures are 64 octets.</summary>
    public const int SignatureLength = 64;

    private readonly ECParameters _ecParameters;
    private readonly ThreadLocal<ECDsa>? _ecdsa;
    private readonly Key? _ed25519;

    private DnssecKey(DnssecAlgorithm algorithm, ushort flags, ECParameters ecParameters, Key? ed25519, byte[] publicKey)
    {
        Algorithm = algorithm;
        Flags = flags;
        _ecParameters = ecParameters;
        _ed25519 = ed25519;
        if (algorithm == DnssecAlgorithm.EcdsaP256Sha256)
        {
            _ecdsa = new ThreadLocal<ECDsa>(() => ECDsa.Create(_ecParameters), trackAllValues: true);
        }
        PublicKey = publicKey;
        DnskeyRdata = new byte[4 + publicKey.Length];
        BinaryPrimitives.WriteUInt16BigEndian(DnskeyRdata, flags);
        DnskeyRdata[2] = DnssecType.Protocol;
        DnskeyRdata[3] = (byte)algorithm;
        publicKey.CopyTo(DnskeyRdata, 4);
        KeyTag = ComputeKeyTag(DnskeyRdata);
    }

    public DnssecAlgorithm Algorithm { get; }

    /// <summary>DNSKEY flags: 257 for a key-signing key (SEP bit), 256 for a zone-signing key.</summary>
    public ushort Flags { get; }

    public bool IsKeySigningKey => (Flags & 1) != 0;

    /// <summary>The DNSKEY public key field: Q.x || Q.y for ECDSA (RFC 6605 section 4), the 32-octet key for Ed25519 (RFC 8080 section 3).</summary>
    public byte[] PublicKey { get; }

    /// <summary>The whole DNSKEY RDATA: flags, protocol 3, algorithm, public key.</summary>
    public byte[] DnskeyRdata { get; }

    public ushort KeyTag { get; }

    /// <summary>The state the file gave, for a key without times; otherwise <see cref="StateAt"/> decides.</summary>
    public DnssecKeyState State { get; set; } = DnssecKeyState.Active;

    public DateTimeOffset Created { get; set; }

    /// <summary>
    /// When the key enters the DNSKEY RRset, starts signing, stops signing and leaves the DNSKEY RRset (RFC 7583
    /// section 3.1's Tpub, Tact, Tret, Trem); null for not planned.
    /// </summary>
    public DateTimeOffset? Published { get; set; }

    public DateTimeOffset? Activated { get; set; }

    public DateTimeOffset? Retired { get; set; }

    public DateTimeOffset? Removed { get; set; }

    /// <summary>The key tag of the key that replaces this one in a rollover (RFC 7583's successor); null when none.</summary>
    public ushort? Successor { get; set; }

    /// <summary>
    /// The key's state at <paramref name="at"/>, from its times: the latest of published, activated, retired and
    /// removed that has come. A key with no times at all keeps the state the file gave it.
    /// </summary>
    public DnssecKeyState StateAt(DateTimeOffset at)
    {
        if (Published is null && Activated is null && Retired is null && Removed is null) return State;
        if (Removed is { } removed && at >= removed) return DnssecKeyState.Removed;
        if (Retired is { } retired && at >= retired) return DnssecKeyState.Retired;
        if (Activated is { } activated && at >= activated) return DnssecKeyState.Active;
        if (Published is { } published && at >= published) return DnssecKeyState.Published;
        return DnssecKeyState.Generated;
    }

    /// <summary>Whether a key in <paramref name="state"/> belongs in the DNSKEY RRset (published, active or retired).</summary>
    public static bool InDnskeyRrset(DnssecKeyState state) => state is DnssecKeyState.Published or DnssecKeyState.Active or DnssecKeyState.Retired;

    /// <summary>A new key from the system's random source.</summary>
    public static DnssecKey Generate(DnssecAlgorithm algorithm, bool keySigningKey, DateTimeOffset now)
    {
        ushort flags = keySigningKey ? DnssecType.SecureEntryPointFlags : DnssecType.ZoneKeyFlags;
        DnssecKey key = algorithm switch
        {
            DnssecAlgorithm.EcdsaP256Sha256 => FromEcdsa(flags, GenerateEcdsa()),
            DnssecAlgorithm.Ed25519 => FromEd25519(flags, Key.Create(SignatureAlgorithm.Ed25519,
                new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport })),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unsupported DNSSEC algorithm"),
        };
        key.Created = now;
        key.Published = now;
        key.Activated = now;
        return key;
    }

    private static ECParameters GenerateEcdsa()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return ecdsa.ExportParameters(includePrivateParameters: true);
    }

    /// <summary>
    /// A key from its private half as the key set file keeps it: the 32-octet private scalar d for ECDSA P-256, the
    /// 32-octet seed for Ed25519 (both base64 in the file, as BIND's <c>PrivateKey:</c> field).
    /// </summary>
    public static DnssecKey FromPrivate(DnssecAlgorithm algorithm, ushort flags, ReadOnlySpan<byte> privateKey)
    {
        if (flags is not (DnssecType.ZoneKeyFlags or DnssecType.SecureEntryPointFlags))
            throw new FormatException($"DNSKEY flags {flags}: only 256 (ZSK) and 257 (KSK) are used");
        if (privateKey.Length != 32)
            throw new FormatException($"private key of algorithm {(byte)algorithm} is {privateKey.Length} octets, not 32");
        switch (algorithm)
        {
            case DnssecAlgorithm.EcdsaP256Sha256:
                // Import d alone: .NET derives Q from it.
                using (var ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = privateKey.ToArray() }))
                {
                    return FromEcdsa(flags, ecdsa.ExportParameters(includePrivateParameters: true));
                }
            case DnssecAlgorithm.Ed25519:
                return FromEd25519(flags, Key.Import(SignatureAlgorithm.Ed25519, privateKey, KeyBlobFormat.RawPrivateKey,
                    new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
            default:
                throw new FormatException($"DNSSEC algorithm {(byte)algorithm} is not supported (13 ECDSA P-256, 15 Ed25519)");
        }
    }

    private static DnssecKey FromEcdsa(ushort flags, ECParameters p)
    {
        var pub = new byte[64];
        LeftPad(p.Q.X!, pub.AsSpan(0, 32));
        LeftPad(p.Q.Y!, pub.AsSpan(32, 32));
        return new DnssecKey(DnssecAlgorithm.EcdsaP256Sha256, flags, p, null, pub);
    }

    private static DnssecKey FromEd25519(ushort flags, Key key) =>
        new(DnssecAlgorithm.Ed25519, flags, default, key, key.PublicKey.Export(KeyBlobFormat.RawPublicKey));

    private static void LeftPad(ReadOnlySpan<byte> value, Span<byte> destination)
    {
        destination.Clear();
        value.CopyTo(destination[(destination.Length - value.Length)..]);
    }

    /// <summary>The private half in the key set file's form (see <see cref="FromPrivate"/>).</summary>
    public byte[] ExportPrivate()
    {
        if (_ed25519 is not null) return _ed25519.Export(KeyBlobFormat.RawPrivateKey);
        var d = new byte[32];
        LeftPad(_ecParameters.D!, d);
        return d;
    }

    /// <summary>
    /// Signs <paramref name="data"/> (the RRSIG signed data, RFC 4034 section 3.1.8.1) into <paramref name="signature"/>,
    /// which must hold <see cref="SignatureLength"/> octets; returns the length written. Allocates nothing.
    /// </summary>
    public int Sign(ReadOnlySpan<byte> data, Span<byte> signature)
    {
        if (_ed25519 is not null)
        {
            SignatureAlgorithm.Ed25519.Sign(_ed25519, data, signature[..SignatureLength]);
            return SignatureLength;
        }
        // IEEE P1363 is r || s, each exactly 32 octets: the form RFC 6605 asks for, padding included.
        if (!_ecdsa!.Value!.TrySignData(data, signature, HashAlgorithmName.SHA256,
                DSASignatureFormat.IeeeP1363FixedFieldConcatenation, out int written) || written != SignatureLength)
        {
            throw new CryptographicException($"ECDSA P-256 signature of {written} octets, not {SignatureLength}");
        }
        return written;
    }

    /// <summary>Checks a signature made by this key (for self-tests; the tests use validators outside the project).</summary>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != SignatureLength) return false;
        if (_ed25519 is not null) return SignatureAlgorithm.Ed25519.Verify(_ed25519.PublicKey, data, signature);
        return _ecdsa!.Value!.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>The key tag of a DNSKEY RDATA (RFC 4034 appendix B; algorithm 1 is not used here).</summary>
    public static ushort ComputeKeyTag(ReadOnlySpan<byte> dnskeyRdata)
    {
        uint ac = 0;
        for (int i = 0; i < dnskeyRdata.Length; i++) ac += (i & 1) != 0 ? dnskeyRdata[i] : (uint)dnskeyRdata[i] << 8;
        ac += (ac >> 16) & 0xFFFF;
        return (ushort)(ac & 0xFFFF);
    }

    /// <summary>
    /// The DS RDATA for this key under <paramref name="owner"/> (the zone apex, wire form): key tag, algorithm,
    /// digest type 2, SHA-256(canonical owner || DNSKEY RDATA) (RFC 4034 section 5.1.4, RFC 4509).
    /// </summary>
    public byte[] DsRdata(ReadOnlySpan<byte> owner)
    {
        Span<byte> name = stackalloc byte[CanonicalName.MaxLength];
        int nameLength = CanonicalName.CopyLower(owner, name);
        var input = new byte[nameLength + DnskeyRdata.Length];
        name[..nameLength].CopyTo(input);
        DnskeyRdata.CopyTo(input, nameLength);
        var ds = new byte[4 + 32];
        BinaryPrimitives.WriteUInt16BigEndian(ds, KeyTag);
        ds[2] = (byte)Algorithm;
        ds[3] = DnssecType.DigestSha256;
        SHA256.HashData(input, ds.AsSpan(4));
        return ds;
    }

    private int _disposed;

    /// <summary>Frees the private key; a second call does nothing (a rollover's new key set holds the old set's keys too).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_ecdsa is not null)
        {
            foreach (var e in _ecdsa.Values) e.Dispose();
            _ecdsa.Dispose();
        }
        _ed25519?.Dispose();
    }
}
