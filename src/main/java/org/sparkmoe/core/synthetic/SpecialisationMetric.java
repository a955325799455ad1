package org.sparkmoe.core.synthetic;

import java.io.Serializable;

/**
 * How far experts specialise on domains, from a domains x experts count matrix: {@code counts[d][e]}
 * = how often tokens of domain d went to expert e (top-1 counts, or gate weights summed). Treating
 * the normalised matrix as a joint distribution P(domain, expert):
 * <ul>
 * <li>{@link #nmi()}: normalised mutual information I(D;E) / ((H(D) + H(E)) / 2) (arithmetic-mean
 * normalisation, as scikit-learn's default): 0 when expert and domain are independent (no
 * specialisation), 1 when the matrix is a permutation (each expert serves exactly one domain and
 * each domain one expert);</li>
 * <li>{@link #uncertaintyCoefficient()}: I(D;E) / H(D), 1 whenever each expert serves one domain,
 * even if a domain is spread over several experts (more experts than domains);</li>
 * <li>{@link #domainPurity(int)}: the share of domain d's mass at its most-used expert;
 * {@link #expertPurity(int)}: the share of expert e's mass from its most frequent domain.</li>
 * </ul>
 * Degenerate cases: when H(D) = H(E) = 0 (one domain, one expert used) NMI is 1, as in scikit-learn;
 * otherwise a zero denominator gives 0.
 */
public final class SpecialisationMetric implements Serializable {
    private static final long serialVersionUID = 1L;

    private final double[][] counts;
    private final double total, mutualInformation, domainEntropy, expertEntropy;
    private final double[] domainPurity, expertPurity;

    private SpecialisationMetric(double[][] counts) {
        int d = counts.length;
        if (d == 0) throw new IllegalArgumentException("counts has no domains (rows)");
        int e = counts[0].length;
        if (e == 0) throw new IllegalArgumentException("counts has no experts (columns)");
        this.counts = new double[d][];
        double[] rows = new double[d], cols = new double[e];
        double t = 0;
        for (int i = 0; i < d; i++) {
            if (counts[i].length != e) {
                throw new IllegalArgumentException("counts row " + i + " has " + counts[i].length + " experts, row 0 has " + e);
            }
            this.counts[i] = counts[i].clone();
            for (int j = 0; j < e; j++) {
                double c = counts[i][j];
                if (!(c >= 0) || Double.isInfinite(c)) {
                    throw new IllegalArgumentException("counts[" + i + "][" + j + "] must be finite and >= 0, got " + c);
                }
                rows[i] += c;
                cols[j] += c;
                t += c;
            }
        }
        if (!(t > 0)) throw new IllegalArgumentException("counts are all 0");
        total = t;
        double mi = 0;
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < e; j++) {
                double c = counts[i][j];
                if (c > 0) mi += c / t * Math.log(c * t / (rows[i] * cols[j]));
            }
        }
        mutualInformation = Math.max(0, mi);
        domainEntropy = entropy(rows, t);
        expertEntropy = entropy(cols, t);
        domainPurity = new double[d];
        for (int i = 0; i < d; i++) {
            double m = 0;
            for (int j = 0; j < e; j++) m = Math.max(m, counts[i][j]);
            domainPurity[i] = rows[i] > 0 ? m / rows[i] : Double.NaN;
        }
        expertPurity = new double[e];
        for (int j = 0; j < e; j++) {
            double m = 0;
            for (int i = 0; i < d; i++) m = Math.max(m, counts[i][j]);
            expertPurity[j] = cols[j] > 0 ? m / cols[j] : Double.NaN;
        }
    }

    /** The metric of a domains x experts matrix of non-negative counts or gate-weight sums (copied). */
    public static SpecialisationMetric of(double[][] counts) {
        return new SpecialisationMetric(counts);
    }

    /** As {@link #of(double[][])}, for integer counts. */
    public static SpecialisationMetric of(long[][] counts) {
        double[][] c = new double[counts.length][];
        for (int i = 0; i < c.length; i++) {
            c[i] = new double[counts[i].length];
            for (int j = 0; j < c[i].length; j++) c[i][j] = counts[i][j];
        }
        return new SpecialisationMetric(c);
    }

    private static double entropy(double[] m, double t) {
        double h = 0;
        for (double c : m) if (c > 0) h -= c / t * Math.log(c / t);
        return Math.max(0, h);
    }

    public int domains() {
        return counts.length;
    }

    public int experts() {
        return counts[0].length;
    }

    /** Sum of all counts. */
    public double total() {
        return total;
    }

    /** I(D;E) in nats. */
    public double mutualInformationNats() {
        return mutualInformation;
    }

    /** H(D) in nats. */
    public double domainEntropyNats() {
        return domainEntropy;
    }

    /** H(E) in nats. */
    public double expertEntropyNats() {
        return expertEntropy;
    }

    /** I(D;E) / ((H(D) + H(E)) / 2): 0 = no specialisation, 1 = a one-to-one domain-expert map. */
    public double nmi() {
        double den = (domainEntropy + expertEntropy) / 2;
        if (den <= 1e-15) return 1.0;
        return Math.min(1, mutualInformation / den);
    }

    /** I(D;E) / H(D) (Theil's U): 1 when the expert determines the domain. 0 when H(D) = 0. */
    public double uncertaintyCoefficient() {
        return domainEntropy <= 1e-15 ? 0 : Math.min(1, mutualInformation / domainEntropy);
    }

    /** The share of domain d's mass at its most-used expert (NaN if the domain has no mass). */
    public double domainPurity(int d) {
        return domainPurity[d];
    }

    /** All per-domain purities (a copy). */
    public double[] domainPurities() {
        return domainPurity.clone();
    }

    /** The share of expert e's mass from its most frequent domain (NaN if the expert has no mass). */
    public double expertPurity(int e) {
        return expertPurity[e];
    }

    /** The mean of the per-domain purities over domains with mass, weighted by that mass. */
    public double meanDomainPurity() {
        double s = 0;
        for (int i = 0; i < counts.length; i++) {
            double m = 0;
            for (double c : counts[i]) m = Math.max(m, c);
            s += m;
        }
        return s / total;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "Specialisation[domains=%d, experts=%d, nmi=%.4f, U=%.4f, purity=%.4f]",
                domains(), experts(), nmi(), uncertaintyCoefficient(), meanDomainPurity());
    }
}
