package dev.phalanx.tensor;

import java.util.Locale;

import dev.phalanx.kernels.Device;

/**
 * Prints tensors the way PyTorch does: {@code tensor([[1., 1.],\n        [1., 1.]])}, four
 * decimals, integral values as {@code 2.}, scientific notation when magnitudes span more than
 * 1000x, summarised with "..." beyond 1000 elements, {@code True}/{@code False} for bool, the
 * dtype where the values do not show it, and the autograd suffix.
 */
final class TensorFormatter {

    private static final int THRESHOLD = 1000, EDGE_ITEMS = 3, LINE_WIDTH = 80;
    private static final String PREFIX = "tensor(";

    private TensorFormatter() { }

    static String format(Tensor t) {
        Device device = t.device();
        Tensor values = device.isCpu() ? t : DeviceTensors.toHost(t, true); // a device tensor prints a host copy of its values
        String s = format(values, device.isCpu() ? "" : ", device='" + device + "'");
        if (t.gradFn() != null) return s.substring(0, s.length() - 1) + ", grad_fn=<" + t.gradFn().name() + ">)";
        if (t.requiresGrad()) return s.substring(0, s.length() - 1) + ", requires_grad=True)";
        return s;
    }

    /** The values and dtype of a host tensor (the autograd suffix is added by the caller), {@code deviceSuffix} before the dtype as PyTorch prints it. */
    private static String format(Tensor t, String deviceSuffix) {
        boolean summarize = t.numel() > THRESHOLD;
        Style style = Style.of(t);
        StringBuilder b = new StringBuilder(PREFIX);
        if (t.numel() == 0 && t.dim() > 0) {
            b.append("[]");
        } else {
            body(b, t.shape(), style, 0, 0, PREFIX.length(), summarize);
        }
        if (t.numel() == 0 && t.dim() > 0) b.append(", size=(").append(sizeTuple(t.shape())).append(')');
        // PyTorch names the dtype unless the values show it: float32, and non-empty int64 and bool
        b.append(deviceSuffix);
        boolean shown = t.dtype() == DType.FLOAT32 || (t.numel() > 0 && (t.dtype() == DType.INT64 || t.dtype() == DType.BOOL));
        if (!shown) b.append(", dtype=").append(t.dtype().torchName());
        return b.append(')').toString();
    }

    private static String sizeTuple(int[] s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length; i++) b.append(i > 0 ? ", " : "").append(s[i]);
        return s.length == 1 ? b.append(',').toString() : b.toString();
    }

    private static void body(StringBuilder b, int[] shape, Style style, int dim, int offset, int indent, boolean summarize) {
        if (shape.length == 0) {
            b.append(style.format(0));
            return;
        }
        int n = shape[dim];
        int stride = 1;
        for (int i = dim + 1; i < shape.length; i++) stride *= shape[i];
        b.append('[');
        if (dim == shape.length - 1) {
            int perLine = Math.max(1, (LINE_WIDTH - indent) / (style.width + 2)); // torch/_tensor_str.py
            boolean skip = summarize && n > 2 * EDGE_ITEMS;
            int printed = 0;
            for (int i = 0; i < n; i++) {
                String item;
                if (skip && i == EDGE_ITEMS) {
                    item = " ..."; // PyTorch writes the ellipsis item as " ..."
                    i = n - EDGE_ITEMS - 1;
                } else {
                    item = pad(style.format(offset + i), style.width);
                }
                if (printed > 0) {
                    b.append(',');
                    if (printed % perLine == 0) b.append('\n').append(" ".repeat(indent + 1));
                    else b.append(' ');
                }
                b.append(item);
                printed++;
            }
        } else {
            String sep = "," + "\n".repeat(shape.length - dim - 1) + " ".repeat(indent + 1);
            for (int i = 0; i < n; i++) {
                if (summarize && n > 2 * EDGE_ITEMS && i == EDGE_ITEMS) {
                    b.append("...").append(sep);
                    i = n - EDGE_ITEMS - 1;
                    continue;
                }
                if (i > 0) b.append(sep);
                body(b, shape, style, dim + 1, offset + i * stride, indent + 1, summarize);
            }
        }
        b.append(']');
    }

    private static String pad(String s, int width) {
        return s.length() >= width ? s : " ".repeat(width - s.length()) + s;
    }

    /** How every element of one tensor is written: bool, integer, fixed or scientific, and the common width. */
    private static final class Style {
        final long[] longs;     // integer and bool tensors
        final double[] doubles; // floating tensors
        final boolean bool, integer, sci;
        int width;

        private Style(long[] longs, double[] doubles, boolean bool, boolean integer, boolean sci) {
            this.longs = longs;
            this.doubles = doubles;
            this.bool = bool;
            this.integer = integer;
            this.sci = sci;
        }

        static Style of(Tensor t) {
            Style s;
            if (!t.dtype().isFloatingPoint()) {
                s = new Style(t.contiguousLongs(), null, t.dtype() == DType.BOOL, true, false);
            } else {
                double[] d = t.contiguousDoubles();
                boolean integer = true;
                double maxAbs = 0, minAbs = Double.MAX_VALUE;
                for (double v : d) {
                    if (!Double.isFinite(v)) continue;
                    if (v != Math.ceil(v)) integer = false;
                    double a = Math.abs(v);
                    if (a != 0) {
                        maxAbs = Math.max(maxAbs, a);
                        minAbs = Math.min(minAbs, a);
                    }
                }
                boolean sci;
                if (maxAbs == 0) sci = false;
                else if (integer) sci = maxAbs > 1e8;
                else sci = maxAbs / minAbs > 1000 || maxAbs > 1e8 || minAbs < 1e-4;
                s = new Style(null, d, false, integer, sci);
            }
            int n = s.longs != null ? s.longs.length : s.doubles.length;
            for (int i = 0; i < n; i++) s.width = Math.max(s.width, s.format(i).length());
            return s;
        }

        String format(int i) {
            if (bool) return longs[i] != 0 ? "True" : "False";
            if (longs != null) return Long.toString(longs[i]);
            double v = doubles[i];
            if (Double.isNaN(v)) return "nan";
            if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
            if (sci) return String.format(Locale.ROOT, "%.4e", v);
            if (integer) return String.format(Locale.ROOT, "%.0f.", v);
            return String.format(Locale.ROOT, "%.4f", v);
        }
    }
}
