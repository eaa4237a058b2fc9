package dev.phalanx.kernels.device;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import dev.phalanx.kernels.cpu.ConvGeometry;

/**
 * The convolution algorithm of each shape on one device, found once (cuDNN's find runs and
 * times every algorithm: far too slow per call, and impossible inside a graph capture) and kept
 * with its workspace size, as PyTorch's {@code cudnn.benchmark} cache does. The key is the whole
 * geometry, batch size included: the last, smaller batch of an epoch has its own entry.
 */
public final class ConvAlgorithmCache {

    private record Key(ConvDirection direction, ConvGeometry geometry) { }

    private final DeviceApi device;
    private final Map<Key, ConvAlgorithm> chosen = new ConcurrentHashMap<>();
    private final AtomicInteger finds = new AtomicInteger();

    public ConvAlgorithmCache(DeviceApi device) {
        this.device = device;
    }

    public ConvAlgorithm get(ConvDirection direction, ConvGeometry g) {
        return chosen.computeIfAbsent(new Key(direction, g), k -> {
            finds.incrementAndGet();
            ConvAlgorithm a = device.findConvAlgorithm(direction, g);
            if (a.direction() != direction) {
                throw new IllegalStateException(device.name() + " answered a " + direction + " search with a " + a.direction() + " algorithm");
            }
            return a;
        });
    }

    /** How many searches ran: one per distinct (direction, shape). */
    public int finds() {
        return finds.get();
    }

    public int size() {
        return chosen.size();
    }
}
