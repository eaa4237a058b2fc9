package dev.phalanx.kernels.device;

/** A device's memory as its driver reports it. */
public record MemoryInfo(long freeBytes, long totalBytes) { }
