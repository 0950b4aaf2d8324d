using System.CommandLine;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Stores of schema 4 kept distribution points as DER: the store reads no ASN.1, so it migrates them through Pki.
        CertStore.StoredDerDecoder = DistributionPoints.Legacy;
        var root = new RootCommand("CertDns: certificate revocation status as a DNSBL/DNSWL zone.")
        {
            GlobalOptions.Database,
            GlobalOptions.Zone,
            GlobalOptions.Config,
        };
        root.Add(ServeCommand.Create());
        root.Add(CaCommand.Create());
        root.Add(CertsCommand.Create());
        root.Add(CrlCommand.Create());
        root.Add(LookupCommand.Create());
        root.Add(BlockCommand.Create(block: true));
        root.Add(BlockCommand.Create(block: false));
        root.Add(ReportCommand.Create());
        root.Add(ComplaintsCommand.Create());
        root.Add(ReportersCommand.Create());
        root.Add(SettingsCommand.Create());
        root.Add(AuditCommand.Create());
        root.Add(StatusCommand.Create());
        root.Add(PolicyCommand.Create());
        root.Add(ExportCommand.Create());
        root.Add(FpCommand.Create());
        root.Add(QueryCommand.Create());
        root.Add(ConfigCommand.Create());
        root.Add(DnssecCommand.Create());
        return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }
}
