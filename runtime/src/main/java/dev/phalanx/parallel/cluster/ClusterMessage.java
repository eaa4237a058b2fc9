package dev.phalanx.parallel.cluster;

/**
 * A message that crosses a node boundary. Each is serialized by {@link ClusterSerializer} to
 * its Protobuf message in {@code protocol/src/main/proto/cluster.proto}; Java serialization
 * stays off.
 */
public interface ClusterMessage { }
