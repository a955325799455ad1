package org.sparkmoe.core.linalg;

/**
 * The process-wide GEMM back end. Placeholder selection: always {@link JavaGemm} until the
 * ojAlgo and native back ends are wired in.
 */
public final class GemmBackends {
    private static volatile GemmBackend current = JavaGemm.INSTANCE;

    private GemmBackends() {
    }

    public static GemmBackend current() {
        return current;
    }

    public static void use(GemmBackend backend) {
        current = java.util.Objects.requireNonNull(backend);
    }
}
