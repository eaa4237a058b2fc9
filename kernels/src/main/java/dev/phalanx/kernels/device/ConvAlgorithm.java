package dev.phalanx.kernels.device;

/**
 * A device's choice of algorithm for one convolution shape, and the scratch memory it needs.
 * {@code id} means something only to the device that found it (a cuDNN algorithm enum value).
 */
public record ConvAlgorithm(ConvDirection direction, int id, String name, long workspaceBytes) { }
