package dev.phalanx.kernels.device;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A kernel's name and parameters as declared in its {@code .cu} source
 * ({@code extern "C" __global__ void name(const float* __restrict__ x, long long n, ...)}).
 */
public record KernelSignature(String name, String file, List<Param> params) {

    /** The C types kernels take. */
    public enum Type { POINTER, INT32, INT64, FLOAT32, FLOAT64 }

    public record Param(String name, Type type, String declaration) { }

    private static final Pattern KERNEL = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+(\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);

    /** Every kernel declared in {@code source}, in order. */
    public static List<KernelSignature> parse(String file, String source) {
        List<KernelSignature> out = new ArrayList<>();
        Matcher m = KERNEL.matcher(source);
        while (m.find()) {
            List<Param> params = new ArrayList<>();
            String list = m.group(2).trim();
            if (!list.isEmpty()) {
                for (String p : list.split(",")) params.add(param(file, m.group(1), p.trim().replaceAll("\\s+", " ")));
            }
            out.add(new KernelSignature(m.group(1), file, List.copyOf(params)));
        }
        return out;
    }

    private static Param param(String file, String kernel, String decl) {
        int cut = Math.max(decl.lastIndexOf(' '), decl.lastIndexOf('*'));
        String name = decl.substring(cut + 1);
        String type = decl.substring(0, cut + 1).replace("const", "").replace("__restrict__", "").replaceAll("\\s+", "");
        Type t;
        if (type.endsWith("*")) t = Type.POINTER;
        else if (type.equals("int")) t = Type.INT32;
        else if (type.equals("longlong")) t = Type.INT64;
        else if (type.equals("float")) t = Type.FLOAT32;
        else if (type.equals("double")) t = Type.FLOAT64;
        else throw new IllegalArgumentException(file + ": kernel " + kernel + " has a parameter of a type launches cannot pass: " + decl);
        return new Param(name, t, decl);
    }

    /** Throws, naming the kernel and the parameter, unless {@code args} fit these parameters. */
    public void check(KernelArgs args) {
        if (args.size() != params.size()) {
            throw new IllegalArgumentException("kernel " + name + " takes " + params.size() + " arguments " + declarations() + ", got "
                    + args.size() + ": " + args);
        }
        for (int i = 0; i < params.size(); i++) {
            Param p = params.get(i);
            KernelArgs.Arg a = args.get(i);
            boolean ok = switch (p.type()) {
                case POINTER -> a instanceof KernelArgs.Ptr;
                case INT32 -> a instanceof KernelArgs.I32;
                case INT64 -> a instanceof KernelArgs.I64;
                case FLOAT32 -> a instanceof KernelArgs.F32;
                case FLOAT64 -> a instanceof KernelArgs.F64;
            };
            if (!ok) {
                throw new IllegalArgumentException("kernel " + name + ": argument " + (i + 1) + " (" + p.declaration() + ") got " + a);
            }
        }
    }

    private String declarations() {
        List<String> d = new ArrayList<>();
        for (Param p : params) d.add(p.declaration());
        return "(" + String.join(", ", d) + ")";
    }
}
