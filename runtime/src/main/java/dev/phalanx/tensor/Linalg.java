package dev.phalanx.tensor;

/**
 * Determinant and singular value decomposition of small matrices, as in the blitz's tensor
 * tour. Computed in double precision: LU with partial pivoting, and one-sided Jacobi for the
 * SVD (accurate and short; these are for inspection, not for training).
 */
public final class Linalg {

    private Linalg() { }

    /** What {@code torch.svd} returns: A = U diag(S) V^T, S descending. */
    public record Svd(Tensor U, Tensor S, Tensor V) {
        @Override
        public String toString() {
            return "torch.return_types.svd(\nU=" + U + ",\nS=" + S + ",\nV=" + V + ")";
        }
    }

    public static Tensor det(Tensor a) {
        int n = square("det", a);
        double[][] m = toDouble(a);
        double det = 1;
        for (int c = 0; c < n; c++) {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
            if (m[p][c] == 0) return Tensor.scalar(0f);
            if (p != c) {
                double[] t = m[p];
                m[p] = m[c];
                m[c] = t;
                det = -det;
            }
            det *= m[c][c];
            for (int r = c + 1; r < n; r++) {
                double f = m[r][c] / m[c][c];
                for (int k = c; k < n; k++) m[r][k] -= f * m[c][k];
            }
        }
        return Tensor.scalar((float) det);
    }

    /** Reduced SVD of an m x n matrix with m >= n (the transpose is used otherwise). */
    public static Svd svd(Tensor a) {
        if (a.dim() != 2) throw new IllegalArgumentException("svd: expected a 2-D matrix, got shape " + Shapes.str(a.shape()));
        int rows = a.size(0), cols = a.size(1);
        if (rows < cols) {
            Svd t = svd(a.t());
            return new Svd(t.V, t.S, t.U);
        }
        double[][] u = toDouble(a); // columns are orthogonalised in place
        int n = cols;
        double[][] v = new double[n][n];
        for (int i = 0; i < n; i++) v[i][i] = 1;
        for (int sweep = 0; sweep < 60; sweep++) {
            double off = 0;
            for (int p = 0; p < n - 1; p++) {
                for (int q = p + 1; q < n; q++) {
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < rows; i++) {
                        alpha += u[i][p] * u[i][p];
                        beta += u[i][q] * u[i][q];
                        gamma += u[i][p] * u[i][q];
                    }
                    if (gamma == 0) continue;
                    off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.signum(zeta == 0 ? 1 : zeta) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
                    double c = 1 / Math.sqrt(1 + t * t), s = c * t;
                    for (int i = 0; i < rows; i++) {
                        double up = u[i][p], uq = u[i][q];
                        u[i][p] = c * up - s * uq;
                        u[i][q] = s * up + c * uq;
                    }
                    for (int i = 0; i < n; i++) {
                        double vp = v[i][p], vq = v[i][q];
                        v[i][p] = c * vp - s * vq;
                        v[i][q] = s * vp + c * vq;
                    }
                }
            }
            if (off < 1e-15) break;
        }
        double[] sv = new double[n];
        for (int j = 0; j < n; j++) {
            double norm = 0;
            for (int i = 0; i < rows; i++) norm += u[i][j] * u[i][j];
            sv[j] = Math.sqrt(norm);
            if (sv[j] > 0) for (int i = 0; i < rows; i++) u[i][j] /= sv[j];
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        java.util.Arrays.sort(order, (x, y) -> Double.compare(sv[y], sv[x]));
        float[] uf = new float[rows * n], sf = new float[n], vf = new float[n * n];
        for (int k = 0; k < n; k++) {
            int j = order[k];
            sf[k] = (float) sv[j];
            for (int i = 0; i < rows; i++) uf[i * n + k] = (float) u[i][j];
            for (int i = 0; i < n; i++) vf[i * n + k] = (float) v[i][j];
        }
        return new Svd(Tensor.of(uf, rows, n), Tensor.of(sf, n), Tensor.of(vf, n, n));
    }

    private static int square(String op, Tensor a) {
        if (a.dim() != 2 || a.size(0) != a.size(1)) {
            throw new IllegalArgumentException(op + ": A must be batches of square matrices, but they are " + Shapes.x(a.shape()) + " matrices");
        }
        return a.size(0);
    }

    private static double[][] toDouble(Tensor a) {
        int r = a.size(0), c = a.size(1);
        float[] d = a.contiguousFloats();
        double[][] m = new double[r][c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) m[i][j] = d[i * c + j];
        return m;
    }
}
