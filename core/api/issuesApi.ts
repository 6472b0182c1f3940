/**
 * The Issues view's API (issue 6, "Data quality"): which images are likely mislabelled, outliers, duplicates or
 * odd, read from the analyses `miru issues`, `miru outliers`, `miru duplicates` and `miru rater-models` store.
 * `issueSummary` lists every category with its flagged count (or that it was never computed); `issueItems` pages
 * through one category's images, strongest first. Kept apart from miruService.ts, which binds these into the one
 * MiruApi object.
 *
 * Every category's score runs 0..1 with higher = stronger issue, so one threshold control serves them all; the
 * stored value it comes from (which runs either way) travels beside it, and the detail says it in words.
 *
 * Flag rules: label issues and odd images carry their own flag (confident learning; cleanvision's thresholds).
 * Outlier distances and rater-model disagreement have none, so an image is flagged when its value is unusually
 * high for the library: Iglewicz and Hoaglin's modified z-score 0.6745 (x - median) / MAD above 3.5, one-sided.
 * A fixed cut would not carry across models and libraries (see neighbors.ts on distances); the median and MAD are
 * not moved by the outliers themselves, as a mean and standard deviation would be.
 *
 * A stored analysis never changes (a recomputation stores a new row), so what is derived from one (counts, the
 * cut, the histogram, duplicate scores) is kept in memory under its id and creation time.
 */
import type { LibraryDb } from '../library/openLibrary.js';
import { listAnalysesWithModel, type AnalysisKind, type AnalysisWithModel } from '../analysis/analysisStore.js';
import { findLibraryIssues } from '../analysis/libraryIssues.js';
import type { MiruApi } from './apiTypes.js';
import type { ImageIssueCategory, IssueCategory, IssueCategoryKey, IssueItem, IssueItemsInput, IssueItemsResult, IssueScale } from './types/issues.js';
import { ApiInputError, ApiNotFoundError, type JobParams } from './apiSchemas.js';

type IssueMethods = Pick<MiruApi, 'issueSummary' | 'issueItems'>;

/** Histogram bins of the score, 0..1. */
export const SCORE_BINS = 20;
/** The modified z-score above which an outlier distance or a rater-model disagreement is flagged. */
export const MODIFIED_Z_CUT = 3.5;
/** Members of a near-duplicate group each one is compared with (pairwise cost grows with the square). */
const MAX_GROUP_COMPARISONS = 2000;
/** Derived results kept (each a few hundred bytes, duplicates a few MB on a huge library). */
const MAX_CACHED = 64;
const DEFAULT_LIMIT = 100;

/** float32 1.0, little-endian: how a stored flag of 1 reads in an `extra` blob. */
const FLAG_ONE = "X'0000803F'";

const IMAGE_ISSUES: Record<ImageIssueCategory, { label: string; what: string }> = {
  dark: { label: 'Dark', what: 'Too dark: even the brightest pixels (the estimated 99th percentile of brightness) stay low' },
  light: { label: 'Light', what: 'Washed out: even the darkest pixels (the estimated 5th percentile of brightness) are near white' },
  blurry: { label: 'Blurry', what: 'Little fine detail: low variance of the Laplacian (edges are soft)' },
  low_information: { label: 'Low information', what: 'Few distinct tones: low entropy of the brightness histogram (flat fills, blank pages)' },
  odd_aspect_ratio: { label: 'Odd aspect ratio', what: 'Very long or tall: the shorter side is a small fraction of the longer one' },
  odd_size: { label: 'Odd size', what: "Far smaller or larger than the library's usual size (outside 3 IQR of sqrt(width x height))" },
  grayscale: { label: 'Grayscale', what: 'No colour: every visible pixel has (nearly) equal channels' },
};

export const IMAGE_ISSUE_CATEGORIES = Object.keys(IMAGE_ISSUES) as ImageIssueCategory[];

function isImageIssue(key: IssueCategoryKey): key is ImageIssueCategory {
  return key in IMAGE_ISSUES;
}

type StoredAnalysis = AnalysisWithModel;

/** What a category's list is cut and ordered by, in SQL over `analysis_values v`. */
interface Ranking {
  /** Rows the flag rule flags. */
  flagged: string;
  /** The score, as SQL (so a minScore cut counts and pages exactly what the items show). */
  score: string;
  order: 'ASC' | 'DESC';
}

/** Aggregates of one stored analysis, computed once. */
interface Derived {
  flagged: number;
  checked: number;
  /** Filled on the first issueItems call where it is not a by-product of the counting (histogramOfAnalysis). */
  histogram: number[] | null;
  /** Outliers and rater models: the value above which an image is flagged (Infinity: none is). */
  cut?: number;
  /** Outliers: the median mean distance the score is scaled by. Rater models: half the rating scale. */
  scaleBy?: number;
  /** Near-duplicates: every member, in list order. */
  members?: DuplicateMember[];
  groups?: number;
  modelNames?: string[];
}

interface DuplicateMember {
  id: number;
  group: number;
  size: number;
  score: number;
  identical: boolean;
  /** Distance to the nearest other member; null when the embeddings could not be read. */
  distance: number | null;
}

interface ImageRow {
  id: number;
  rel_path: string;
  content_hash: string | null;
  width: number | null;
  height: number | null;
}

// --------------------------------------------------------------------------------------------------- statistics

function median(sorted: Float64Array): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/**
 * The value above which the modified z-score 0.6745 (x - median) / MAD exceeds MODIFIED_Z_CUT. Where more than
 * half the values are equal (MAD = 0), Iglewicz and Hoaglin scale by 1.253314 x the mean absolute deviation
 * instead; where every value is equal nothing stands out, and nothing is flagged.
 */
export function robustHighCut(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  const mid = median(sorted);
  if (!Number.isFinite(mid)) return Number.POSITIVE_INFINITY;
  const deviations = sorted.map((v) => Math.abs(v - mid)).sort();
  const mad = median(deviations);
  if (mad > 0) return mid + (MODIFIED_Z_CUT * mad) / 0.6745;
  const meanAbs = deviations.reduce((s, d) => s + d, 0) / deviations.length;
  return meanAbs > 0 ? mid + MODIFIED_Z_CUT * 1.253314 * meanAbs : Number.POSITIVE_INFINITY;
}

function histogramOf(scores: Iterable<number>): number[] {
  const counts = new Array<number>(SCORE_BINS).fill(0);
  for (const s of scores) {
    if (!Number.isFinite(s)) continue;
    counts[Math.min(SCORE_BINS - 1, Math.max(0, Math.floor(s * SCORE_BINS)))]!++;
  }
  return counts;
}

function clip01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Short numbers for details: 3 significant digits, no exponent for the sizes these values take. */
function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const abs = Math.abs(x);
  return abs >= 100 ? x.toFixed(0) : abs >= 1 ? x.toFixed(2) : abs >= 0.001 ? x.toFixed(3) : x.toPrecision(2);
}

function distance(a: Float32Array, b: Float32Array, metric: 'cosine' | 'l2'): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
    sq += (x - y) * (x - y);
  }
  if (metric === 'l2') return Math.sqrt(sq);
  const norm = Math.sqrt(na * nb);
  // A zero vector has no direction: as far as cosine distance goes.
  return norm > 0 ? Math.max(0, 1 - dot / norm) : 1;
}

// -------------------------------------------------------------------------------------------------- the job

/** What the 'issues' job reports when it is done. */
export interface IssuesJobSummary {
  analysisId: number;
  run: number;
  model: string;
  labelled: number;
  labelIssues: number;
  /** Flags over every odd-image type (an image can carry several). */
  oddImages: number;
}

/** The 'issues' job's work (`miru issues` with the drawer's options): run in issuesWorker.ts, off the host's thread. */
export function runIssuesJob(db: LibraryDb, params: JobParams['issues']): IssuesJobSummary {
  const result = findLibraryIssues(db, { embedding: params.embedding, head: params.head, folds: params.folds, filterBy: params.filterBy, rankBy: params.rankBy, imageIssues: params.imageIssues });
  return {
    analysisId: result.analysisIds.labelIssues,
    run: result.embedding.runId,
    model: result.embedding.model,
    labelled: result.counts.labelled,
    labelIssues: result.counts.labelIssues,
    oddImages: Object.values(result.counts.imageIssues ?? {}).reduce((sum, n) => sum + (n ?? 0), 0),
  };
}

// ------------------------------------------------------------------------------------------------------ methods

export function issuesMethods(db: LibraryDb): IssueMethods {
  const derivedCache = new Map<string, Derived>();

  const valuesOf = db.prepare<[number], number>('SELECT value FROM analysis_values WHERE analysis_id = ? AND value IS NOT NULL').pluck();

  /** Stored analyses of a kind, newest first, with their source run's model. */
  function stored(kind: AnalysisKind): StoredAnalysis[] {
    return listAnalysesWithModel(db, { kind });
  }

  /** The newest analysis behind each category; absent where none is stored. */
  function newestAnalyses(): Map<IssueCategoryKey, StoredAnalysis> {
    const out = new Map<IssueCategoryKey, StoredAnalysis>();
    const first = (kind: AnalysisKind) => stored(kind)[0];
    const put = (key: IssueCategoryKey, a: StoredAnalysis | undefined) => a && out.set(key, a);
    put('label-issues', first('label-issues'));
    put('outliers', first('outliers'));
    put('near-duplicates', first('near-duplicates'));
    put('rater-disagreement', first('rater-models'));
    const images = stored('image-issues');
    for (const key of IMAGE_ISSUE_CATEGORIES) put(key, images.find((a) => a.params.issue === key));
    return out;
  }

  function analysisFor(method: string, key: IssueCategoryKey): StoredAnalysis {
    const found = newestAnalyses().get(key);
    if (!found) {
      const category = describe(key, null);
      throw new ApiNotFoundError(`${method}: nothing is stored for ${category.label.toLowerCase()} yet. Run the ${category.job} job (or \`${category.command}\`) first.`);
    }
    return found;
  }

  // --------------------------------------------------------------------------------------------- per category

  function ranking(key: IssueCategoryKey, derived: Derived): Ranking {
    if (key === 'label-issues') return { flagged: `substr(v.extra, 1, 4) = ${FLAG_ONE}`, score: '(1 - v.value)', order: 'ASC' };
    if (isImageIssue(key)) return { flagged: `v.extra = ${FLAG_ONE}`, score: '(1 - v.value)', order: 'ASC' };
    const cut = derived.cut ?? Number.POSITIVE_INFINITY;
    const flagged = Number.isFinite(cut) ? `v.value > ${cut}` : '0';
    // Outliers: 1 - cleanlab's OOD score exp(-d / median) (neighbors.ts). better-sqlite3 builds SQLite's math functions.
    if (key === 'outliers') return { flagged, score: `(1 - exp(-v.value / ${derived.scaleBy}))`, order: 'DESC' };
    return { flagged, score: `min(1.0, v.value / ${derived.scaleBy})`, order: 'DESC' };
  }

  function scoreOf(key: IssueCategoryKey, value: number, derived: Derived): number {
    if (key === 'label-issues' || isImageIssue(key)) return 1 - value;
    if (key === 'outliers') return 1 - Math.exp(-value / derived.scaleBy!);
    return Math.min(1, value / derived.scaleBy!);
  }

  /**
   * A category's counts and whatever its score needs. Label issues and odd images carry their flag, and `miru
   * issues` stored the counts in the summary: O(1), however big the library. Outlier distances and rater-model
   * disagreement need the robust cut, so their values are read once (and the histogram made on the way).
   */
  function derive(key: IssueCategoryKey, a: StoredAnalysis): Derived {
    const cacheKey = `${a.id}@${a.createdAt}@${key}`;
    const hit = derivedCache.get(cacheKey);
    if (hit) return hit;
    let derived: Derived;
    const counted = (flagged: unknown, checked: unknown) => (typeof flagged === 'number' && typeof checked === 'number' ? { flagged, checked } : null);
    const stored = key === 'label-issues' ? counted(a.summary.labelIssues, a.summary.labelled) : isImageIssue(key) ? counted(a.summary.flagged, a.summary.images) : null;
    if (key === 'near-duplicates') derived = deriveDuplicates(a);
    else if (key === 'label-issues' || isImageIssue(key)) {
      derived = stored ? { ...stored, histogram: null } : { flagged: 0, checked: 0, histogram: null };
      if (!stored) {
        const flag = ranking(key, derived).flagged;
        const row = db.prepare<[number], { flagged: number | null; checked: number }>(`SELECT sum(${flag}) AS flagged, count(*) AS checked FROM analysis_values v WHERE v.analysis_id = ? AND v.value IS NOT NULL`).get(a.id)!;
        derived.flagged = row.flagged ?? 0;
        derived.checked = row.checked;
      }
    } else {
      const values = Float64Array.from(valuesOf.all(a.id));
      derived = { flagged: 0, checked: values.length, histogram: null };
      if (key === 'outliers') {
        // cleanlab floors the scale at 100 machine epsilons so a run of identical vectors scores 0, not NaN.
        const mid = typeof a.summary.median === 'number' ? a.summary.median : median(Float64Array.from(values).sort());
        derived.scaleBy = Math.max(mid, 100 * Number.EPSILON);
        derived.cut = robustHighCut(values);
      } else if (key === 'rater-disagreement') {
        const range = db.prepare<[], { lo: number | null; hi: number | null }>('SELECT min(value) AS lo, max(value) AS hi FROM ratings').get();
        // The largest spread predictions inside [lo, hi] can have is half the range.
        derived.scaleBy = range && range.lo !== null && range.hi !== null && range.hi > range.lo ? (range.hi - range.lo) / 2 : 1;
        derived.cut = robustHighCut(values);
        const models = a.summary.models;
        derived.modelNames = Array.isArray(models) ? models.map((m, i) => (m && typeof m === 'object' && typeof (m as { name?: unknown }).name === 'string' ? (m as { name: string }).name : `model ${i + 1}`)) : [];
      }
      derived.histogram = histogramOf(Array.from(values, (v) => scoreOf(key, v, derived)));
      const cut = derived.cut!;
      derived.flagged = values.reduce((n, v) => (v > cut ? n + 1 : n), 0);
    }
    derivedCache.set(cacheKey, derived);
    while (derivedCache.size > MAX_CACHED) derivedCache.delete(derivedCache.keys().next().value!);
    return derived;
  }

  /**
   * Near-duplicate groups with a score per member: 1 for a file byte-identical to another member, else
   * 1 - (distance to the nearest other member) / (the threshold the groups were joined at), so copies that are
   * nearly identical rank above pairs that only just made the cut. Groups are ordered by their strongest member.
   */
  function deriveDuplicates(a: StoredAnalysis): Derived {
    const rows = db
      .prepare<[number], { image_id: number; value: number; content_hash: string | null }>(
        'SELECT v.image_id, v.value, i.content_hash FROM analysis_values v JOIN images i ON i.id = v.image_id WHERE v.analysis_id = ? AND v.value IS NOT NULL ORDER BY v.value, v.image_id',
      )
      .all(a.id);
    const byGroup = new Map<number, typeof rows>();
    for (const r of rows) {
      const list = byGroup.get(r.value);
      if (list) list.push(r);
      else byGroup.set(r.value, [r]);
    }
    const threshold = typeof a.summary.threshold === 'number' ? a.summary.threshold : null;
    const metric = a.params.metric === 'l2' ? 'l2' : 'cosine';
    // Read the members' vectors by key: loadEmbeddings would walk the whole run for a few thousand images.
    const vectorOf = db.prepare<[number, number], Buffer>('SELECT vector FROM embeddings WHERE run_id = ? AND image_id = ?').pluck();
    const members: DuplicateMember[] = [];
    const groupStrength = new Map<number, number>();
    for (const [group, list] of byGroup) {
      const hashes = new Map<string, number>();
      for (const r of list) if (r.content_hash) hashes.set(r.content_hash, (hashes.get(r.content_hash) ?? 0) + 1);
      const vectors =
        a.sourceRunId !== null && threshold !== null
          ? list.map((r) => {
              const blob = vectorOf.get(a.sourceRunId!, r.image_id);
              return blob && blob.byteLength % 4 === 0 ? new Float32Array(new Uint8Array(blob).buffer) : null;
            })
          : null;
      const compared = Math.min(list.length, MAX_GROUP_COMPARISONS);
      list.forEach((r, i) => {
        const identical = r.content_hash !== null && (hashes.get(r.content_hash) ?? 0) > 1;
        let nearest: number | null = null;
        const own = vectors?.[i];
        if (own) {
          for (let j = 0; j < compared; j++) {
            const other = vectors![j];
            if (j === i || !other || other.length !== own.length) continue;
            const d = distance(own, other, metric);
            if (nearest === null || d < nearest) nearest = d;
          }
        }
        // Without distances (a run since deleted, content-hash groups) every member is as sure as any other.
        const score = identical || nearest === null ? 1 : threshold! > 0 ? clip01(1 - nearest / threshold!) : 1;
        members.push({ id: r.image_id, group, size: list.length, score, identical, distance: nearest });
        groupStrength.set(group, Math.max(groupStrength.get(group) ?? 0, score));
      });
    }
    members.sort((x, y) => groupStrength.get(y.group)! - groupStrength.get(x.group)! || x.group - y.group || y.score - x.score || x.id - y.id);
    // Checked: every image the groups were looked for in (the run's vectors; without a run, the hashed files).
    const checked =
      a.sourceRunId !== null
        ? db.prepare<[number], number>('SELECT count(*) FROM embeddings WHERE run_id = ?').pluck().get(a.sourceRunId)!
        : db.prepare<[], number>(`SELECT count(*) FROM images WHERE status = 'ok' AND content_hash IS NOT NULL`).pluck().get()!;
    return { flagged: members.length, checked, histogram: histogramOf(members.map((m) => m.score)), members, groups: byGroup.size };
  }

  /** Every checked image by score, counted in SQL (a million values need not cross into JavaScript for it). */
  function histogramOfAnalysis(key: IssueCategoryKey, a: StoredAnalysis, derived: Derived): number[] {
    if (derived.histogram) return derived.histogram;
    const score = ranking(key, derived).score;
    const counts = new Array<number>(SCORE_BINS).fill(0);
    const rows = db
      .prepare<[number], { bin: number; n: number }>(
        `SELECT min(${SCORE_BINS - 1}, max(0, CAST(${score} * ${SCORE_BINS} AS INTEGER))) AS bin, count(*) AS n
         FROM analysis_values v WHERE v.analysis_id = ? AND v.value IS NOT NULL GROUP BY bin`,
      )
      .all(a.id);
    for (const r of rows) counts[r.bin] = r.n;
    derived.histogram = counts;
    return counts;
  }

  function scaleOf(key: IssueCategoryKey, a: StoredAnalysis, derived: Derived): IssueScale {
    const cutScore = derived.cut !== undefined && Number.isFinite(derived.cut) ? scoreOf(key, derived.cut, derived) : null;
    if (key === 'label-issues') return { value: `label quality (${String(a.params.rankBy ?? 'self_confidence').replace(/_/g, ' ')})`, score: '1 − label quality', flagAbove: null };
    if (key === 'outliers') return { value: 'mean distance to the nearest neighbours', score: '1 − exp(−distance / median distance)', flagAbove: cutScore };
    if (key === 'near-duplicates') return { value: 'duplicate group', score: '1 for an identical file, else 1 − distance to the nearest member / threshold', flagAbove: null };
    if (key === 'rater-disagreement') return { value: "spread (SD) of the rater models' predictions", score: 'spread / half the rating scale', flagAbove: cutScore };
    const threshold = typeof a.summary.threshold === 'number' ? a.summary.threshold : null;
    return { value: `${IMAGE_ISSUES[key].label.toLowerCase()} score (low = strong)`, score: `1 − ${key.replace(/_/g, ' ')} score`, flagAbove: threshold !== null && key !== 'grayscale' ? 1 - threshold : null };
  }

  /** The category's name, rule and job; counts come from its analysis when there is one. */
  function describe(key: IssueCategoryKey, a: StoredAnalysis | null): Omit<IssueCategory, 'analysisId' | 'flagged' | 'checked' | 'computedAt' | 'source'> {
    if (key === 'label-issues') {
      const filterBy = String(a?.params.filterBy ?? 'prune_by_noise_rate').replace(/_/g, ' ');
      return {
        key,
        group: 'labels',
        label: 'Label issues',
        description: `Rated images whose consensus rating disagrees with out-of-fold predictions of a head trained on the embeddings (confident learning, as cleanlab; flagged by ${filterBy}). Score: 1 − label quality.`,
        job: 'issues',
        command: 'miru issues --db LIBRARY --embedding MODEL',
      };
    }
    if (key === 'outliers') {
      const k = typeof a?.params.k === 'number' ? a.params.k : 10;
      return {
        key,
        group: 'embedding',
        label: 'Outliers',
        description: `Images unlike the rest: mean embedding distance to the ${k} nearest neighbours. Flagged when that distance's robust z-score (0.6745 × (d − median) / MAD) is above ${MODIFIED_Z_CUT}. Score: 1 − exp(−d / median).`,
        job: 'outliers',
        command: 'miru outliers --db LIBRARY --embedding MODEL',
      };
    }
    if (key === 'near-duplicates') {
      return {
        key,
        group: 'embedding',
        label: 'Duplicates',
        description: 'Byte-identical files and images whose embeddings lie within the duplicate threshold, joined into groups; every member is flagged. Score: 1 for an identical file, else 1 − distance to the nearest member / threshold.',
        job: 'duplicates',
        command: 'miru duplicates --db LIBRARY',
      };
    }
    if (key === 'rater-disagreement') {
      return {
        key,
        group: 'raters',
        label: 'Rater disagreement',
        description: `Images on which per-rater models (a head per rater, trained on that rater's ratings) disagree: the spread of their predictions. Flagged when its robust z-score is above ${MODIFIED_Z_CUT}. Score: spread / half the rating scale.`,
        job: 'rater-models',
        command: 'miru rater-models --db LIBRARY --embedding MODEL',
      };
    }
    const threshold = typeof a?.summary.threshold === 'number' ? a.summary.threshold : null;
    const rule = key === 'grayscale' ? 'Flagged when true.' : threshold !== null ? `Flagged below ${fmt(threshold)} (cleanvision's default).` : "Flagged below cleanvision's default threshold.";
    return {
      key,
      group: 'image',
      label: IMAGE_ISSUES[key].label,
      description: `${IMAGE_ISSUES[key].what}. ${rule} Score: 1 − the check's score.`,
      job: 'issues',
      command: 'miru issues --db LIBRARY --embedding MODEL',
    };
  }

  function detailOf(key: IssueCategoryKey, a: StoredAnalysis, derived: Derived, value: number, extra: Float32Array | null, image: ImageRow): string {
    if (key === 'label-issues') {
      if (!extra || extra.length < 3) return `label quality ${fmt(value)}`;
      return `rated ${fmt(extra[1]!)}, model says ${fmt(extra[2]!)} · quality ${fmt(value)}`;
    }
    if (key === 'outliers') return `mean distance ${fmt(value)} · ${fmt(value / derived.scaleBy!)}× the median`;
    if (key === 'rater-disagreement') {
      const names = derived.modelNames ?? [];
      if (!extra || extra.length < 2) return `spread ${fmt(value)}`;
      let lo = 0;
      let hi = 0;
      extra.forEach((p, i) => {
        if (p < extra[lo]!) lo = i;
        if (p > extra[hi]!) hi = i;
      });
      return `${names[lo] ?? `model ${lo + 1}`} ${fmt(extra[lo]!)} vs ${names[hi] ?? `model ${hi + 1}`} ${fmt(extra[hi]!)} · SD ${fmt(value)}`;
    }
    const name = key.replace(/_/g, ' ');
    if (key === 'grayscale') return 'grayscale: no colour';
    const size = image.width && image.height ? ` · ${image.width}×${image.height}` : '';
    const threshold = typeof a.summary.threshold === 'number' ? ` (flag < ${fmt(a.summary.threshold)})` : '';
    return `${name} ${fmt(value)}${threshold}${key === 'odd_size' || key === 'odd_aspect_ratio' ? size : ''}`;
  }

  function duplicateDetail(m: DuplicateMember): string {
    const how = m.identical ? 'identical file' : m.distance !== null ? `distance ${fmt(m.distance)}` : 'near copy';
    return `group ${m.group} · ${m.size} images · ${how}`;
  }

  // ------------------------------------------------------------------------------------------------- reading

  const tagsOf = db.prepare<[string], { image_id: number; tag: string }>('SELECT image_id, tag FROM tags WHERE image_id IN (SELECT value FROM json_each(?)) ORDER BY tag');
  const imageOf = db.prepare<[number], ImageRow>('SELECT id, rel_path, content_hash, width, height FROM images WHERE id = ?');

  function tagsFor(ids: number[]): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const r of tagsOf.all(JSON.stringify(ids))) {
      const list = out.get(r.image_id);
      if (list) list.push(r.tag);
      else out.set(r.image_id, [r.tag]);
    }
    return out;
  }

  function checkInput(input: IssueItemsInput): { limit: number; offset: number; minScore: number | null } {
    const limit = input.limit ?? DEFAULT_LIMIT;
    const offset = input.offset ?? 0;
    const minScore = input.minScore ?? null;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ApiInputError('issueItems', 'limit', `must be a whole number from 1 to 1000 (got ${limit})`);
    if (!Number.isInteger(offset) || offset < 0) throw new ApiInputError('issueItems', 'offset', `must be a whole number of 0 or more (got ${offset})`);
    if (minScore !== null && !(minScore >= 0 && minScore <= 1)) throw new ApiInputError('issueItems', 'minScore', `must be a score from 0 to 1 (got ${minScore})`);
    return { limit, offset, minScore };
  }

  function duplicateItems(a: StoredAnalysis, derived: Derived, page: { limit: number; offset: number; minScore: number | null }): IssueItemsResult {
    const matching = page.minScore === null ? derived.members! : derived.members!.filter((m) => m.score >= page.minScore!);
    const slice = matching.slice(page.offset, page.offset + page.limit);
    const tags = tagsFor(slice.map((m) => m.id));
    const items: IssueItem[] = [];
    for (const m of slice) {
      const image = imageOf.get(m.id);
      if (!image) continue;
      items.push({ id: m.id, relPath: image.rel_path, hash: image.content_hash, tags: tags.get(m.id) ?? [], score: m.score, value: m.group, flagged: true, detail: duplicateDetail(m), group: { id: m.group, size: m.size } });
    }
    return {
      category: 'near-duplicates',
      analysisId: a.id,
      total: matching.length,
      flagged: derived.flagged,
      offset: page.offset,
      limit: page.limit,
      minScore: page.minScore,
      scale: scaleOf('near-duplicates', a, derived),
      histogram: derived.histogram!,
      items,
    };
  }

  return {
    async issueSummary() {
      const newest = newestAnalyses();
      const keys: IssueCategoryKey[] = ['label-issues', 'outliers', 'near-duplicates', ...IMAGE_ISSUE_CATEGORIES, 'rater-disagreement'];
      return {
        categories: keys.map((key): IssueCategory => {
          const a = newest.get(key) ?? null;
          const base = describe(key, a);
          if (!a) return { ...base, analysisId: null, flagged: null, checked: null, computedAt: null, source: null };
          const derived = derive(key, a);
          return {
            ...base,
            analysisId: a.id,
            flagged: derived.flagged,
            checked: derived.checked,
            ...(derived.groups !== undefined ? { groups: derived.groups } : {}),
            computedAt: a.createdAt,
            source: a.sourceRunId === null ? null : { runId: a.sourceRunId, model: a.model },
          };
        }),
      };
    },

    async issueItems(input: IssueItemsInput): Promise<IssueItemsResult> {
      const page = checkInput(input);
      const key = input.category;
      const a = analysisFor('issueItems', key);
      const derived = derive(key, a);
      if (key === 'near-duplicates') return duplicateItems(a, derived, page);

      const rank = ranking(key, derived);
      const where = page.minScore === null ? rank.flagged : `${rank.score} >= ?`;
      const params: unknown[] = page.minScore === null ? [a.id] : [a.id, page.minScore];
      const total =
        page.minScore === null
          ? derived.flagged
          : db.prepare<unknown[], number>(`SELECT count(*) FROM analysis_values v WHERE v.analysis_id = ? AND v.value IS NOT NULL AND ${where}`).pluck().get(...params)!;
      const rows = db
        .prepare<unknown[], ImageRow & { value: number; extra: Buffer | null; flagged: number }>(
          `SELECT i.id, i.rel_path, i.content_hash, i.width, i.height, v.value, v.extra, (${rank.flagged}) AS flagged
           FROM analysis_values v JOIN images i ON i.id = v.image_id
           WHERE v.analysis_id = ? AND v.value IS NOT NULL AND ${where}
           ORDER BY v.value ${rank.order}, v.image_id LIMIT ? OFFSET ?`,
        )
        .all(...params, page.limit, page.offset);
      const tags = tagsFor(rows.map((r) => r.id));
      const items = rows.map((r): IssueItem => {
        // Copy: a Buffer may be a view into a shared pool at an offset that is not float-aligned.
        const extra = r.extra ? new Float32Array(new Uint8Array(r.extra).buffer) : null;
        return {
          id: r.id,
          relPath: r.rel_path,
          hash: r.content_hash,
          tags: tags.get(r.id) ?? [],
          score: clip01(scoreOf(key, r.value, derived)),
          value: r.value,
          flagged: r.flagged === 1,
          detail: detailOf(key, a, derived, r.value, extra, r),
        };
      });
      return { category: key, analysisId: a.id, total, flagged: derived.flagged, offset: page.offset, limit: page.limit, minScore: page.minScore, scale: scaleOf(key, a, derived), histogram: histogramOfAnalysis(key, a, derived), items };
    },
  };
}
