package dev.phalanx.kernels.device;

/** The three convolutions of a Conv2d layer, each with its own algorithm choice. */
public enum ConvDirection { FORWARD, BACKWARD_DATA, BACKWARD_FILTER }
