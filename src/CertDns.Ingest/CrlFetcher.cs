using System.Net;
using System.Net.Http.Headers;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>How one CRL source ended.</summary>
public enum FetchOutcome
{
    /// <summary>Downloaded and stored.</summary>
    Ingested,
    /// <summary>Downloaded, and it was the CRL already stored.</summary>
    Unchanged,
    /// <summary>The server said 304: nothing new since the last fetch.</summary>
    NotModified,
    /// <summary>Downloaded, and refused (the reason says why); nothing stored.</summary>
    Refused,
    /// <summary>Not downloaded: network error, timeout, HTTP error, too large, too many redirects.</summary>
    Failed,
    /// <summary>A scheme this fetcher does not speak (ldap).</summary>
    Skipped,
}

/// <summary>One line of <c>crl fetch</c>: a URL and what became of it.</summary>
/// <param name="Url">The source.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Message">Human-readable detail (the ingest summary, or why not).</param>
/// <param name="Current">Whether the CRL this source provides is now stored and within its nextUpdate.</param>
public sealed record FetchResult(string Url, FetchOutcome Outcome, string Message, bool Current)
{
    public override string ToString() => $"{Url}: {Message}";
}

/// <summary>Limits of one fetch.</summary>
/// <param name="Timeout">Whole request, connect to last byte.</param>
/// <param name="MaxBytes">Largest CRL accepted; real CRLs reach tens of MB.</param>
/// <param name="MaxRedirects">Redirects followed before giving up.</param>
public sealed record FetchOptions(TimeSpan Timeout, long MaxBytes, int MaxRedirects)
{
    public static FetchOptions Default { get; } = new(TimeSpan.FromSeconds(60), 256L * 1024 * 1024, 5);
}

/// <summary>
/// <c>crl fetch</c> and <c>crl ingest URL</c>: downloads CRLs over HTTP(S) or from file URLs with a size cap,
/// a timeout and a redirect limit, asks conditionally (ETag, Last-Modified) so unchanged CRLs cost one round
/// trip, and hands what arrives to the same <see cref="CrlIngestor"/> as a file.
/// </summary>
public sealed class CrlFetcher(CertStore store, CrlIngestor ingestor, FetchOptions options, TimeProvider? clock = null) : IDisposable
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    // Redirects are followed here, not by the handler: each hop's scheme is checked (http and https only) and
    // --max-redirects 0 means none. The timeout is one deadline for the whole download, enforced below.
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        ConnectTimeout = options.Timeout,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
        MaxResponseContentBufferSize = int.MaxValue,
    };

    /// <summary>Whether a string names a source this fetcher handles (as opposed to a local path).</summary>
    public static bool IsUrl(string text) =>
        // Spelled out: on Unix "/var/crl.der" is an absolute file URI to Uri.TryCreate, but it is a path.
        new[] { "http://", "https://", "file://", "ldap://" }.Any(scheme => text.StartsWith(scheme, StringComparison.OrdinalIgnoreCase));

    /// <summary>Fetches and ingests one source; never throws for a source's own failure.</summary>
    public async Task<FetchResult> FetchAsync(string url, CancellationToken cancel = default)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "file" or "ldap"))
            return new FetchResult(url, FetchOutcome.Failed, "not an http, https or file URL", false);
        if (uri.Scheme == "ldap")
            return new FetchResult(url, FetchOutcome.Skipped, "skipped: ldap is not supported; configure an http URL (certdns ca add --crl-url)", false);

        byte[] data;
        string? etag = null, lastModified = null;
        try
        {
            if (uri.IsFile)
            {
                var info = new FileInfo(uri.LocalPath);
                if (!info.Exists) return Failed(url, "no such file");
                if (info.Length > options.MaxBytes) return Failed(url, $"{info.Length} bytes is over the {options.MaxBytes}-byte cap");
                data = await File.ReadAllBytesAsync(info.FullName, cancel).ConfigureAwait(false);
            }
            else
            {
                // One deadline for connect, redirects, headers and body: a server sending a byte a second is cut.
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                deadline.CancelAfter(options.Timeout);
                var previous = store.Sources.Get(url);
                HttpResponseMessage? response = null;
                var at = uri;
                for (int hop = 0; ; hop++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, at);
                    if (previous?.Etag is { } e && EntityTagHeaderValue.TryParse(e, out var tag)) request.Headers.IfNoneMatch.Add(tag);
                    if (previous?.LastModified is { } lm && DateTimeOffset.TryParse(lm, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var since))
                        request.Headers.IfModifiedSince = since;
                    response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
                    if ((int)response.StatusCode is not (301 or 302 or 303 or 307 or 308)) break;
                    var location = response.Headers.Location;
                    var status = (int)response.StatusCode;
                    response.Dispose();
                    if (location is null) return Failed(url, $"HTTP {status} redirect without a Location");
                    var next = location.IsAbsoluteUri ? location : new Uri(at, location);
                    // Only http and https: a redirect to file: would read a local file, javascript: and others mean nothing here.
                    if (next.Scheme is not ("http" or "https"))
                        return Failed(url, $"redirect to {next.Scheme}: refused (only http and https are followed)");
                    if (hop >= options.MaxRedirects)
                        return Failed(url, options.MaxRedirects == 0 ? $"redirect to {next} not followed (--max-redirects 0)" : $"too many redirects (more than {options.MaxRedirects})");
                    at = next;
                }
                using var _ = response;
                if (response.StatusCode == HttpStatusCode.NotModified)
                {
                    store.Sources.Record(url, previous?.Etag, previous?.LastModified, "not modified", _clock.GetUtcNow());
                    // Judged by series, not by source: the same CRL may have been stored from a file (crl ingest) first.
                    var nextUpdate = SeriesNextUpdate(url);
                    return new FetchResult(url, FetchOutcome.NotModified, "not modified since the last fetch (304)" + Staleness(nextUpdate.Value), IsCurrent(nextUpdate.Value, nextUpdate.Stored));
                }
                if (!response.IsSuccessStatusCode)
                    return Failed(url, $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
                if (response.Content.Headers.ContentLength is { } length && length > options.MaxBytes)
                    return Failed(url, $"{length} bytes is over the {options.MaxBytes}-byte cap");
                data = await ReadCappedAsync(response.Content, deadline.Token).ConfigureAwait(false);
                etag = response.Headers.ETag?.ToString();
                lastModified = response.Content.Headers.LastModified?.ToString("r", System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return Failed(url, $"timed out after {options.Timeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException or UnauthorizedAccessException
                                      or NotSupportedException or UriFormatException or InvalidOperationException)
        {
            // A source's own failure: that URL fails with one line, the others are still fetched.
            return Failed(url, e.Message);
        }

        try
        {
            var result = ingestor.Ingest(url, data);
            store.Sources.Record(url, etag, lastModified, result.Change is null ? "unchanged" : "ingested", _clock.GetUtcNow());
            return new FetchResult(url, result.Change is null ? FetchOutcome.Unchanged : FetchOutcome.Ingested,
                result.ToString()[(url.Length + 2)..] + Staleness(result.NextUpdate?.ToUnixTimeSeconds()), IsCurrent(result.NextUpdate?.ToUnixTimeSeconds(), true));
        }
        catch (BadInputException e)
        {
            // No validators: a refused CRL must be downloaded whole next time, not waved through by a 304.
            store.Sources.Record(url, null, null, "refused: " + e.Reason, _clock.GetUtcNow());
            return new FetchResult(url, FetchOutcome.Refused, "refused: " + e.Reason, false);
        }
    }

    private FetchResult Failed(string url, string why)
    {
        // A failed download keeps the validators of the last good one.
        var previous = store.Sources.Get(url);
        store.Sources.Record(url, previous?.Etag, previous?.LastModified, "failed: " + why, _clock.GetUtcNow());
        return new FetchResult(url, FetchOutcome.Failed, "failed: " + why, false);
    }

    /// <summary>
    /// The earliest nextUpdate of the series a URL serves (null: none set): the CRL last stored from it, else every series
    /// of the CAs it is configured for. Not stored when neither has a CRL.
    /// </summary>
    private (long? Value, bool Stored) SeriesNextUpdate(string url)
    {
        if (store.Crls.LatestFrom(url) is { } from)
            return ((from.ScopeId is { } scope ? store.Crls.LatestFull(scope) : null)?.NextUpdate ?? from.NextUpdate, true);
        var series = store.Cas.List().Where(c => store.Cas.CrlUrls(c.Id).Contains(url, StringComparer.Ordinal))
            .SelectMany(c => store.Crls.SeriesNextUpdates(c.Id)).ToList();
        if (series.Count == 0) return (null, false);
        var set = series.Where(n => n is not null).Select(n => n!.Value).ToList();
        return (set.Count > 0 ? set.Min() : null, true);
    }

    private bool IsCurrent(long? nextUpdate, bool stored) =>
        stored && (nextUpdate is not { } n || DateTimeOffset.FromUnixTimeSeconds(n) > _clock.GetUtcNow());

    private string Staleness(long? nextUpdate) =>
        nextUpdate is { } n && DateTimeOffset.FromUnixTimeSeconds(n) <= _clock.GetUtcNow()
            ? $"; but its nextUpdate {TimeText.Utc(DateTimeOffset.FromUnixTimeSeconds(n))} has passed (stale)"
            : "";

    private async Task<byte[]> ReadCappedAsync(HttpContent content, CancellationToken cancel)
    {
        await using var stream = await content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancel).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > options.MaxBytes) throw new InvalidDataException($"over the {options.MaxBytes}-byte cap");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>Every URL <c>crl fetch</c> covers: configured CRL URLs, and with <paramref name="distributionPoints"/>
    /// the distribution points named in registered CA and end-entity certificates.</summary>
    public static IReadOnlyList<string> Sources(CertStore store, bool distributionPoints)
    {
        var urls = new List<string>();
        foreach (var ca in store.Cas.List().Where(c => c.Trusted)) urls.AddRange(store.Cas.CrlUrls(ca.Id));
        if (distributionPoints)
        {
            foreach (var der in store.Certificates.DistributionPointCarriers())
            {
                try
                {
                    urls.AddRange(Pki.CertificateFile.Read(der, "stored certificate")[0].CrlDistributionPoints);
                }
                catch (BadInputException)
                {
                    // A stored certificate always parsed once; skip rather than stop the whole run.
                }
            }
        }
        return urls.Distinct(StringComparer.Ordinal).ToList();
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// Keeps two cron runs of <c>crl fetch</c> from overlapping: an exclusive lock (flock) on a file beside the
/// store, released when the process ends, even by kill -9.
/// </summary>
public sealed class FetchLock : IDisposable
{
    private readonly FileStream _file;

    private FetchLock(FileStream file) => _file = file;

    /// <summary>Takes the lock, or returns null when another process holds it.</summary>
    public static FetchLock? TryAcquire(string storePath)
    {
        try
        {
            return new FetchLock(new FileStream(storePath + ".fetch-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Dispose() => _file.Dispose();
}
