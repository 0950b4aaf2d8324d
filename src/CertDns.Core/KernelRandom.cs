using System.Security.Cryptography;

namespace CertDns.Core;

/// <summary>
/// Secret random octets from the kernel's generator without OpenSSL. On Linux <see cref="RandomNumberGenerator"/>
/// is OpenSSL's RAND_bytes: serve's first draw (the cookie secret, the rate limiter's seed) loaded libssl and
/// libcrypto and ran OpenSSL's initialisation before the first answer, 3.7 MB of resident pages and a share of the
/// start that nothing else serving does needs (issue #17). /dev/urandom is the same pool getrandom(2) reads, never
/// blocks once the kernel is seeded, and systemd's PrivateDevices keeps it; where it cannot be read (not Linux),
/// <see cref="RandomNumberGenerator"/> does it.
/// </summary>
public static class KernelRandom
{
    /// <summary><paramref name="count"/> secret random octets.</summary>
    public static byte[] GetBytes(int count)
    {
        var bytes = new byte[count];
        Fill(bytes);
        return bytes;
    }

    /// <summary>Fills <paramref name="buffer"/> with secret random octets.</summary>
    public static void Fill(Span<byte> buffer)
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                using var device = new FileStream("/dev/urandom", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
                device.ReadExactly(buffer);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not there (a bare chroot) or not readable: the library's generator instead.
            }
        }
        RandomNumberGenerator.Fill(buffer);
    }
}
