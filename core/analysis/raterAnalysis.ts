// `miru raters`: agreement (Krippendorff's alpha, pairwise kappa, per-rater Spearman/bias/scale use), a consensus
// per image (mean, median or CROWDLAB, optionally weighing a model's class probabilities), rater clusters with a
// dendrogram and a stratified consensus, and a check against a synth dataset's truth. The pure part
// (analyzeRatingSet) works on a RatingSet; analyzeRaters adds the library: loading, model probabilities, storing
// the consensus and the stratified consensus as analyses, and optionally the clusters as rater groups.
import type { LibraryDb } from '../library/openLibrary.js';
import { setRaterGroups, type RaterGroupEntry } from '../library/raterGroups.js';
import { getModel } from '../models/modelRegistry.js';
import { latestRun } from '../models/runs.js';
import { saveAnalysis, type AnalysisValue } from './analysisStore.js';
import { spearman } from './correlation.js';
import { readTruthFile } from './featureAttribution.js';
import { ALPHA_METRICS, buildCoincidences, alphaFromCoincidences, type AlphaMetric } from './krippendorffAlpha.js';
import { imageTotals, pairwiseAgreement, raterRows, raterStats, type RatingSet } from './raterAgreement.js';
import { adjustedRandIndex, clusterAgreement, clusterRaters, flagSpammers, judgeSpammers } from './raterClusters.js';
import { crowdlabConsensus, meanConsensus, medianConsensus, type CrowdlabResult } from './raterConsensus.js';
import type { RaterAnalysisReport, RaterConsensusMethod, RaterReportCluster, RaterReportRow } from '../api/types/raterReport.js';

export type ConsensusMethod = RaterConsensusMethod;
export const CONSENSUS_METHODS: readonly ConsensusMethod[] = ['mean', 'median', 'crowdlab'];

export interface RaterAnalysisOptions {
  clusters?: number | 'auto';
  consensus?: ConsensusMethod;
  /** Images two raters must share before their kappa and correlation count. Default 10. */
  minCommon?: number;
  /** Correlation shrinkage for the cluster profiles (see raterClusters.ts). Default 10. */
  shrinkage?: number;
  /** Class values and per-image class probabilities of a model, for CROWDLAB (from --model). */
  model?: { name: string; runId: number; classes: number[]; probs: Float32Array[] } | null;
  /** rater name → truth group (null for a spammer) and spammer flag, from a synth truth.json. */
  truth?: { raters: { name: string; group: string | null; spammer: boolean }[] } | null;
}

// The shapes of the result are declared once, dependency-free, for the renderer (core/api/types/raterReport.ts);
// only the check against a synth truth is core's own.
export type RaterRow = RaterReportRow;
export type RaterClusterRow = RaterReportCluster;

export interface RaterAnalysisResult extends RaterAnalysisReport {
  truth?: {
    ari: number | null;
    compared: number;
    spammers: { truth: string[]; flagged: string[]; found: number; missed: string[]; falseAlarms: string[] };
  };
}

/** Per-image outputs that analyzeRaters stores; kept out of the JSON result (they are per image, not per rater). */
export interface RaterAnalysisImages {
  consensus: Float64Array;
  consensusExtra: (Float32Array | null)[];
  stratified: Float64Array | null;
  clusterConsensus: Float64Array[];
}

const round = (x: number | null, digits = 4): number | null => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits);

export function analyzeRatingSet(set: RatingSet, options: RaterAnalysisOptions = {}): { result: RaterAnalysisResult; images: RaterAnalysisImages } {
  if (set.value.length === 0) throw new Error('There are no ratings to analyse. Import them with `miru ratings import ratings.csv --db D`.');
  const method = options.consensus ?? 'mean';
  if (!CONSENSUS_METHODS.includes(method)) throw new Error(`--consensus must be one of ${CONSENSUS_METHODS.join(', ')} (got ${JSON.stringify(method)}).`);
  const minCommon = options.minCommon ?? 10;
  const shrinkage = options.shrinkage ?? 10;
  const requested = options.clusters ?? 'auto';
  const notes: string[] = [];
  const R = set.raters.length;

  // Agreement.
  const co = buildCoincidences(set.image, set.value);
  const alpha = {} as Record<AlphaMetric, number | null>;
  const alphaNotes: Partial<Record<AlphaMetric, string>> = {};
  for (const metric of ALPHA_METRICS) {
    const a = alphaFromCoincidences(co, metric);
    alpha[metric] = a.alpha;
    if (a.reason) alphaNotes[metric] = a.reason;
  }
  const rows = raterRows(set);
  const totals = imageTotals(set);
  const stats = raterStats(set, rows, totals);
  const pairs = pairwiseAgreement(set, minCommon, rows);

  // Consensus. CROWDLAB runs in every mode: its rater quality is the per-rater quality column.
  let crowdlab: CrowdlabResult | null = null;
  try {
    crowdlab = crowdlabConsensus(set, options.model ? { classes: options.model.classes, predProbs: options.model.probs } : {});
  } catch (error) {
    if (method === 'crowdlab' || options.model) throw error;
    notes.push(`No rater quality: ${(error as Error).message}`);
  }
  const simple = method === 'median' ? medianConsensus(set) : meanConsensus(set);
  const consensus = method === 'crowdlab' ? crowdlab!.consensus : simple.value;
  const consensusExtra: (Float32Array | null)[] = set.imageIds.map((_, i) => {
    if (method !== 'crowdlab') return null;
    const K = crowdlab!.classes.length;
    const extra = new Float32Array(1 + K);
    extra[0] = crowdlab!.quality[i]!;
    extra.set(crowdlab!.posterior.subarray(i * K, (i + 1) * K), 1);
    return extra;
  });

  // Spammers and clusters, in two passes. Pass 1 flags raters who do not agree with the overall consensus and
  // clusters the rest; but a rater of a minority taste (or on a compressed scale) can agree weakly with the overall
  // consensus yet strongly with its own cluster. Pass 2 judges every rater by its best agreement with any cluster's
  // consensus and clusters again without the final spammers.
  const first = flagSpammers(stats);
  const firstClustering = clusterRaters(pairs, stats, first.checks, { k: requested, shrinkage });
  const firstClusterOf = new Int32Array(R).fill(-1);
  firstClustering.members.forEach((r, x) => (firstClusterOf[r] = firstClustering.labels[x]!));
  let checks = first.checks;
  let thresholds = first.thresholds;
  let clustering = firstClustering;
  if (firstClustering.k > 0) {
    const evidence = clusterAgreement(set, rows, firstClusterOf, firstClustering.k).map((e, r) => (e.rho === null ? { rho: stats[r]!.spearman, n: stats[r]!.overlap, against: 'the consensus', note: stats[r]!.spearmanNote } : e));
    ({ checks, thresholds } = judgeSpammers(evidence, 'best cluster', firstClustering.k));
    const changed = checks.some((c, r) => c.spammer !== first.checks[r]!.spammer);
    if (changed) clustering = clusterRaters(pairs, stats, checks, { k: requested, shrinkage });
  }
  notes.push(...clustering.notes);
  const clusterOf = new Int32Array(R).fill(-1);
  clustering.members.forEach((r, x) => (clusterOf[r] = clustering.labels[x]!));
  const clusterConsensus = Array.from({ length: clustering.k }, () => new Float64Array(set.imageIds.length));
  const clusterCounts = Array.from({ length: clustering.k }, () => new Int32Array(set.imageIds.length));
  for (let i = 0; i < set.value.length; i++) {
    const c = clusterOf[set.rater[i]!]!;
    if (c < 0) continue;
    clusterConsensus[c]![set.image[i]!]! += set.value[i]!;
    clusterCounts[c]![set.image[i]!]!++;
  }
  clusterConsensus.forEach((values, c) => values.forEach((v, i) => (values[i] = clusterCounts[c]![i]! ? v / clusterCounts[c]![i]! : NaN)));
  const sizes = Array.from({ length: clustering.k }, (_, c) => clustering.members.filter((_, x) => clustering.labels[x] === c).length);
  const clusterRows: RaterClusterRow[] = sizes.map((size, c) => {
    const covered = Array.from(clusterConsensus[c]!).filter((v) => !Number.isNaN(v));
    return {
      id: c + 1,
      name: `cluster-${c + 1}`,
      raters: clustering.members.filter((_, x) => clustering.labels[x] === c).map((r) => set.raters[r]!),
      size,
      images: covered.length,
      meanConsensus: round(covered.length ? covered.reduce((s, v) => s + v, 0) / covered.length : null),
    };
  });

  // Stratified consensus: each cluster speaks for its share of the (non-spammer) raters, whatever its size in
  // a given image's ratings; images are scored by the clusters that rated them.
  let stratified: Float64Array | null = null;
  let stratifiedSummary: RaterAnalysisResult['stratified'] = null;
  if (clustering.k > 0) {
    const total = sizes.reduce((s, x) => s + x, 0);
    stratified = new Float64Array(set.imageIds.length);
    for (let i = 0; i < stratified.length; i++) {
      let sum = 0;
      let weight = 0;
      for (let c = 0; c < clustering.k; c++) {
        const v = clusterConsensus[c]![i]!;
        if (Number.isNaN(v)) continue;
        sum += sizes[c]! * v;
        weight += sizes[c]!;
      }
      stratified[i] = weight ? sum / weight : NaN;
    }
    const mean = meanConsensus(set).value;
    const both = Array.from(stratified.keys()).filter((i) => !Number.isNaN(stratified![i]!));
    const rho = both.length >= 3 ? spearman(both.map((i) => stratified![i]!), both.map((i) => mean[i]!)) : NaN;
    stratifiedSummary = {
      images: both.length,
      weights: sizes.map((s, c) => ({ cluster: c + 1, weight: round(s / total)! })),
      spearmanWithMean: round(Number.isFinite(rho) ? rho : null),
    };
  }

  const excludedReason = new Map(clustering.excluded.map((e) => [e.rater, e.reason]));
  const raters: RaterRow[] = stats.map((s, r) => {
    const rowNotes: string[] = [];
    if (s.spearmanNote) rowNotes.push(s.spearmanNote);
    if (checks[r]!.spammer) rowNotes.push(`spammer: ${checks[r]!.reason}`);
    else if (excludedReason.has(r) && !s.spearmanNote) rowNotes.push(`not clustered: ${excludedReason.get(r)}`);
    return {
      rater: s.rater,
      count: s.count,
      spearman: round(s.spearman),
      bias: round(s.bias),
      quality: crowdlab ? round(crowdlab.raterQuality[r]!) : null,
      cluster: clusterOf[r]! >= 0 ? clusterOf[r]! + 1 : null,
      spammer: checks[r]!.spammer,
      mean: round(s.mean)!,
      overlap: s.overlap,
      agreementWithConsensus: crowdlab ? round(crowdlab.raterAgreementWithConsensus[r]!) : null,
      scale: { min: s.scale.min, max: s.scale.max, entropy: round(s.scale.entropy)!, coverage: round(s.scale.coverage)!, histogram: s.scale.histogram },
      notes: rowNotes,
    };
  });

  const matrix = (m: Float64Array) => Array.from({ length: R }, (_, i) => Array.from({ length: R }, (_, j) => round(m[i * R + j]!)));
  const names = (list: readonly number[]) => list.map((x) => set.raters[clustering.members[x]!]!);
  const result: RaterAnalysisResult = {
    ratings: set.value.length,
    images: set.imageIds.length,
    raterCount: R,
    alpha: Object.fromEntries(ALPHA_METRICS.map((m) => [m, round(alpha[m], 6)])) as Record<AlphaMetric, number | null>,
    alphaDetail: { pairableUnits: co.pairableUnits, pairableValues: co.n, values: co.values, notes: alphaNotes },
    raters,
    clusters: clusterRows,
    kappa: {
      raters: set.raters,
      minCommon,
      labels: pairs.labels,
      matrix: matrix(pairs.kappa),
      common: Array.from({ length: R }, (_, i) => Array.from(pairs.common.subarray(i * R, (i + 1) * R))),
    },
    dendrogram: { raters: names(clustering.members.map((_, x) => x)), merges: clustering.merges.map((m) => ({ ...m, height: round(m.height, 6)! })), leafOrder: names(clustering.leafOrder) },
    clustering: {
      k: clustering.k,
      requested,
      silhouette: round(clustering.silhouette),
      silhouettes: clustering.silhouettes.map((s) => ({ k: s.k, silhouette: round(s.silhouette) })),
      separation: { within: round(clustering.separation.within), between: round(clustering.separation.between) },
      shrinkage,
      excluded: clustering.excluded.map((e) => ({ rater: set.raters[e.rater]!, reason: e.reason })),
    },
    spammers: { raters: set.raters.filter((_, r) => checks[r]!.spammer), thresholds: { ...thresholds, fence: round(thresholds.fence), low: round(thresholds.low), median: round(thresholds.median) } },
    consensus: {
      method,
      images: Array.from(consensus).filter((v) => !Number.isNaN(v)).length,
      model: options.model ? { name: options.model.name, runId: options.model.runId, weight: round(crowdlab?.modelWeight ?? null) } : null,
      meanQuality: method === 'crowdlab' ? round(crowdlab!.quality.reduce((s, q) => s + q, 0) / crowdlab!.quality.length) : null,
    },
    stratified: stratifiedSummary,
    notes,
  };
  if (options.truth) result.truth = compareWithTruth(result, options.truth);
  return { result, images: { consensus, consensusExtra, stratified, clusterConsensus } };
}

function compareWithTruth(result: RaterAnalysisResult, truth: NonNullable<RaterAnalysisOptions['truth']>): NonNullable<RaterAnalysisResult['truth']> {
  const byName = new Map(truth.raters.map((r) => [r.name, r]));
  const clustered = result.raters.filter((r) => r.cluster !== null && byName.get(r.rater)?.group);
  const ari = clustered.length >= 2 ? adjustedRandIndex(clustered.map((r) => byName.get(r.rater)!.group!), clustered.map((r) => r.cluster!)) : null;
  const truthSpammers = truth.raters.filter((r) => r.spammer).map((r) => r.name).filter((n) => result.raters.some((r) => r.rater === n));
  const flagged = result.raters.filter((r) => r.spammer).map((r) => r.rater);
  return {
    ari: round(ari),
    compared: clustered.length,
    spammers: {
      truth: truthSpammers,
      flagged,
      found: flagged.filter((n) => truthSpammers.includes(n)).length,
      missed: truthSpammers.filter((n) => !flagged.includes(n)),
      falseAlarms: flagged.filter((n) => !truthSpammers.includes(n)),
    },
  };
}

/** Every rating in the library as a RatingSet; a library without ratings is an error that says what to do. */
export function loadRatingSet(db: LibraryDb): RatingSet {
  const rows = db
    .prepare<[], { name: string; image_id: number; value: number }>('SELECT raters.name, ratings.image_id, ratings.value FROM ratings JOIN raters ON raters.id = ratings.rater_id ORDER BY ratings.rater_id, ratings.image_id')
    .all();
  if (rows.length === 0) throw new Error('This library has no ratings. Import them first: `miru ratings import ratings.csv --db D` (columns image,rater,score).');
  const raterIndex = new Map<string, number>();
  const imageIndex = new Map<number, number>();
  const rater = new Int32Array(rows.length);
  const image = new Int32Array(rows.length);
  const value = new Float64Array(rows.length);
  rows.forEach((row, i) => {
    let r = raterIndex.get(row.name);
    if (r === undefined) raterIndex.set(row.name, (r = raterIndex.size));
    let m = imageIndex.get(row.image_id);
    if (m === undefined) imageIndex.set(row.image_id, (m = imageIndex.size));
    rater[i] = r;
    image[i] = m;
    value[i] = row.value;
  });
  return { raters: [...raterIndex.keys()], imageIds: [...imageIndex.keys()], rater, image, value };
}

/**
 * A model's class probabilities for every rated image, from its latest score run: the classes are the card's
 * ordinal values (or class positions 0..K-1). Images the run has not scored are an error naming how many.
 */
export function loadModelProbabilities(db: LibraryDb, modelName: string, set: RatingSet): NonNullable<RaterAnalysisOptions['model']> {
  const model = getModel(db, modelName);
  const spec = model.card.outputs.score;
  if (!spec || (spec.kind !== 'ordinal' && spec.kind !== 'classes')) {
    throw new Error(`Model ${JSON.stringify(model.name)} has no class probabilities (its card's score output is ${spec ? `of kind ${spec.kind}` : 'missing'}); CROWDLAB needs an ordinal or classes model.`);
  }
  const run = latestRun(db, model.id, 'score');
  if (!run) throw new Error(`Model ${JSON.stringify(model.name)} has no score run yet. Score the library first: \`miru score --db D --model ${model.name}\`.`);
  const read = db.prepare<[number, number], { probs: Buffer | null }>('SELECT probs FROM scores WHERE run_id = ? AND image_id = ?');
  const probs: Float32Array[] = [];
  let missing = 0;
  let example: number | null = null;
  let K: number | null = null;
  for (const imageId of set.imageIds) {
    const row = read.get(run.id, imageId);
    if (!row?.probs) {
      missing++;
      example ??= imageId;
      probs.push(new Float32Array(0));
      continue;
    }
    const p = new Float32Array(new Uint8Array(row.probs).buffer);
    K ??= p.length;
    probs.push(p);
  }
  if (missing) {
    throw new Error(`Score run ${run.id} of model ${JSON.stringify(model.name)} has no class probabilities for ${missing} of the ${set.imageIds.length} rated images (e.g. image id ${example}). Run \`miru score --db D --model ${model.name}\` to finish it.`);
  }
  const classes = spec.values ?? Array.from({ length: K ?? 0 }, (_, i) => i);
  return { name: model.name, runId: run.id, classes, probs };
}

export interface AnalyzeRatersOptions extends Omit<RaterAnalysisOptions, 'model' | 'truth'> {
  /** A model name: its latest score run's class probabilities join the CROWDLAB consensus. */
  model?: string;
  /** A synth truth.json (or its folder): report the adjusted Rand index of the clusters and the spammers found. */
  truth?: string;
  /** Store the clusters as rater groups (cluster-1, cluster-2, ...); unclustered raters lose their group. */
  saveGroups?: boolean;
}

/**
 * Runs the analysis on a library and stores its per-image results as analyses: kind 'consensus' (value = the
 * consensus; for CROWDLAB extra = [quality, ...posterior]) and kind 'rater-clusters' (value = the stratified
 * consensus, extra = each cluster's consensus, NaN where it rated nothing). Everything is computed before
 * anything is written, and each write is one transaction.
 */
export async function analyzeRaters(db: LibraryDb, options: AnalyzeRatersOptions = {}): Promise<RaterAnalysisResult> {
  const truthFile = options.truth ? await readTruthFile(options.truth) : null;
  if (truthFile && !Array.isArray((truthFile as { raters?: unknown }).raters)) throw new Error(`--truth ${options.truth}: it lists no raters.`);
  const set = loadRatingSet(db);
  const model = options.model ? loadModelProbabilities(db, options.model, set) : null;
  if (model && options.consensus && options.consensus !== 'crowdlab') {
    throw new Error(`--model weighs a model into the CROWDLAB consensus; use it with --consensus crowdlab (not ${options.consensus}).`);
  }
  const consensusMethod = options.consensus ?? (model ? 'crowdlab' : 'mean');
  const { result, images } = analyzeRatingSet(set, {
    ...options,
    consensus: consensusMethod,
    model,
    truth: truthFile ? { raters: truthFile.raters.map((r) => ({ name: r.name, group: r.group, spammer: r.spammer })) } : null,
  });

  const raterQuality = Object.fromEntries(result.raters.map((r) => [r.rater, r.quality]));
  const consensusValues: AnalysisValue[] = set.imageIds.map((imageId, i) => ({ imageId, value: images.consensus[i]!, extra: images.consensusExtra[i] }));
  result.consensus.analysisId = saveAnalysis(db, {
    kind: 'consensus',
    sourceRunId: model?.runId ?? null,
    params: { method: consensusMethod, model: model?.name ?? null },
    summary: {
      method: consensusMethod,
      classes: consensusMethod === 'crowdlab' ? (model?.classes ?? result.alphaDetail.values) : null,
      extra: consensusMethod === 'crowdlab' ? 'quality, then the posterior over classes' : null,
      raterQuality,
      modelWeight: result.consensus.model?.weight ?? null,
    },
    values: consensusValues,
  });
  if (images.stratified && result.stratified) {
    const stratified = images.stratified;
    result.stratified.analysisId = saveAnalysis(db, {
      kind: 'rater-clusters',
      sourceRunId: null,
      params: { clusters: result.clustering.requested, minCommon: result.kappa.minCommon, shrinkage: result.clustering.shrinkage },
      summary: {
        extra: 'per-cluster consensus in cluster id order (NaN where the cluster rated nothing)',
        clusters: result.clusters,
        k: result.clustering.k,
        silhouette: result.clustering.silhouette,
        dendrogram: result.dendrogram,
        spammers: result.spammers.raters,
        weights: result.stratified.weights,
      },
      values: set.imageIds.map((imageId, i) => ({
        imageId,
        value: stratified[i]!,
        extra: Float32Array.from(images.clusterConsensus, (c) => c[i]!),
      })),
    });
  }
  if (options.saveGroups) {
    if (result.clustering.k === 0) throw new Error('No clusters to save as rater groups: no rater could be clustered.');
    const entries: RaterGroupEntry[] = result.raters.map((r, i) => ({ row: `rater ${i + 1}`, rater: r.rater, group: r.cluster === null ? null : `cluster-${r.cluster}` }));
    const saved = setRaterGroups(db, entries);
    result.savedGroups = { set: saved.set, cleared: saved.cleared, unchanged: saved.unchanged };
  }
  return result;
}
