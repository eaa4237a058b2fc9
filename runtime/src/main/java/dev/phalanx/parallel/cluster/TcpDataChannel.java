package dev.phalanx.parallel.cluster;

import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.pekko.Done;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Framing;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.SourceQueueWithComplete;
import org.apache.pekko.stream.javadsl.Tcp;
import org.apache.pekko.util.ByteString;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.phalanx.protocol.cluster.RingChunk;

/**
 * The data channel between ring neighbours, apart from the cluster's own traffic (large
 * messages on Pekko's remoting would starve its heartbeats): a Pekko Streams TCP server that
 * takes frames from the left neighbour, and one TCP connection to the right neighbour.
 * Frames are length-prefixed {@link RingChunk}s; the streams keep them in order. With
 * {@link DataChannelTls} both directions run over TLS with mutual authentication: a neighbour
 * without a trusted certificate never gets a frame in.
 */
public final class TcpDataChannel implements RingLink {

    /** The largest frame: a chunk of a gradient bucket, far below this. */
    static final int MAX_FRAME_BYTES = 256 << 20;
    /** Frames waiting to go out before {@link #send} blocks. */
    static final int SEND_BUFFER_FRAMES = 64;

    private final ClassicActorSystemProvider system;
    private final BlockingQueue<Object> inbox; // RingChunks, or an error from a stream
    private final Tcp.ServerBinding binding;
    private final AtomicReference<SourceQueueWithComplete<ByteString>> right = new AtomicReference<>();
    private final AtomicLong bytesSent = new AtomicLong();
    private final Optional<DataChannelTls> tls;

    private TcpDataChannel(ClassicActorSystemProvider system, Tcp.ServerBinding binding, BlockingQueue<Object> inbox,
                           Optional<DataChannelTls> tls) {
        this.system = system;
        this.inbox = inbox;
        this.binding = binding;
        this.tls = tls;
    }

    /** Listens on {@code host:port} (0: a free port) for the left neighbour, over plain TCP. */
    public static TcpDataChannel bind(ClassicActorSystemProvider system, String host, int port, Duration timeout) throws Exception {
        return bind(system, host, port, timeout, Optional.empty());
    }

    /** Listens on {@code host:port} (0: a free port) for the left neighbour; over TLS when {@code tls} is given. */
    public static TcpDataChannel bind(ClassicActorSystemProvider system, String host, int port, Duration timeout,
                                      Optional<DataChannelTls> tls) throws Exception {
        BlockingQueue<Object> inbox = new LinkedBlockingQueue<>(); // unbounded, but the ring keeps at most a phase ahead
        Source<Tcp.IncomingConnection, CompletionStage<Tcp.ServerBinding>> connections = tls.isPresent()
                ? Tcp.get(system).bindWithTls(host, port, tls.get()::serverEngine)
                : Tcp.get(system).bind(host, port);
        CompletionStage<Tcp.ServerBinding> bound = connections
                .to(Sink.foreach(conn -> conn.handleWith(Flow.fromSinkAndSource(
                        Framing.lengthField(Integer.BYTES, 0, MAX_FRAME_BYTES, ByteOrder.BIG_ENDIAN)
                                .to(Sink.<ByteString>foreach(frame -> inbox.add(parse(frame.drop(Integer.BYTES))))),
                        Source.maybe()), system)))
                .run(system);
        return new TcpDataChannel(system, bound.toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS), inbox, tls);
    }

    private static Object parse(ByteString bytes) {
        try {
            return RingChunk.parseFrom(bytes.asByteBuffer());
        } catch (InvalidProtocolBufferException e) {
            return new IllegalStateException("a frame on the data channel is not a ring chunk: " + e.getMessage());
        }
    }

    public InetSocketAddress localAddress() {
        return binding.localAddress();
    }

    /** Connects to the right neighbour's data channel. */
    public void connect(String host, int port, Duration timeout) throws Exception {
        AtomicReference<SourceQueueWithComplete<ByteString>> mine = new AtomicReference<>();
        Pair<SourceQueueWithComplete<ByteString>, CompletionStage<Tcp.OutgoingConnection>> run = Source
                .<ByteString>queue(SEND_BUFFER_FRAMES, OverflowStrategy.backpressure())
                .viaMat(tls.isPresent()
                        ? Tcp.get(system).outgoingConnectionWithTls(new InetSocketAddress(host, port), tls.get()::clientEngine)
                        : Tcp.get(system).outgoingConnection(host, port), Keep.both())
                .to(Sink.<ByteString>ignore().mapMaterializedValue(done -> {
                    // a failure counts while this is the connection in use: one to a neighbour since replaced (a lost node) is no news
                    done.whenComplete((Done d, Throwable e) -> {
                        if (e != null && right.get() == mine.get()) {
                            inbox.add(new IllegalStateException("the data channel to " + host + ":" + port + " failed: " + e.getMessage()));
                        }
                    });
                    return done;
                }))
                .run(system);
        mine.set(run.first());
        run.second().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        SourceQueueWithComplete<ByteString> old = right.getAndSet(run.first());
        if (old != null) old.complete();
    }

    /** A 4-byte big-endian length (of the chunk alone, as {@code Framing.lengthField} reads it), then the chunk. */
    private static ByteString frame(RingChunk chunk) {
        byte[] body = chunk.toByteArray();
        if (body.length + Integer.BYTES > MAX_FRAME_BYTES) throw new IllegalArgumentException("a ring chunk of " + body.length + " bytes exceeds the frame limit");
        return ByteString.fromArrayUnsafe(java.nio.ByteBuffer.allocate(Integer.BYTES).putInt(body.length).array())
                .concat(ByteString.fromArrayUnsafe(body));
    }

    @Override
    public void send(RingChunk chunk) {
        SourceQueueWithComplete<ByteString> q = right.get();
        if (q == null) throw new IllegalStateException("the data channel is not connected to a right neighbour");
        try {
            q.offer(frame(chunk)).toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("could not send on the data channel: " + e, e);
        }
        long payload = chunk.getValues().size();
        for (var p : chunk.getPiecesList()) payload += p.getValues().size();
        bytesSent.addAndGet(payload);
    }

    @Override
    public RingChunk receive(Duration timeout) throws TimeoutException, InterruptedException {
        Object o = inbox.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (o == null) throw new TimeoutException("nothing came from the left neighbour on the data channel within " + timeout.toMillis() + " ms");
        if (o instanceof RuntimeException e) throw e;
        return (RingChunk) o;
    }

    /** Wakes a {@link #receive} that waits, with this error (the ring is aborted: a node was lost). */
    public void interrupt(String why) {
        inbox.add(new IllegalStateException(why));
    }

    /** Drops every frame and error waiting: what is left of an aborted step, before the ring is re-formed. */
    public void drain() {
        inbox.clear();
    }

    @Override
    public long bytesSent() {
        return bytesSent.get();
    }

    @Override
    public void close() {
        SourceQueueWithComplete<ByteString> q = right.getAndSet(null);
        if (q != null) q.complete();
        binding.unbind();
    }
}
