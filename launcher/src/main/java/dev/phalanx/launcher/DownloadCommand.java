package dev.phalanx.launcher;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import dev.phalanx.data.DataSets;
import dev.phalanx.data.Downloader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code phalanx download NAME}: fetches a data set's official files, SHA-256 checked. */
@Command(name = "download", mixinStandardHelpOptions = true,
        description = "Download a data set (fashion-mnist, mnist or cifar10) from its official address, checking every file's SHA-256.")
final class DownloadCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "NAME", description = "fashion-mnist, mnist or cifar10")
    String name;

    @Option(names = "--dir", description = "where to put it (default: data/<name>)")
    Path dir;

    @Option(names = "--mirror", description = "a server with the same file names, instead of the official one")
    String mirror;

    @Override
    public Integer call() throws Exception {
        DataSets.Info info = DataSets.info(name);
        if (mirror != null) info = info.withMirror(mirror);
        Path where = new Downloader(System.out).fetch(info, dir != null ? dir : Path.of("data", info.name()));
        System.out.println(info.title() + " is in " + where);
        return 0;
    }
}
