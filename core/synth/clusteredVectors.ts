// Synthetic embeddings with known structure: Gaussian clusters around random centres. The ground truth (which
// cluster made each vector) lets tests and benchmarks check kNN recall, projections that must keep clusters
// apart, and outlier scores, without a model or images.
import { SeededRandom } from './random.js';

export interface ClusteredVectors {
  /** n × dim, row-major. */
  vectors: Float32Array;
  dim: number;
  /** Cluster of each row: row i belongs to cluster i % clusters. */
  labels: Int32Array;
}

/**
 * n vectors in `clusters` clusters: centres drawn from N(0, I), members = centre + N(0, noise² I). With dim in the
 * hundreds, noise 1 keeps clusters apart and noise 3 makes them overlap heavily (a hard kNN case).
 */
export function clusteredVectors(options: { n: number; dim: number; clusters: number; noise: number; seed: number }): ClusteredVectors {
  const { n, dim, clusters, noise, seed } = options;
  const rng = new SeededRandom(seed);
  const centres = Float64Array.from({ length: clusters * dim }, () => rng.normal());
  const vectors = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % clusters;
    labels[i] = c;
    for (let d = 0; d < dim; d++) vectors[i * dim + d] = centres[c * dim + d] + noise * rng.normal();
  }
  return { vectors, dim, labels };
}
