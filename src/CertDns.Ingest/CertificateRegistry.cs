using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>One input of <c>certdns certs add</c> and what became of it.</summary>
/// <param name="Source">File name and position in it.</param>
/// <param name="Subject">The certificate's subject.</param>
/// <param name="Sha256">Its fingerprint.</param>
/// <param name="Refusal">Why it was refused, or null when it verified.</param>
public sealed record CertificateOutcome(string Source, string Subject, byte[] Sha256, string? Refusal);

/// <summary>The result of one <c>certs add</c>.</summary>
public sealed record CertificateAddResult(IReadOnlyList<CertificateOutcome> Outcomes, int Added, bool Stored)
{
    /// <summary>The inputs passed over: files found in a folder that hold no certificate.</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];

    public int Refused => Outcomes.Count(o => o.Refusal is not null);
    public int AlreadyKnown => Outcomes.Count - Refused - Added;
}

/// <summary>
/// <c>certdns certs add</c>: registers end-entity certificates whose signature verifies against a registered CA.
/// All or nothing: when any input is refused, nothing is stored and every refusal is reported.
/// </summary>
public sealed class CertificateRegistry(CertStore store)
{
    /// <summary>Verifies and stores the certificates of every input, given with its bytes (the overload taking a reader).</summary>
    public CertificateAddResult Add(IEnumerable<(string Source, byte[] Data)> inputs)
    {
        var list = inputs as IReadOnlyList<(string Source, byte[] Data)> ?? inputs.ToList();
        return Add(list.Select(i => i.Source).ToList(), i => list[i].Data);
    }

    /// <summary>
    /// Verifies and stores the certificates of every input. An input that is not a certificate file is one refusal
    /// among the others: every refusal is reported, and nothing is stored when there is any.
    /// </summary>
    /// <param name="sources">The inputs' names, in order.</param>
    /// <param name="read">
    /// Input i's bytes, or null for an input to pass over (a file in a folder that holds no certificate: it is named in
    /// <see cref="CertificateAddResult.Skipped"/>). It may throw for an input that cannot be read: the first such input
    /// in input order has its exception thrown out of here, and nothing is stored.
    /// </param>
    /// <param name="progress">Told, on the calling thread, how many inputs of how many are checked so far.</param>
    /// <remarks>
    /// One thread per core reads, parses and verifies the inputs, in chunks handed out in input order, a bounded number
    /// ahead of this thread, which keeps each certificate's stored record (its DER, digests and fields) and drops the
    /// rest. Only the store is written at the end, in one transaction, once every input verified: the write lock is
    /// held for the insert alone, as a <c>crl ingest</c> or a mailed complaint arriving meanwhile needs (they would
    /// otherwise wait out the busy timeout behind a whole verification). The store is read (its CAs) before the workers
    /// start, on this thread: its connection is never shared.
    /// </remarks>
    public CertificateAddResult Add(IReadOnlyList<string> sources, Func<int, byte[]?> read, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(read);
        var outcomes = new List<CertificateOutcome>(sources.Count);
        var skipped = new List<string>();
        if (sources.Count == 0) return new CertificateAddResult(outcomes, 0, Stored: false) { Skipped = skipped };
        var records = new List<CertRecord>(sources.Count);
        var seen = new HashSet<byte[]>(DigestComparer.Instance);
        bool refused = false;
        using (var pipeline = new Pipeline(sources, read, new Issuers(store.Cas.List())))
        {
            int input = 0;
            foreach (var file in pipeline.InOrder())
            {
                if (file.Failure is { } failure) failure.Throw();
                var source = sources[input++];
                if (input % Pipeline.ChunkSize == 0) progress?.Invoke(input, sources.Count);
                if (file.Certificates is not { } certificates)
                {
                    skipped.Add(source);
                    continue;
                }
                foreach (var c in certificates)
                {
                    outcomes.Add(new CertificateOutcome(c.Where, c.Subject, c.Sha256, c.Refusal));
                    refused |= c.Refusal is not null;
                    // After a refusal nothing is stored: the records are not kept, the rest still verified to report them.
                    if (!refused && c.Record is { } record && seen.Add(record.Sha256)) records.Add(record);
                }
            }
        }
        if (refused || records.Count == 0) return new CertificateAddResult(outcomes, 0, Stored: false) { Skipped = skipped };
        var added = store.Certificates.Add(records);
        return new CertificateAddResult(outcomes, added, Stored: true) { Skipped = skipped };
    }

    /// <summary>What became of one input: its certificates checked, passed over (both null), or the read's exception.</summary>
    private readonly record struct CheckedFile(Checked[]? Certificates, System.Runtime.ExceptionServices.ExceptionDispatchInfo? Failure);

    /// <summary>One certificate of an input, checked: the record to store when it verified, else why it was refused.</summary>
    private readonly record struct Checked(string Where, string Subject, byte[] Sha256, string? Refusal, CertRecord? Record);

    /// <summary>
    /// The inputs checked (<see cref="Check"/>) on one thread per core, in chunks handed out in input order, at most
    /// <see cref="Window"/> chunks ahead of the consumer (<see cref="InOrder"/>), so only those are held.
    /// </summary>
    private sealed class Pipeline : IDisposable
    {
        internal const int ChunkSize = 64, Window = 64;
        private readonly IReadOnlyList<string> _sources;
        private readonly Func<int, byte[]?> _read;
        private readonly Issuers _issuers;
        private readonly CheckedFile[] _files;
        private readonly bool[] _done;
        // An object, not a Lock: the workers and the consumer wait on it (Monitor.Wait).
        private readonly object _gate = new();
        private readonly Thread[] _workers;
        private int _next, _consumed;
        private bool _stop;
        private System.Runtime.ExceptionServices.ExceptionDispatchInfo? _failure;

        public Pipeline(IReadOnlyList<string> sources, Func<int, byte[]?> read, Issuers issuers)
        {
            _sources = sources;
            _read = read;
            _issuers = issuers;
            _files = new CheckedFile[sources.Count];
            _done = new bool[(sources.Count + ChunkSize - 1) / ChunkSize];
            _workers = new Thread[Math.Min(Environment.ProcessorCount, _done.Length)];
            for (int i = 0; i < _workers.Length; i++)
            {
                _workers[i] = new Thread(Work) { IsBackground = true, Name = "certs add verifier" };
                _workers[i].Start();
            }
        }

        private void Work()
        {
            while (true)
            {
                int chunk;
                lock (_gate)
                {
                    while (!_stop && _next < _done.Length && _next >= _consumed + Window) Monitor.Wait(_gate);
                    if (_stop || _next >= _done.Length) return;
                    chunk = _next++;
                }
                try
                {
                    int end = Math.Min(_sources.Count, (chunk + 1) * ChunkSize);
                    for (int f = chunk * ChunkSize; f < end; f++) _files[f] = Check(f);
                }
                catch (Exception e)
                {
                    // A fault of this program (Check turns what an input can do into outcomes): the consumer throws it.
                    lock (_gate)
                    {
                        _failure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
                        _stop = true;
                        Monitor.PulseAll(_gate);
                    }
                    return;
                }
                lock (_gate)
                {
                    _done[chunk] = true;
                    Monitor.PulseAll(_gate);
                }
            }
        }

        private CheckedFile Check(int f)
        {
            byte[]? data;
            try
            {
                data = _read(f);
            }
            catch (Exception e) when (e is BadInputException or IOException or UnauthorizedAccessException)
            {
                return new CheckedFile(null, System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e));
            }
            return data is null ? default : new CheckedFile(CertificateRegistry.Check(_sources[f], data, _issuers), null);
        }

        /// <summary>Every input checked, in input order; rethrows what a worker threw.</summary>
        public IEnumerable<CheckedFile> InOrder()
        {
            for (int chunk = 0; chunk < _done.Length; chunk++)
            {
                lock (_gate)
                {
                    while (!_done[chunk] && _failure is null) Monitor.Wait(_gate);
                    _failure?.Throw();
                }
                int end = Math.Min(_sources.Count, (chunk + 1) * ChunkSize);
                for (int f = chunk * ChunkSize; f < end; f++)
                {
                    yield return _files[f];
                    _files[f] = default;
                }
                lock (_gate)
                {
                    _consumed = chunk + 1;
                    Monitor.PulseAll(_gate);
                }
            }
        }

        /// <summary>Stops the workers (after a failure, or a consumer that stopped early) and waits for them.</summary>
        public void Dispose()
        {
            lock (_gate)
            {
                _stop = true;
                Monitor.PulseAll(_gate);
            }
            foreach (var worker in _workers) worker.Join();
        }
    }

    /// <summary>
    /// Parses one input and verifies each of its certificates against the registered CAs of its issuer name. Reads no
    /// store: safe on any thread. The parsed certificates are dropped here; only their records are kept.
    /// </summary>
    private static Checked[] Check(string source, byte[] data, Issuers issuers)
    {
        IReadOnlyList<ParsedCertificate> certs;
        try
        {
            certs = CertificateFile.Read(data, source);
        }
        catch (BadInputException e)
        {
            return [new Checked(source, "", [], e.Reason, null)];
        }
        var result = new Checked[certs.Count];
        for (int i = 0; i < certs.Count; i++)
        {
            var cert = certs[i];
            var where = certs.Count > 1 ? $"{source}#{i + 1}" : source;
            var refusal = Verify(cert, issuers.Of(cert.IssuerDer), out var caId);
            result[i] = new Checked(where, cert.Subject, cert.Sha256, refusal, refusal is not null ? null
                : new CertRecord(cert.Sha256, cert.Sha1, cert.Md5, cert.SpkiSha256, caId, cert.Serial, cert.Subject,
                    cert.NotBefore, cert.NotAfter, cert.Der, cert.IsCa, cert.CrlPoints));
        }
        return result;
    }

    /// <summary>
    /// The registered CAs by subject name (DER, as <see cref="CaStore.FindBySubject"/> matches, in id order: the order
    /// of <see cref="CaStore.List"/>, which grouping keeps), read from the store once before the verifying threads
    /// start; each CA certificate is parsed the first time a certificate names it, under a lock, and shared read-only
    /// after.
    /// </summary>
    private sealed class Issuers(IReadOnlyList<CaRow> cas)
    {
        private readonly Dictionary<byte[], List<CaRow>> _bySubject = cas.GroupBy(ca => ca.SubjectDer, DigestComparer.Instance)
            .ToDictionary(g => g.Key, g => g.ToList(), DigestComparer.Instance);
        private readonly Dictionary<byte[], IReadOnlyList<(CaRow Row, ParsedCertificate Cert)>> _parsed = new(DigestComparer.Instance);
        private readonly Lock _gate = new();

        public IReadOnlyList<(CaRow Row, ParsedCertificate Cert)> Of(byte[] issuerDer)
        {
            lock (_gate)
            {
                if (_parsed.TryGetValue(issuerDer, out var found)) return found;
                var parsed = _bySubject.TryGetValue(issuerDer, out var rows) ? rows.Select(ca => (ca, Parse(ca))).ToList() : [];
                _parsed[issuerDer] = parsed;
                return parsed;
            }
        }

        private static ParsedCertificate Parse(CaRow ca)
        {
            var parsed = CertificateFile.Read(ca.Der, $"CA {ca.Id}")[0];
            // Worked out here, once, before the verifying threads share it.
            _ = parsed.KeyRefusal;
            return parsed;
        }
    }

    /// <summary>Byte strings by value: names and digests as dictionary keys without a hex string each.</summary>
    private sealed class DigestComparer : IEqualityComparer<byte[]>
    {
        public static readonly DigestComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }

    /// <summary>Why <paramref name="cert"/> is refused, or null with the id of the CA whose key verifies it. Reads no store: safe on any thread.</summary>
    private static string? Verify(ParsedCertificate cert, IReadOnlyList<(CaRow Row, ParsedCertificate Cert)> candidates, out long caId)
    {
        caId = 0;
        // The same key bounds as for CAs and CRL signers (KeyBounds), checked before any arithmetic.
        if (cert.KeyRefusal is { } key) return $"key refused: {key}";
        if (candidates.Count == 0)
            return $"issuer \"{cert.Issuer}\" is not a registered CA (certdns ca add)";
        // Same-named CAs (a key rollover): the one the authority key identifier names first; the signature decides.
        var ordered = candidates.OrderByDescending(c => cert.AuthorityKeyId is not null && c.Row.KeyId is not null && c.Row.KeyId.AsSpan().SequenceEqual(cert.AuthorityKeyId));
        string? refusedKey = null;
        foreach (var (ca, parsed) in ordered)
        {
            if (parsed.KeyRefusal is { } caKey)
            {
                refusedKey ??= $"the key of registered CA {ca.Id} \"{ca.Subject}\" is refused: {caKey}";
                continue;
            }
            if (!parsed.IsCa || parsed.CanSignCertificates == false)
            {
                // A CRL signer, or a CA registered before CA checks that is none (RFC 5280 6.1.4 (k), (n)).
                refusedKey ??= $"registered CA {ca.Id} \"{ca.Subject}\" is not a CA certificate with keyCertSign: it issues no certificates";
                continue;
            }
            if (cert.IsIssuedBy(parsed))
            {
                caId = ca.Id;
                return null;
            }
        }
        return refusedKey ?? $"signature does not verify with the key of registered CA \"{cert.Issuer}\"";
    }
}
