// A map of the raters for the Raters view's scatter: raters who agree and disagree with the same people sit
// together. Each rater's profile is its row of pairwise quadratic kappa (the heatmap's numbers), shrunk toward 0
// where a pair shares few images; two raters are as far apart as 1 − Pearson of their profiles (the distance
// raterClusters.ts clusters on, there over Spearman; on synth panels the two give the same picture), and
// classical multidimensional scaling (Torgerson) lays those distances out in 2-D. Working from the analysis'
// own kappa matrix keeps the scatter consistent with the heatmap and costs no second pass over the ratings.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { profileDistances } from './raterClusters.js';
import type { RaterMap } from '../api/types/raterReport.js';

export interface MdsResult {
  /** n × dims, row-major: point i is (coords[i*dims], coords[i*dims+1], ...). */
  coords: Float64Array;
  /** The largest `dims` eigenvalues of the double-centred matrix B = −½ J D² J, largest first. */
  eigenvalues: number[];
  /**
   * Each axis's eigenvalue as a share of the sum of B's positive eigenvalues: how much of the (Euclidean part of
   * the) spread the axis shows. Distances that are not Euclidean also give negative eigenvalues, left out here.
   */
  explained: number[];
}

/**
 * Classical (Torgerson) MDS of an n×n distance matrix (row-major): the top eigenvectors of B = −½ J D² J, each
 * scaled by the square root of its eigenvalue. Exact for Euclidean distances (the layout reproduces them up to
 * rotation and reflection); an axis whose eigenvalue is not positive is all zeros. Each axis points so that its
 * largest-magnitude coordinate is positive (the first such on a tie), so the same distances draw the same map.
 */
export function classicalMds(distance: ArrayLike<number>, n: number, dims = 2): MdsResult {
  if (!Number.isInteger(n) || n < 0) throw new Error(`classicalMds: n must be a whole number of points (got ${n}).`);
  if (distance.length !== n * n) throw new Error(`classicalMds: a ${n}×${n} distance matrix needs ${n * n} entries, got ${distance.length}.`);
  if (!Number.isInteger(dims) || dims < 1) throw new Error(`classicalMds: dims must be a whole number of at least 1 (got ${dims}).`);
  for (let i = 0; i < n; i++) {
    if (distance[i * n + i] !== 0) throw new Error(`classicalMds: the distance of point ${i} to itself is ${distance[i * n + i]}, not 0.`);
    for (let j = i + 1; j < n; j++) {
      const a = distance[i * n + j]!;
      const b = distance[j * n + i]!;
      if (!Number.isFinite(a) || a < 0) throw new Error(`classicalMds: distance (${i}, ${j}) is ${a}; distances must be finite and not negative.`);
      if (Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(a))) throw new Error(`classicalMds: the matrix is not symmetric: (${i}, ${j}) is ${a} but (${j}, ${i}) is ${b}.`);
    }
  }
  const coords = new Float64Array(n * dims);
  if (n < 2) return { coords, eigenvalues: Array.from({ length: dims }, () => 0), explained: Array.from({ length: dims }, () => 0) };

  // Double centring of the squared distances: b_ij = −½ (d²_ij − mean_i − mean_j + mean).
  const squared = Float64Array.from({ length: n * n }, (_, k) => distance[k]! * distance[k]!);
  const rowMean = new Float64Array(n);
  let grand = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += squared[i * n + j]!;
    rowMean[i] = s / n;
    grand += s;
  }
  grand /= n * n;
  const b = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b.set(i, j, -0.5 * (squared[i * n + j]! - rowMean[i]! - rowMean[j]! + grand));
  const evd = new EigenvalueDecomposition(b, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const order = values.map((_, i) => i).sort((x, y) => values[y]! - values[x]!);
  const positive = values.reduce((s, v) => (v > 0 ? s + v : s), 0);
  // Eigenvalues at rounding level (a layout with fewer real dimensions than asked) count as zero.
  const tiny = 1e-10 * Math.max(positive, 1e-300);
  const eigenvalues: number[] = [];
  const explained: number[] = [];
  for (let k = 0; k < dims; k++) {
    const src = order[k];
    const lambda = src === undefined ? 0 : values[src]!;
    eigenvalues.push(lambda);
    explained.push(lambda > tiny ? lambda / positive : 0);
    if (src === undefined || !(lambda > tiny)) continue;
    const scale = Math.sqrt(lambda);
    let largest = 0;
    for (let i = 0; i < n; i++) {
      const v = evd.eigenvectorMatrix.get(i, src) * scale;
      coords[i * dims + k] = v;
      if (Math.abs(v) > Math.abs(largest) + 1e-12 * scale) largest = v;
    }
    if (largest < 0) for (let i = 0; i < n; i++) coords[i * dims + k] = -coords[i * dims + k]!;
  }
  return { coords, eigenvalues, explained };
}

/** The pairwise agreement a rater analysis reports (RaterAnalysisResult['kappa']). */
export interface RaterAgreementMatrix {
  raters: string[];
  /** R×R agreement (quadratic kappa); null where a pair shares fewer than minCommon images or it is undefined. */
  matrix: (number | null)[][];
  /** R×R images both raters rated. */
  common: number[][];
  minCommon: number;
}

/** The map's shape is declared once, with the rater report the renderer reads (core/api/types/raterReport.ts). */
export type RaterEmbedding = RaterMap;

export interface RaterEmbeddingOptions {
  /** Pairs sharing n images have their agreement multiplied by n / (n + shrinkage), as the clusters do. Default 10. */
  shrinkage?: number;
}

/**
 * Classical MDS of the raters' kappa-profile distances. Raters who share minCommon images with fewer than two
 * others have no profile to compare and are left out with the reason; spammers stay on the map (they land apart
 * from every taste, which is worth seeing).
 */
export function raterEmbedding(agreement: RaterAgreementMatrix, options: RaterEmbeddingOptions = {}): RaterEmbedding {
  const shrinkage = options.shrinkage ?? 10;
  if (!(shrinkage >= 0) || !Number.isFinite(shrinkage)) throw new Error(`raterEmbedding: shrinkage must be a finite number of at least 0 (got ${shrinkage}).`);
  const { raters, matrix, common, minCommon } = agreement;
  const R = raters.length;
  for (const [name, m] of [['agreement', matrix], ['common-image', common]] as const) {
    if (m.length !== R) throw new Error(`raterEmbedding: the ${name} matrix must be ${R}×${R} for ${R} raters; it has ${m.length} rows.`);
    const bad = m.findIndex((row) => row.length !== R);
    if (bad >= 0) throw new Error(`raterEmbedding: the ${name} matrix must be ${R}×${R} for ${R} raters; row ${bad} has ${m[bad]!.length} entries.`);
  }
  const known = (i: number, j: number) => common[i]![j]! >= minCommon && matrix[i]![j] !== null && Number.isFinite(matrix[i]![j]);
  const members: number[] = [];
  const excluded: RaterEmbedding['excluded'] = [];
  for (let r = 0; r < R; r++) {
    let partners = 0;
    for (let s = 0; s < R; s++) if (s !== r && known(r, s)) partners++;
    if (partners >= 2) members.push(r);
    else excluded.push({ rater: raters[r]!, reason: `shares ${minCommon} or more images (with a defined kappa) with only ${partners} other rater${partners === 1 ? '' : 's'}` });
  }
  const shrunk = new Float64Array(R * R);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      if (i === j) shrunk[i * R + j] = 1;
      else if (known(i, j)) shrunk[i * R + j] = (matrix[i]![j]! * common[i]![j]!) / (common[i]![j]! + shrinkage);
    }
  }
  const mds = classicalMds(profileDistances(shrunk, R, members), members.length, 2);
  return {
    method: 'classical-mds',
    distance: 'kappa-profile',
    shrinkage,
    points: members.map((r, x) => ({ rater: raters[r]!, x: mds.coords[2 * x]!, y: mds.coords[2 * x + 1]! })),
    explained: [mds.explained[0]!, mds.explained[1]!],
    excluded,
  };
}
