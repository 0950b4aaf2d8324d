using Spectre.Console;

namespace CertDns.Cli;

/// <summary>
/// Progress for long work (Spectre.Console), on stderr and only when stderr is a terminal: stdout, and everything a
/// script or cron reads, is exactly what it is without it. Each display covers one step and clears itself when the
/// step ends, so the lines a verb prints after it never interleave with its redrawing.
/// </summary>
internal static class ProgressDisplay
{
    /// <summary>Whether progress is drawn: stderr is a terminal that can take it.</summary>
    public static bool Shown { get; } = !Console.IsErrorRedirected
        && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb");

    private static readonly Lazy<IAnsiConsole> Terminal = new(() => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
        // Spectre looks at stdout to decide; it is stderr that was found to be a terminal.
        Ansi = AnsiSupport.Yes,
        Interactive = InteractionSupport.Yes,
    }));

    /// <summary>Runs <paramref name="work"/> under a progress bar described by <paramref name="description"/>.</summary>
    public static T Run<T>(string description, Func<Step, T> work)
    {
        if (!Shown) return work(Step.None);
        return Display().Start(context => work(new Step(context.AddTask(Markup.Escape(description), maxValue: 1).IsIndeterminate())));
    }

    /// <summary>The asynchronous form of <see cref="Run{T}"/>.</summary>
    public static Task<T> RunAsync<T>(string description, Func<Step, Task<T>> work)
    {
        if (!Shown) return work(Step.None);
        return Display().StartAsync(context => work(new Step(context.AddTask(Markup.Escape(description), maxValue: 1).IsIndeterminate())));
    }

    private static Progress Display() => Terminal.Value.Progress()
        .AutoClear(true)
        .HideCompleted(true)
        .Columns(new SpinnerColumn(), new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn());

    /// <summary>One step's bar: indeterminate until it is told how much there is.</summary>
    internal sealed class Step
    {
        private readonly ProgressTask? _task;

        public Step(ProgressTask? task) => _task = task;

        /// <summary>Nothing is drawn (not a terminal).</summary>
        public static Step None { get; } = new(null);

        /// <summary>Done so far of <paramref name="total"/> (entries, files, sources).</summary>
        public void Report(double done, double total)
        {
            if (_task is null || total <= 0) return;
            _task.IsIndeterminate = false;
            _task.MaxValue = total;
            _task.Value = Math.Min(done, total);
        }

        /// <summary>What the step is doing now.</summary>
        public void Describe(string text)
        {
            if (_task is not null) _task.Description = Markup.Escape(text);
        }
    }
}
