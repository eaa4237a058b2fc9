package dev.phalanx.launcher;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code phalanx} command line. */
@Command(name = "phalanx", mixinStandardHelpOptions = true, version = "phalanx 0.1.0",
        description = "Data-parallel deep-learning training for the JVM.",
        subcommands = {TrainCommand.class, EvalCommand.class, BenchCommand.class, DemoCommand.class, DownloadCommand.class,
            DevicesCommand.class, ServeCommand.class, CommandLine.HelpCommand.class})
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

    /** The configured command line: errors as one clear line (a stack trace only with PHALANX_DEBUG set). */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("phalanx " + cmd.getCommandName() + ": " + e.getMessage());
            if (System.getenv("PHALANX_DEBUG") != null) e.printStackTrace(cmd.getErr());
            return 1;
        });
        return cli;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
