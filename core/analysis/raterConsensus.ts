// Consensus labels per image: the mean, the median, or a CROWDLAB-style consensus (Goh, Tkachenko & Mueller 2022,
// as cleanlab's multiannotator.get_label_quality_multiannotator implements it with its defaults:
// consensus_method "best_quality", quality_method "crowdlab", self-confidence label quality):
//   1. majority vote per image, ties broken by the model's probabilities, then by the rarer class overall, then
//      by the agreement of the tied labels' raters with the untied majority;
//   2. each rater's weight: its agreement with the other raters on shared images, rescaled against the error of
//      always answering the most common class (so a rater no better than that gets ~0);
//   3. the model's weight: likewise from its accuracy against the majority, times sqrt(mean ratings per image);
//   4. a posterior per image: the weighted average of the model's probabilities and each rater's label as a
//      distribution (the mean agreement with consensus on its label, the rest spread evenly);
//   5. the consensus is the posterior's argmax (the majority vote where tied), and 2-4 are computed again for it.
// Per image: consensus quality = the posterior probability of the consensus label. Per rater: quality = a mix of
// the mean posterior probability of the rater's own labels and its agreement with consensus, mixed by the model's
// share of the total weight. Without a model the model weight is 0: the posterior comes from the raters alone and
// quality is agreement with consensus (cleanlab needs a model; this is the natural reduction of its formulas).
import type { RatingSet } from './raterAgreement.js';

/** cleanlab's CLIPPING_LOWER_BOUND: weights never reach exactly 0. */
const CLIP = 1e-6;

export interface SimpleConsensus {
  /** Per image index: the consensus value. */
  value: Float64Array;
  count: Int32Array;
}

export function meanConsensus(set: RatingSet): SimpleConsensus {
  const value = new Float64Array(set.imageIds.length);
  const count = new Int32Array(set.imageIds.length);
  for (let i = 0; i < set.value.length; i++) {
    value[set.image[i]!]! += set.value[i]!;
    count[set.image[i]!]!++;
  }
  for (let j = 0; j < value.length; j++) value[j] = count[j]! ? value[j]! / count[j]! : NaN;
  return { value, count };
}

export function medianConsensus(set: RatingSet): SimpleConsensus {
  const lists: number[][] = set.imageIds.map(() => []);
  for (let i = 0; i < set.value.length; i++) lists[set.image[i]!]!.push(set.value[i]!);
  const value = new Float64Array(lists.length);
  const count = new Int32Array(lists.length);
  lists.forEach((l, j) => {
    l.sort((a, b) => a - b);
    count[j] = l.length;
    const mid = l.length >> 1;
    value[j] = l.length === 0 ? NaN : l.length % 2 ? l[mid]! : (l[mid - 1]! + l[mid]!) / 2;
  });
  return { value, count };
}

export interface CrowdlabOptions {
  /**
   * The label values in class order. Every rating must be one of them. Default: the distinct rating values,
   * ascending. With a model, its classes' values (e.g. a card's ordinal values 1..5).
   */
  classes?: readonly number[];
  /** Per image index, the model's class probabilities over `classes` (length K each); omit for no model. */
  predProbs?: readonly (ArrayLike<number>)[] | null;
}

export interface CrowdlabResult {
  classes: number[];
  /** Per image index: the consensus label's class index. */
  consensusClass: Int32Array;
  /** Per image index: the consensus label value (classes[consensusClass]). */
  consensus: Float64Array;
  /** Per image index: posterior probability of the consensus label (cleanlab's consensus_quality_score). */
  quality: Float64Array;
  /** Per image index: share of the image's raters who gave the consensus label. */
  agreement: Float64Array;
  numAnnotations: Int32Array;
  /** N×K row-major posterior class probabilities. */
  posterior: Float64Array;
  /** Per rater index. */
  raterQuality: Float64Array;
  raterWeight: Float64Array;
  raterAgreementWithConsensus: Float64Array;
  /** null without a model. */
  modelWeight: number | null;
}

interface Labels {
  N: number;
  M: number;
  K: number;
  /** Per image: [rater, class] pairs. */
  perImage: { rater: number; cls: number }[][];
  /** Per rater: [image, class] pairs. */
  perRater: { image: number; cls: number }[][];
  num: Int32Array;
}

function toLabels(set: RatingSet, classes: readonly number[]): Labels {
  const index = new Map(classes.map((c, k) => [c, k]));
  const N = set.imageIds.length;
  const M = set.raters.length;
  const perImage: Labels['perImage'] = Array.from({ length: N }, () => []);
  const perRater: Labels['perRater'] = Array.from({ length: M }, () => []);
  for (let i = 0; i < set.value.length; i++) {
    const cls = index.get(set.value[i]!);
    if (cls === undefined) {
      throw new Error(
        `Rater ${JSON.stringify(set.raters[set.rater[i]!])} gave image ${set.imageIds[set.image[i]!]} the value ${set.value[i]}, which is not one of the classes ${classes.join(', ')}. ` +
          'CROWDLAB needs every rating to be one of the classes (with a model: the values of its card\'s ordinal classes).',
      );
    }
    perImage[set.image[i]!]!.push({ rater: set.rater[i]!, cls });
    perRater[set.rater[i]!]!.push({ image: set.image[i]!, cls });
  }
  return { N, M, K: classes.length, perImage, perRater, num: Int32Array.from(perImage, (l) => l.length) };
}

function argmaxWithTies(values: ArrayLike<number>, among: readonly number[]): number[] {
  let best = -Infinity;
  for (const k of among) best = Math.max(best, values[k]!);
  return among.filter((k) => values[k] === best);
}

function argminWithTies(values: ArrayLike<number>, among: readonly number[]): number[] {
  let best = Infinity;
  for (const k of among) best = Math.min(best, values[k]!);
  return among.filter((k) => values[k] === best);
}

/** Majority vote with cleanlab's tie-breaks; a tie that survives all three goes to the lowest class (deterministic, where cleanlab picks at random). */
function majorityVote(L: Labels, predProbs: CrowdlabOptions['predProbs']): Int32Array {
  const label = new Int32Array(L.N).fill(-1);
  const classTotals = new Float64Array(L.K);
  const counts = L.perImage.map((list) => {
    const c = new Float64Array(L.K);
    for (const x of list) c[x.cls]!++;
    for (let k = 0; k < L.K; k++) classTotals[k]! += c[k]!;
    return c;
  });
  const tied = new Map<number, number[]>();
  const untied = new Uint8Array(L.N);
  const all = Array.from({ length: L.K }, (_, k) => k);
  counts.forEach((c, i) => {
    if (L.num[i] === 0) return;
    const modes = argmaxWithTies(c, all);
    if (modes.length === 1) {
      label[i] = modes[0]!;
      untied[i] = 1;
    } else tied.set(i, modes);
  });
  for (const [i, modes] of tied) {
    let left = modes;
    if (predProbs) left = argmaxWithTies(predProbs[i]!, left);
    if (left.length > 1) left = argminWithTies(classTotals, left);
    tied.set(i, left);
    if (left.length === 1) {
      label[i] = left[0]!;
      tied.delete(i);
    }
  }
  if (tied.size > 0) {
    // Tie-break 3: raters' agreement with the untied majority; raters without untied images get the average.
    const agree = new Float64Array(L.M).fill(NaN);
    L.perRater.forEach((list, r) => {
      let n = 0;
      let hit = 0;
      for (const x of list) {
        // Only images whose vote had a single mode count, as in cleanlab (not those settled by tie-breaks 1-2).
        if (!untied[x.image]) continue;
        n++;
        if (label[x.image] === x.cls) hit++;
      }
      if (n) agree[r] = hit / n;
    });
    const known = Array.from(agree).filter((x) => !Number.isNaN(x));
    const avg = known.length ? known.reduce((s, x) => s + x, 0) / known.length : 0;
    for (let r = 0; r < L.M; r++) if (Number.isNaN(agree[r]!)) agree[r] = avg;
    for (const [i, modes] of tied) {
      const score = new Float64Array(L.K).fill(-Infinity);
      for (const k of modes) {
        const raters = L.perImage[i]!.filter((x) => x.cls === k).map((x) => agree[x.rater]!);
        score[k] = raters.reduce((s, x) => s + x, 0) / raters.length;
      }
      label[i] = argmaxWithTies(score, modes)[0]!;
    }
  }
  return label;
}

/** Each rater's mean agreement with the other raters on shared images (cleanlab's annotator agreement with annotators). */
function agreementWithOthers(L: Labels): Float64Array {
  const out = new Float64Array(L.M).fill(NaN);
  L.perRater.forEach((list, r) => {
    let weighted = 0;
    let weights = 0;
    for (const x of list) {
      const m = L.num[x.image]!;
      if (m < 2) continue;
      let same = 0;
      for (const y of L.perImage[x.image]!) if (y.rater !== r && y.cls === x.cls) same++;
      // Per image agreement (same / (m-1)), averaged with weights m-1: the sum of `same` over the sum of m-1.
      weighted += same;
      weights += m - 1;
    }
    if (weights > 0) out[r] = weighted / weights;
  });
  const known = Array.from(out).filter((x) => !Number.isNaN(x));
  const avg = known.length ? known.reduce((s, x) => s + x, 0) / known.length : NaN;
  for (let r = 0; r < L.M; r++) if (Number.isNaN(out[r]!)) out[r] = avg;
  return out;
}

interface ConsensusStats {
  agreement: Float64Array;
  posterior: Float64Array;
  quality: Float64Array;
  modelWeight: number | null;
  raterWeight: Float64Array;
}

function consensusStats(L: Labels, consensus: Int32Array, predProbs: CrowdlabOptions['predProbs'], withOthers: Float64Array): ConsensusStats {
  const { N, K, M } = L;
  const agreement = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let same = 0;
    for (const x of L.perImage[i]!) if (x.cls === consensus[i]) same++;
    agreement[i] = L.num[i]! ? same / L.num[i]! : NaN;
  }
  const multi: number[] = [];
  for (let i = 0; i < N; i++) if (L.num[i]! > 1) multi.push(i);
  if (multi.length === 0) throw new Error('CROWDLAB needs images rated by two or more raters; every image here has a single rating.');
  const consensusLikelihood = multi.reduce((s, i) => s + agreement[i]!, 0) / multi.length;
  const nonConsensusLikelihood = K > 1 ? (1 - consensusLikelihood) / (K - 1) : 0;

  const bins = new Float64Array(K);
  for (const i of multi) bins[consensus[i]!]!++;
  let mostCommon = 0;
  for (let k = 1; k < K; k++) if (bins[k]! > bins[mostCommon]!) mostCommon = k;
  const mostLikelyClassError = Math.max(multi.filter((i) => consensus[i] !== mostCommon).length / multi.length, CLIP);

  const raterWeight = Float64Array.from(withOthers, (a) => Math.max(1 - (1 - a) / mostLikelyClassError, CLIP));

  let modelWeight: number | null = null;
  if (predProbs) {
    let wrong = 0;
    for (const i of multi) {
      const p = predProbs[i]!;
      let best = 0;
      for (let k = 1; k < K; k++) if (p[k]! > p[best]!) best = k;
      if (best !== consensus[i]) wrong++;
    }
    const meanAnnotations = L.num.reduce((s, x) => s + x, 0) / N;
    modelWeight = Math.max(1 - wrong / multi.length / mostLikelyClassError, CLIP) * Math.sqrt(meanAnnotations);
  }

  const posterior = new Float64Array(N * K);
  const quality = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let total = modelWeight ?? 0;
    const row = posterior.subarray(i * K, (i + 1) * K);
    if (predProbs && modelWeight !== null) for (let k = 0; k < K; k++) row[k] = predProbs[i]![k]! * modelWeight;
    for (const x of L.perImage[i]!) {
      const w = raterWeight[x.rater]!;
      total += w;
      for (let k = 0; k < K; k++) row[k]! += w * (k === x.cls ? consensusLikelihood : nonConsensusLikelihood);
    }
    for (let k = 0; k < K; k++) row[k] = total > 0 ? row[k]! / total : NaN;
    quality[i] = row[consensus[i]!]!;
  }
  void M;
  return { agreement, posterior, quality, modelWeight, raterWeight };
}

export function crowdlabConsensus(set: RatingSet, options: CrowdlabOptions = {}): CrowdlabResult {
  const classes = options.classes ? [...options.classes] : [...new Set(set.value)].sort((a, b) => a - b);
  if (classes.length < 2) throw new Error(`CROWDLAB needs at least two classes; the ratings use ${classes.length === 1 ? `only the value ${classes[0]}` : 'none'}.`);
  const predProbs = options.predProbs ?? null;
  if (predProbs) {
    if (predProbs.length !== set.imageIds.length) throw new Error(`CROWDLAB: ${predProbs.length} rows of model probabilities for ${set.imageIds.length} rated images; pass one row per rated image.`);
    predProbs.forEach((p, i) => {
      if (p.length !== classes.length) throw new Error(`CROWDLAB: the model probabilities of image ${set.imageIds[i]} have ${p.length} classes, expected ${classes.length} (${classes.join(', ')}).`);
      for (let k = 0; k < p.length; k++) if (!Number.isFinite(p[k]!)) throw new Error(`CROWDLAB: the model probabilities of image ${set.imageIds[i]} hold ${p[k]} at class ${k}.`);
    });
  }
  const L = toLabels(set, classes);
  const mv = majorityVote(L, predProbs);
  // Rater-to-rater agreement does not depend on the consensus: computed once for both passes.
  const withOthers = agreementWithOthers(L);
  const first = consensusStats(L, mv, predProbs, withOthers);
  // best_quality: the posterior's argmax, the majority vote where the posterior ties.
  const consensusClass = new Int32Array(L.N);
  for (let i = 0; i < L.N; i++) {
    const row = first.posterior.subarray(i * L.K, (i + 1) * L.K);
    const best = argmaxWithTies(row, Array.from({ length: L.K }, (_, k) => k));
    consensusClass[i] = best.length === 1 ? best[0]! : mv[i]!;
  }
  const stats = consensusStats(L, consensusClass, predProbs, withOthers);

  // Rater quality (cleanlab's _get_annotator_quality).
  const raterQuality = new Float64Array(L.M);
  const raterAgreementWithConsensus = new Float64Array(L.M);
  const meanAnnotations = L.num.reduce((s, x) => s + x, 0) / L.N;
  const adjustedRaterWeight = stats.raterWeight.reduce((s, x) => s + x, 0) * (meanAnnotations / L.M);
  const modelWeight = stats.modelWeight ?? 0;
  const w = modelWeight / (modelWeight + adjustedRaterWeight);
  L.perRater.forEach((list, r) => {
    let lq = 0;
    let agree = 0;
    let multi = 0;
    let all = 0;
    for (const x of list) {
      lq += stats.posterior[x.image * L.K + x.cls]!;
      if (x.cls === consensusClass[x.image]) all++;
      if (L.num[x.image]! < 2) continue;
      multi++;
      if (x.cls === consensusClass[x.image]) agree++;
    }
    const labelQuality = list.length ? lq / list.length : NaN;
    const agreement = multi ? agree / multi : NaN;
    raterAgreementWithConsensus[r] = list.length ? all / list.length : NaN;
    raterQuality[r] = w * labelQuality + (1 - w) * agreement;
  });

  return {
    classes,
    consensusClass,
    consensus: Float64Array.from(consensusClass, (k) => classes[k]!),
    quality: stats.quality,
    agreement: stats.agreement,
    numAnnotations: L.num,
    posterior: stats.posterior,
    raterQuality,
    raterWeight: stats.raterWeight,
    raterAgreementWithConsensus,
    modelWeight: stats.modelWeight,
  };
}
