package dev.phalanx.service;

/**
 * One event of a run's progress, as the event stream sends it: {@code seq} counts up from 1
 * within the run, {@code type} is {@code state}, {@code metrics}, {@code epoch} or
 * {@code resumed}, and {@code json} is the event's data.
 */
public record RunEvent(long seq, String type, long step, String json) { }
