package dev.phalanx.tensor;

/**
 * float16 (IEEE binary16) and bfloat16 bit patterns to and from float32, rounding to nearest
 * even as PyTorch does (Java 17 has no {@code Float.floatToFloat16}).
 */
public final class HalfFloats {

    private HalfFloats() { }

    public static float halfToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16, exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13)); // inf, nan
        if (exp == 0) { // zero or subnormal: mant * 2^-24
            float v = mant * 0x1.0p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    public static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) { // inf or nan (nan keeps a quiet payload bit)
            return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | ((abs >>> 13) & 0x3ff) : 0));
        }
        if (abs >= 0x477ff000) return (short) (sign | 0x7c00); // rounds to >= 65520: overflow to inf
        int exp = abs >>> 23;
        if (exp < 113) { // below the smallest normal half: subnormal or zero
            if (exp < 102) return (short) sign; // below half of the smallest subnormal
            int mant = (abs & 0x7fffff) | 0x800000;
            int shift = 126 - exp; // brings mant to units of 2^-24
            int half = mant >>> shift;
            int rest = mant & ((1 << shift) - 1), halfway = 1 << (shift - 1);
            if (rest > halfway || (rest == halfway && (half & 1) != 0)) half++;
            return (short) (sign | half);
        }
        int mant = abs & 0x7fffff;
        int half = ((exp - 112) << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) half++; // may carry into the exponent: correct
        return (short) (sign | half);
    }

    public static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    public static short floatToBfloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) 0x7fc0;
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
