package dev.phalanx.launcher;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code phalanx} command line. */
@Command(name = "phalanx", mixinStandardHelpOptions = true, version = "phalanx 0.1.0",
        description = "Data-parallel deep-learning training for the JVM.",
        subcommands = {TrainCommand.class, EvalCommand.class, BenchCommand.class, DemoCommand.class, DownloadCommand.class,
            DevicesCommand.class, ServeCommand.class, NodeCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        // initialise logging on this thread first: a first use from two threads at once makes SLF4J print a warning
        org.slf4j.LoggerFactory.getILoggerFactory();
        int code = run(args);
        if (code == 130) return; // interrupted by Ctrl-C: the JVM is already shutting down, and exits 130 itself
        System.exit(code);
    }

    /** Runs a command line and returns its exit code. */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    /**
     * The configured command line: errors as one clear line (a stack trace only with
     * PHALANX_DEBUG set), Errors too: an OutOfMemoryError or a StackOverflowError that reaches
     * here says what ran out and what to do, instead of a trace.
     */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> report(cmd, e));
        CommandLine.IExecutionStrategy run = new CommandLine.RunLast();
        cli.setExecutionStrategy(parsed -> {
            try {
                return run.execute(parsed);
            } catch (CommandLine.ExecutionException e) {
                throw e;
            } catch (Error e) {
                CommandLine cmd = parsed.asCommandLineList().get(parsed.asCommandLineList().size() - 1);
                return report(cmd, e);
            }
        });
        return cli;
    }

    private static int report(CommandLine cmd, Throwable e) {
        cmd.getErr().println("phalanx " + cmd.getCommandName() + ": " + oneLine(e));
        if (System.getenv("PHALANX_DEBUG") != null) e.printStackTrace(cmd.getErr());
        cmd.getErr().flush();
        return 1;
    }

    /** The message on one line; for an Error, what ran out and what to do. */
    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (e instanceof OutOfMemoryError) {
            m = "out of memory (" + (m == null ? "OutOfMemoryError" : m) + "; the heap is " + Runtime.getRuntime().maxMemory() / (1 << 20)
                    + " MiB): use a smaller batch size or model, or give Java more memory (java -Xmx...)";
        } else if (e instanceof StackOverflowError) {
            m = "the stack overflowed (input nested too deeply?); set PHALANX_DEBUG=1 for the trace";
        } else if (e instanceof Error) {
            m = e.getClass().getSimpleName() + (m == null ? "" : ": " + m) + "; set PHALANX_DEBUG=1 for the trace";
        } else if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName() + (e.getCause() != null ? ": " + oneLine(e.getCause()) : "");
        }
        int nl = m.indexOf('\n');
        return nl >= 0 ? m.substring(0, nl) : m;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
