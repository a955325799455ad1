package org.sparkmoe.core.linalg;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The process-wide GEMM back end, chosen at first use.
 *
 * <p>System property {@value #PROPERTY}: {@code auto} (default), {@code ojalgo},
 * {@code netlib-native}, {@code netlib-java} or {@code java}. {@code auto} builds every back end
 * that links (netlib is a {@code provided} dependency that ships with Spark MLlib, so it may be
 * absent, and its native half needs {@code libblas.so.3}), times a short sgemm on each (about
 * {@value #PROBE_MILLIS_PER_BACKEND} ms apiece) and keeps the fastest, logging every rate. ojAlgo
 * is always a candidate, so the core works with nothing but ojAlgo on the classpath. An explicit
 * name that cannot be loaded fails loudly instead of silently running 10x slower.
 *
 * <p>Each JVM (driver, every executor) selects for itself: machines differ in what is installed.
 */
public final class GemmBackends {
    /** System property naming the back end; see the class comment. */
    public static final String PROPERTY = "sparkmoe.gemm";

    /** Probe shape: the square shape the selection times (m = n = k). */
    static final int PROBE_SIZE = 256;
    static final long PROBE_MILLIS_PER_BACKEND = 40;

    private static volatile GemmBackend current;
    private static List<GemmBackend> available;
    private static Map<String, Throwable> unavailable;

    private GemmBackends() {
    }

    /** The back end in use, selecting it on the first call. */
    public static GemmBackend current() {
        GemmBackend b = current;
        if (b == null) {
            synchronized (GemmBackends.class) {
                b = current;
                if (b == null) {
                    b = select(System.getProperty(PROPERTY, "auto"));
                    current = b;
                }
            }
        }
        return b;
    }

    /** Replaces the back end for the whole JVM (tests, benchmarks, a caller that knows better). */
    public static void use(GemmBackend backend) {
        current = Objects.requireNonNull(backend);
    }

    /**
     * Every back end that loads in this JVM, in a fixed order (not by speed): ojAlgo, then
     * netlib-native and netlib-java when they link, then the plain-loop {@link JavaGemm}.
     */
    public static synchronized List<GemmBackend> available() {
        if (available == null) {
            List<GemmBackend> list = new ArrayList<>();
            Map<String, Throwable> failed = new LinkedHashMap<>();
            list.add(OjAlgoGemm.INSTANCE);
            tryLoad("netlib-native", true, list, failed);
            tryLoad("netlib-java", false, list, failed);
            list.add(JavaGemm.INSTANCE);
            available = Collections.unmodifiableList(list);
            unavailable = Collections.unmodifiableMap(failed);
        }
        return available;
    }

    /**
     * The available back end called {@code name}.
     *
     * @throws IllegalArgumentException for an unknown name
     * @throws IllegalStateException when that back end exists but does not load here
     */
    public static GemmBackend byName(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (GemmBackend b : available()) {
            if (b.name().equals(n)) {
                return b;
            }
        }
        Throwable why = unavailable.get(n);
        if (why != null) {
            throw new IllegalStateException("GEMM back end " + n + " does not load in this JVM: " + why, why);
        }
        throw new IllegalArgumentException("unknown GEMM back end '" + name
                + "'; expected auto, ojalgo, netlib-native, netlib-java or java");
    }

    private static void tryLoad(String name, boolean nativeBlas, List<GemmBackend> out, Map<String, Throwable> failed) {
        try {
            // Plain static calls, resolved only when executed, so a missing netlib jar surfaces here
            // as a NoClassDefFoundError. (A method reference would be linked outside this try.)
            out.add(nativeBlas ? NetlibGemm.nativeBlas() : NetlibGemm.javaBlas());
        } catch (LinkageError | RuntimeException e) {
            // NoClassDefFoundError (no netlib jar), UnsatisfiedLinkError / netlib's own exception
            // (no libblas.so.3): expected on plain machines, so one debug line, not a stack trace.
            failed.put(name, e);
            Log.debug("GEMM back end " + name + " unavailable: " + e);
        }
    }

    static GemmBackend select(String spec) {
        String s = spec.trim().toLowerCase(Locale.ROOT);
        if (!s.equals("auto")) {
            GemmBackend b = byName(s);
            Log.info("GEMM back end " + describe(b) + " (" + PROPERTY + "=" + s + ")");
            return b;
        }
        GemmBackend best = null;
        double bestRate = -1;
        StringBuilder rates = new StringBuilder();
        for (GemmBackend b : available()) {
            // The loop oracle never wins at this size and would eat the whole probe budget.
            if (b == JavaGemm.INSTANCE) {
                continue;
            }
            double rate;
            try {
                rate = probeGflops(b, PROBE_SIZE, PROBE_SIZE, PROBE_SIZE, PROBE_MILLIS_PER_BACKEND * 1_000_000L);
            } catch (LinkageError | RuntimeException e) {
                // A back end that loads but fails on first call (broken native library) is skipped.
                Log.warn("GEMM back end " + b.name() + " failed its probe: " + e);
                continue;
            }
            rates.append(rates.length() == 0 ? "" : ", ")
                    .append(describe(b)).append(String.format(Locale.ROOT, " %.1f GFLOP/s", rate));
            if (rate > bestRate) {
                best = b;
                bestRate = rate;
            }
        }
        if (best == null) {
            best = OjAlgoGemm.INSTANCE;
        }
        Log.info("GEMM back end " + best.name() + " selected by probe (sgemm " + PROBE_SIZE + "^3, best of ~"
                + PROBE_MILLIS_PER_BACKEND + " ms each): " + rates);
        return best;
    }

    /**
     * Best-of timing of a row-major float32 {@code m x k * k x n} product, repeated for about
     * {@code budgetNanos}: GFLOP/s. Best-of rather than mean so that the first, interpreted calls
     * of a pure-Java back end do not count against it.
     */
    static double probeGflops(GemmBackend b, int m, int n, int k, long budgetNanos) {
        float[] a = new float[m * k];
        float[] bm = new float[k * n];
        float[] c = new float[m * n];
        for (int i = 0; i < a.length; i++) a[i] = ((i * 31 + 7) % 97) / 97f - 0.5f;
        for (int i = 0; i < bm.length; i++) bm[i] = ((i * 17 + 3) % 89) / 89f - 0.5f;
        // One tiny untimed call first: a pure-Java back end's first call pays one-off class and
        // thread-pool initialisation (100+ ms here) that says nothing about its speed.
        b.sgemm(false, false, 8, 8, 8, 1f, a, 0, 8, bm, 0, 8, 0f, c, 0, 8);
        long start = System.nanoTime();
        long best = Long.MAX_VALUE;
        do {
            long t0 = System.nanoTime();
            b.sgemm(false, false, m, n, k, 1f, a, 0, k, bm, 0, n, 0f, c, 0, n);
            best = Math.min(best, System.nanoTime() - t0);
        } while (System.nanoTime() - start < budgetNanos);
        return 2.0 * m * n * k / Math.max(1, best);
    }

    private static String describe(GemmBackend b) {
        // No instanceof NetlibGemm here: that would load the class, and netlib may be absent.
        return b instanceof OjAlgoGemm || b instanceof JavaGemm ? b.name() : b.toString();
    }

    /** c = beta * c on an m x n view: GEMM with k = 0 or alpha = 0; beta = 0 clears without reading. */
    static void scale(float beta, float[] c, int off, int ld, int m, int n) {
        if (beta == 1f) {
            return;
        }
        for (int i = 0; i < m; i++) {
            int o = off + i * ld;
            if (beta == 0f) {
                java.util.Arrays.fill(c, o, o + n, 0f);
            } else {
                for (int j = 0; j < n; j++) c[o + j] *= beta;
            }
        }
    }

    static void scale(double beta, double[] c, int off, int ld, int m, int n) {
        if (beta == 1d) {
            return;
        }
        for (int i = 0; i < m; i++) {
            int o = off + i * ld;
            if (beta == 0d) {
                java.util.Arrays.fill(c, o, o + n, 0d);
            } else {
                for (int j = 0; j < n; j++) c[o + j] *= beta;
            }
        }
    }

    /**
     * slf4j is {@code provided} (it ships with Spark); outside Spark it may be missing, and GEMM must
     * not fail over a log line, so fall back to {@link System.Logger}.
     */
    private static final class Log {
        static void info(String msg) {
            try {
                Slf4j.LOG.info(msg);
            } catch (LinkageError e) {
                System.getLogger(GemmBackends.class.getName()).log(System.Logger.Level.INFO, msg);
            }
        }

        static void warn(String msg) {
            try {
                Slf4j.LOG.warn(msg);
            } catch (LinkageError e) {
                System.getLogger(GemmBackends.class.getName()).log(System.Logger.Level.WARNING, msg);
            }
        }

        static void debug(String msg) {
            try {
                Slf4j.LOG.debug(msg);
            } catch (LinkageError e) {
                System.getLogger(GemmBackends.class.getName()).log(System.Logger.Level.DEBUG, msg);
            }
        }
    }

    private static final class Slf4j {
        static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(GemmBackends.class);
    }
}
