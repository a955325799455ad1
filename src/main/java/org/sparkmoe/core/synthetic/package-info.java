/**
 * Built-in data with a known answer, needing no download: the text corpus
 * {@link org.sparkmoe.core.synthetic.MarkovMixtureCorpus} (a mixture of Markov "domains", with its
 * entropy floor, i.e. the best reachable perplexity), the regression data
 * {@link org.sparkmoe.core.synthetic.RegimeMixture}, and
 * {@link org.sparkmoe.core.synthetic.SpecialisationMetric} (how far experts specialise by domain,
 * as normalised mutual information).
 *
 * <p>Layer: core. May depend on {@code core.network}, {@code core.linalg} and the JDK; never on
 * Spark or Scala.
 */
package org.sparkmoe.core.synthetic;
