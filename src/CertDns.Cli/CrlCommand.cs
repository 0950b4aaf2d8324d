using System.CommandLine;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns crl ingest &lt;file|url&gt;...</c> and <c>certdns crl fetch</c>.</summary>
internal sealed class CrlCommand
{
    private static readonly Option<double> Timeout = new("--timeout") { Description = "Seconds allowed per download", DefaultValueFactory = _ => 60 };
    private static readonly Option<long> MaxSize = new("--max-size") { Description = "Largest CRL accepted, in MiB", DefaultValueFactory = _ => 256 };
    private static readonly Option<int> MaxRedirects = new("--max-redirects") { Description = "Redirects followed per URL", DefaultValueFactory = _ => 5 };

    public static Command Create()
    {
        var command = new Command("crl", "Ingest CA CRLs");

        var files = new Argument<string[]>("sources") { Description = "CRL files (DER, PEM or base64; - for stdin) or http(s)/file URLs", Arity = ArgumentArity.OneOrMore };
        var ingest = new Command("ingest", "Verify each CRL against its CA and apply it; a refused CRL changes nothing") { files, Timeout, MaxSize, MaxRedirects };
        ingest.SetAction((r, cancel) => Run.GuardedAsync(async () =>
        {
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var step = new StepHolder();
            using var fetcher = new CrlFetcher(store, step.Ingestor(store), Options(r));
            int exit = ExitCodes.Ok;
            // Each CRL stands alone: one refused source does not hold back the others, but the exit code says so.
            foreach (var source in r.GetValue(files)!)
            {
                if (CrlFetcher.IsUrl(source))
                {
                    exit = Math.Max(exit, await FetchOneAsync(fetcher, step, source, cancel).ConfigureAwait(false));
                    continue;
                }
                try
                {
                    var data = Run.ReadInput(source);
                    Console.WriteLine(SafeText.OneLine(WithProgress(store, source, data).ToString()));
                }
                catch (BadInputException e)
                {
                    exit = Math.Max(exit, Run.Fail(e.Message, ExitCodes.BadInput));
                }
            }
            return exit;
        }));

        var distributionPoints = new Option<bool>("--distribution-points") { Description = "Also fetch the CRL distribution points named in registered certificates" };
        var quiet = new Option<bool>("--quiet") { Description = "Print only what needs attention: failures, refusals and stale CRLs (nothing when all is current)" };
        var fetch = new Command("fetch", "Fetch every CA's CRL URLs (conditional GET) and ingest what changed; exit 0 only when every source is current")
        {
            distributionPoints, Timeout, MaxSize, MaxRedirects, quiet,
        };
        fetch.SetAction((r, cancel) => Run.GuardedAsync(async () =>
        {
            var db = GlobalOptions.DatabasePath(r);
            using var store = CertStore.Open(db);
            using var held = FetchLock.TryAcquire(store.Path);
            if (held is null) return Run.Fail($"{store.Path}: another certdns crl fetch is running (lock {store.Path}.fetch-lock)", ExitCodes.Failed);
            var sources = CrlFetcher.Sources(store, r.GetValue(distributionPoints));
            if (sources.Count == 0) throw new BadInputException(db, "no CRL URLs configured (certdns ca add <ca> --crl-url URL), nothing to fetch");
            var step = new StepHolder();
            using var fetcher = new CrlFetcher(store, step.Ingestor(store), Options(r));
            int exit = ExitCodes.Ok;
            for (int i = 0; i < sources.Count; i++)
            {
                step.Position = sources.Count > 1 ? $"{i + 1}/{sources.Count} " : "";
                exit = Math.Max(exit, await FetchOneAsync(fetcher, step, sources[i], cancel, r.GetValue(quiet)).ConfigureAwait(false));
            }
            return exit;
        }));

        command.Add(ingest);
        command.Add(fetch);
        return command;
    }

    private static FetchOptions Options(ParseResult r)
    {
        var timeout = r.GetValue(Timeout);
        var max = r.GetValue(MaxSize);
        var redirects = r.GetValue(MaxRedirects);
        if (timeout is <= 0 or > 3600) throw new BadInputException("--timeout", "must be between 0 and 3600 seconds");
        if (max is <= 0 or > 4096) throw new BadInputException("--max-size", "must be between 1 and 4096 MiB");
        if (redirects is < 0 or > 20) throw new BadInputException("--max-redirects", "must be between 0 and 20");
        return new FetchOptions(TimeSpan.FromSeconds(timeout), max * 1024 * 1024, redirects);
    }

    /// <summary>Fetches one source and prints its line; whatever goes wrong with it, the next source is still fetched.</summary>
    private static async Task<int> FetchOneAsync(CrlFetcher fetcher, StepHolder step, string url, CancellationToken cancel, bool quiet = false)
    {
        try
        {
            // The bar covers the download and the ingest; the source's line is printed once it has cleared.
            var result = await ProgressDisplay.RunAsync($"{step.Position}{url}", async current =>
            {
                step.Current = current;
                try
                {
                    return await fetcher.FetchAsync(url, cancel).ConfigureAwait(false);
                }
                finally
                {
                    step.Current = ProgressDisplay.Step.None;
                }
            }).ConfigureAwait(false);
            // Cron mails whatever is printed: quiet leaves out the sources that need nothing.
            if (!quiet || !result.Current) Report(result);
            return ExitFor(result);
        }
        catch (Exception e) when (!cancel.IsCancellationRequested)
        {
            return Run.Fail($"{url}: failed: {e.Message}", ExitCodes.Failed);
        }
    }

    private static void Report(FetchResult result)
    {
        if (result.Outcome is FetchOutcome.Failed or FetchOutcome.Refused) Console.Error.WriteLine($"certdns: {SafeText.OneLine(result.ToString())}");
        else Console.WriteLine(SafeText.OneLine(result.ToString()));
    }

    /// <summary>The bar of the source being fetched, for the one ingestor every source shares.</summary>
    private sealed class StepHolder
    {
        public volatile ProgressDisplay.Step Current = ProgressDisplay.Step.None;

        public string Position { get; set; } = "";

        public CrlIngestor Ingestor(CertStore store) => new(store) { Progress = (done, total) => Current.Report(done, total) };
    }

    /// <summary>0 only when the source is current; a refused CRL is bad input (1), anything else failed (2).</summary>
    private static int ExitFor(FetchResult result) => result.Current ? ExitCodes.Ok
        : result.Outcome == FetchOutcome.Refused ? ExitCodes.BadInput : ExitCodes.Failed;

    /// <summary>Ingests with a progress bar (entries stored, time left) on a terminal; plain for cron and pipes.</summary>
    private static CrlIngestResult WithProgress(CertStore store, string source, byte[] data) =>
        ProgressDisplay.Run($"{Path.GetFileName(source)}: storing entries", step =>
            new CrlIngestor(store) { Progress = (done, total) => step.Report(done, total) }.Ingest(source, data));
}
