namespace CertDns.Dns.Dnssec;

/// <summary>
/// An RRSIG validity period on fixed boundaries, so that every signature made within one step carries the same
/// inception and expiration and can be cached and reused: inception = floor(now, step) - step (an hour of clock
/// skew allowed), expiration = inception + validity. Times are the RRSIG's 32-bit seconds (RFC 4034 section 3.1.5).
/// </summary>
public readonly record struct SignatureWindow(uint Inception, uint Expiration)
{
    public static readonly TimeSpan DefaultStep = TimeSpan.FromHours(1), DefaultValidity = TimeSpan.FromDays(7);

    public static SignatureWindow Aligned(DateTimeOffset now) => Aligned(now, DefaultStep, DefaultValidity);

    public static SignatureWindow Aligned(DateTimeOffset now, TimeSpan step, TimeSpan validity)
    {
        long stepSeconds = (long)step.TotalSeconds;
        if (stepSeconds <= 0 || validity <= step) throw new ArgumentOutOfRangeException(nameof(step), "step must be positive and below the validity");
        long seconds = now.ToUnixTimeSeconds();
        long inception = seconds - seconds % stepSeconds - stepSeconds;
        return new SignatureWindow((uint)inception, (uint)(inception + (long)validity.TotalSeconds));
    }

    public DateTimeOffset InceptionTime => DateTimeOffset.FromUnixTimeSeconds(Inception);

    public DateTimeOffset ExpirationTime => DateTimeOffset.FromUnixTimeSeconds(Expiration);
}
