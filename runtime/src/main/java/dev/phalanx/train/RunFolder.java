package dev.phalanx.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A run folder belongs to one run at a time: an OS lock on {@code run.lock} (released by the
 * kernel when the process ends, even by SIGKILL, so it never goes stale) keeps a second run out,
 * and the file names the holder's PID for the message. The lock file itself stays: deleting it
 * would let two runs lock two different files of the same name.
 */
public final class RunFolder implements AutoCloseable {

    public static final String LOCK = "run.lock";

    /** The files a run writes at the top of its folder; {@code --overwrite} deletes these and the checkpoints, nothing else. */
    private static final List<String> OUTPUTS = List.of("model.safetensors", "metrics.csv", "report.html", "recipe.conf", Trainer.RECIPE_CHANGES);

    /** Another process (or this one) trains into the folder. */
    public static final class InUseException extends IOException {
        public InUseException(String message) {
            super(message);
        }
    }

    private final Path dir;
    private final FileChannel channel;
    private final FileLock lock;

    private RunFolder(Path dir, FileChannel channel, FileLock lock) {
        this.dir = dir;
        this.channel = channel;
        this.lock = lock;
    }

    /** Creates the folder if needed and locks it, or refuses in one line naming the folder and the holder's PID. */
    public static RunFolder lock(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path file = dir.resolve(LOCK);
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            ch.close();
            throw new InUseException(dir + " is in use by another run in this process (PID " + ProcessHandle.current().pid()
                    + "); train into another folder with --out");
        } catch (IOException e) {
            ch.close();
            throw new IOException("cannot lock " + file + ": " + e.getMessage(), e);
        }
        if (l == null) {
            String holder;
            try {
                holder = Files.readString(file, StandardCharsets.UTF_8).trim();
            } catch (IOException e) {
                holder = "";
            }
            ch.close();
            throw new InUseException(dir + " is in use by another run (PID " + (holder.isEmpty() ? "unknown" : holder)
                    + "); wait for it to end, or train into another folder with --out");
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)), 0);
        ch.force(false);
        return new RunFolder(dir, ch, l);
    }

    public Path dir() {
        return dir;
    }

    /** Deletes what an earlier run wrote here (checkpoints, weights, metrics, events, report); other files are left alone. */
    public List<Path> clearOutputs(Checkpoints checkpoints) throws IOException {
        List<Path> removed = new ArrayList<>();
        if (Files.exists(checkpoints.folder())) {
            Checkpoints.deleteTree(checkpoints.folder());
            removed.add(checkpoints.folder());
        }
        for (String f : OUTPUTS) if (Files.deleteIfExists(dir.resolve(f))) removed.add(dir.resolve(f));
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "events.out.tfevents.*")) {
            for (Path p : s) {
                Files.deleteIfExists(p);
                removed.add(p);
            }
        }
        return removed;
    }

    /** Removes temporary files that a killed run left at the top of the folder (atomic writes in progress). */
    public List<Path> sweep() throws IOException {
        List<Path> removed = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, ".*.tmp")) {
            for (Path p : s) {
                if (Files.isRegularFile(p) && Files.deleteIfExists(p)) removed.add(p);
            }
        }
        return removed;
    }

    @Override
    public void close() throws IOException {
        try {
            if (lock.isValid()) lock.release();
        } finally {
            channel.close();
        }
    }
}
