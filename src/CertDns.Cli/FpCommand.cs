using System.CommandLine;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.Cli;

/// <summary><c>certdns fp &lt;cert&gt;</c>: the query names for a certificate and the MTA snippets that produce them.</summary>
internal sealed class FpCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("certificate") { Description = "A certificate file (PEM or DER)" };
        var command = new Command("fp", "Print the query names of a certificate and how Exim, Sendmail and Postfix ask for them") { file };
        command.SetAction(r => Run.Guarded(() =>
        {
            var path = r.GetValue(file)!;
            var zone = GlobalOptions.ZoneName(r);
            foreach (var cert in CertificateFile.Read(Run.ReadInput(path), path))
                Print(cert, zone);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void Print(ParsedCertificate cert, string zone)
    {
        var sha256 = Hex.Lower(cert.Sha256);
        Console.WriteLine($"subject:  {Core.SafeText.OneLine(cert.Subject)}");
        Console.WriteLine($"issuer:   {Core.SafeText.OneLine(cert.Issuer)}  serial {Hex.Lower(cert.Serial)}");
        Console.WriteLine($"sha256:   {Hex.Colons(cert.Sha256)}");
        Console.WriteLine();
        Console.WriteLine("query names (a 64-char label is illegal in DNS, so SHA-256 is always split):");
        Console.WriteLine($"  {PublishedNames.Split(cert.Sha256)}.{zone}         (SHA-256, Exim split form)");
        Console.WriteLine($"  {sha256[..56]}.{zone}                    (SHA-256 truncated to 56 hex)");
        Console.WriteLine($"  {Hex.Base32(cert.Sha256)}.{zone}                (SHA-256, base32)");
        Console.WriteLine($"  {Hex.Lower(cert.Sha1)}.{zone}                      (SHA-1)");
        Console.WriteLine($"  {PublishedNames.Key(cert.SpkiSha256)}.{zone}     (SHA-256 of the public key)");
        Console.WriteLine($"  add bl. or wl. before {zone} for the block-only or allow-only view");
        Console.WriteLine();
        Console.WriteLine("Exim (acl_smtp_mail; tls_try_verify_hosts = * so client certificates are asked for):");
        Console.WriteLine("  deny  condition = ${if def:tls_in_peercert}");
        Console.WriteLine($"        dnslists  = +defer_unknown : bl.{zone}/${{substr_0_32:${{sha256:$tls_in_peercert}}}}.${{substr_32_32:${{sha256:$tls_in_peercert}}}}");
        Console.WriteLine("        message   = TLS client certificate listed: $dnslist_text");
        Console.WriteLine();
        Console.WriteLine("Sendmail (${cert_fp} is colon-separated hex; confCERT_FINGERPRINT_ALGORITHM=`sha1' gives SHA-1):");
        Console.WriteLine($"  Kcertdns dns -R A -T<TMP> -d5s -r2");
        Console.WriteLine($"  R$*   $: $(certdns $&{{cert_fp}} $) (colons turned into dots: one label per byte, e.g. {PublishedNames.PerByte(cert.Sha1)}.bl.{zone})");
        Console.WriteLine();
        Console.WriteLine("Postfix (no built-in DNS list for certificates: a policy service asks the zone):");
        Console.WriteLine("  smtpd_tls_fingerprint_digest = sha256");
        Console.WriteLine($"  ccert_fingerprint = {Hex.Colons(cert.Sha256)}");
        Console.WriteLine($"  ccert_pubkey_fingerprint = {Hex.Colons(cert.SpkiSha256)}");
    }
}
