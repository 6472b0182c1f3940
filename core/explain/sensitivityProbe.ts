/**
 * Sensitivity probes (issue 4, `miru probe`): how a model's score moves when one property of the image is
 * changed under control. A seeded sample of the library is decoded once per image (EXIF orientation applied,
 * alpha on the card's pad colour); each transform of perturbImage.ts is applied at each strength to the decoded
 * original; the unperturbed and the perturbed pixels go through the card's own preprocessing (preprocessRaw)
 * and are scored in batches by a worker-thread InferencePool, read as the card's scalar score (readScore: the
 * expected value for ordinal outputs).
 *
 * Per strength the report gives the mean score, the mean paired change (perturbed - unperturbed score of the same
 * image) and its standard error (sample standard deviation of the changes / sqrt(n)), over the n images that
 * scored both ways. Identity strengths are the unperturbed image by definition: they reuse its score, so their
 * change is exactly 0. Texture-versus-structure tendencies show as the contrast between patch-shuffle (keeps
 * texture, destroys layout) and blur (keeps layout, destroys texture); resolution shows input-resolution effects.
 */
import path from 'node:path';
import type { LibraryDb } from '../library/openLibrary.js';
import { buildWhere, type ImageFilter } from '../library/queryImages.js';
import type { ProgressListener } from '../jobs/progress.js';
import { InferencePool } from '../models/inferencePool.js';
import type { ProviderChoice, ProviderName } from '../models/executionProviders.js';
import type { Feeds } from '../models/inferenceMessages.js';
import type { ModelCard, ScoreKind } from '../models/modelCard.js';
import { getModel, readVerifiedModel } from '../models/modelRegistry.js';
import { preprocessRaw, toBatchTensor } from '../models/preprocessImage.js';
import { readScore } from '../models/readScores.js';
import { decodeLanes, inferSplittingOnOutOfMemory } from '../models/libraryInference.js';
import { loadOnnxModel } from '../models/onnx/onnxModel.js';
import { shapeOf } from '../models/onnx/tensorTypes.js';
import { mapConcurrent } from '../util/mapConcurrent.js';
import { SeededRandom } from '../synth/random.js';
import { TRANSFORMS, TRANSFORM_NAMES, decodeRgb, isTransformName, perturbImage, type TransformName } from './perturbImage.js';

export { TRANSFORMS, TRANSFORM_NAMES, type TransformName } from './perturbImage.js';

export const DEFAULT_PROBE_SAMPLE = 64;
export const DEFAULT_PROBE_SEED = 1;
export const DEFAULT_PROBE_BATCH = 16;

/** Images prepared at once: each holds one tensor per strength until scored, so fewer than the decode lanes. */
const PREPARE_LANES = 4;

export interface ProbeOptions {
  /** Transforms to probe, in this order (default: all of TRANSFORM_NAMES). */
  transforms?: readonly string[];
  /** Strengths per transform (default: each transform's `defaults`). */
  strengths?: Readonly<Partial<Record<string, readonly number[]>>>;
  /** Images in the seeded sample (default 64); all usable images when the library has fewer. */
  sample?: number;
  /** Seeds the sample and the patch-shuffle permutations (default 1). */
  seed?: number;
  /** Restricts the images sampled from (queryImages filters; default: status ok). */
  filters?: ImageFilter[];
  ep?: ProviderChoice;
  /** Tensors per inference batch (default 16; halves itself on out-of-memory). */
  batch?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ProbePlanEntry {
  name: TransformName;
  strengths: number[];
}

export interface StrengthResult {
  strength: number;
  /** The transform's identity strength: the unperturbed image, change exactly 0. */
  identity: boolean;
  /** Mean perturbed score over the n images (the same images as meanChange). */
  meanScore: number | null;
  /** Mean of (perturbed - unperturbed score) per image. */
  meanChange: number | null;
  /** Standard error of meanChange: sample sd of the changes / sqrt(n); null for n < 2. */
  stderr: number | null;
  /** Images scored both unperturbed and at this strength. */
  n: number;
}

export interface TransformResult {
  name: TransformName;
  /** What the strength means. */
  unit: string;
  strengths: StrengthResult[];
}

export interface ProbeFailure {
  path: string;
  /** null: the image failed before any transform (decoding, preprocessing or its unperturbed score). */
  transform: TransformName | null;
  strength: number | null;
  error: string;
}

export interface ProbeReport {
  model: string;
  ep: ProviderName;
  fallbackReasons: string[];
  score: { output: string; kind: ScoreKind };
  sample: { requested: number; used: number; available: number; seed: number };
  baseline: { mean: number | null; stderr: number | null; n: number };
  transforms: TransformResult[];
  failed: ProbeFailure[];
  /** Things the caller should know, e.g. that the sample was larger than the library. */
  notes: string[];
  /** Stopped by the signal: the results cover the images finished before. */
  interrupted: boolean;
  batchSize: number;
  seconds: number;
}

/** Input that cannot be probed: the message says what is wrong and what to write instead. */
export class ProbeInputError extends Error {
  override name = 'ProbeInputError';
}

// ------------------------------------------------------------------------------------------------ the plan

/** Parses "saturation,blur" into transform names; unknown names are refused with the valid ones listed. */
export function parseTransformList(text: string): TransformName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new ProbeInputError(`No transforms given; valid transforms: ${TRANSFORM_NAMES.join(', ')}.`);
  return names.map((name) => {
    if (!isTransformName(name)) throw new ProbeInputError(`Unknown transform ${JSON.stringify(name)}; valid transforms: ${TRANSFORM_NAMES.join(', ')}.`);
    return name;
  });
}

/**
 * Parses `--strengths` values: "NAME=S1,S2,..." for one transform, or plain "S1,S2,..." when exactly one
 * transform is probed.
 */
export function parseStrengthOptions(values: readonly string[], transforms: readonly TransformName[]): Partial<Record<TransformName, number[]>> {
  const out: Partial<Record<TransformName, number[]>> = {};
  for (const value of values) {
    const match = /^\s*([A-Za-z][\w-]*)\s*=(.*)$/.exec(value);
    let name: TransformName;
    let list: string;
    if (match) {
      const given = match[1]!;
      if (!isTransformName(given)) throw new ProbeInputError(`--strengths ${JSON.stringify(value)}: unknown transform ${JSON.stringify(given)}; valid transforms: ${TRANSFORM_NAMES.join(', ')}.`);
      name = given;
      list = match[2]!;
    } else {
      if (transforms.length !== 1) {
        throw new ProbeInputError(`--strengths ${JSON.stringify(value)} names no transform, and ${transforms.length} transforms are probed; write NAME=S1,S2,... (e.g. --strengths blur=0,1,2).`);
      }
      name = transforms[0]!;
      list = value;
    }
    if (out[name]) throw new ProbeInputError(`--strengths gives strengths for ${name} twice; give one list per transform.`);
    const parts = list.split(',').map((s) => s.trim());
    if (parts.length === 0 || parts.every((p) => p === '')) throw new ProbeInputError(`--strengths ${JSON.stringify(value)} lists no strengths for ${name}; e.g. ${name}=${TRANSFORMS[name].defaults.join(',')}.`);
    out[name] = parts.map((p) => {
      const n = Number(p);
      if (p === '' || !Number.isFinite(n)) throw new ProbeInputError(`--strengths ${JSON.stringify(value)}: ${JSON.stringify(p)} is not a number; ${name} takes ${TRANSFORMS[name].unit}.`);
      return n;
    });
  }
  return out;
}

/** Checks transforms and strengths and fills in the defaults; every problem is a ProbeInputError. */
export function resolveProbePlan(transforms?: readonly string[], strengths: Readonly<Partial<Record<string, readonly number[]>>> = {}): ProbePlanEntry[] {
  const names = transforms === undefined ? [...TRANSFORM_NAMES] : transforms.map((t) => {
    if (!isTransformName(t)) throw new ProbeInputError(`Unknown transform ${JSON.stringify(t)}; valid transforms: ${TRANSFORM_NAMES.join(', ')}.`);
    return t;
  });
  if (names.length === 0) throw new ProbeInputError(`No transforms to probe; valid transforms: ${TRANSFORM_NAMES.join(', ')}.`);
  const unique = [...new Set(names)];
  for (const [name, list] of Object.entries(strengths)) {
    if (list === undefined) continue;
    if (!isTransformName(name)) throw new ProbeInputError(`Strengths given for unknown transform ${JSON.stringify(name)}; valid transforms: ${TRANSFORM_NAMES.join(', ')}.`);
    if (!unique.includes(name)) throw new ProbeInputError(`Strengths given for ${name}, which is not probed (transforms: ${unique.join(', ')}); add it to the transforms.`);
  }
  return unique.map((name) => {
    const spec = TRANSFORMS[name];
    const list = strengths[name] ?? spec.defaults;
    if (list.length === 0) throw new ProbeInputError(`No strengths for ${name}; e.g. ${spec.defaults.join(',')} (${spec.unit}).`);
    for (const s of list) {
      const why = spec.check(s);
      // `why` gives the valid range and the identity; the unit text would say it a second time.
      if (why) throw new ProbeInputError(`Bad strength ${s} for ${name}: ${why}.`);
    }
    return { name, strengths: [...new Set(list)] };
  });
}

// ------------------------------------------------------------------------------------------------ sampling

export interface ProbeImage {
  id: number;
  path: string;
}

/** A seeded sample of `count` images (all when fewer match), in id order, and how many matched. */
export function selectProbeSample(db: LibraryDb, count: number, seed: number, filters: ImageFilter[] = []): { images: ProbeImage[]; available: number } {
  const where = buildWhere(db, filters);
  const ids = db.prepare<unknown[], number>(`SELECT images.id FROM images WHERE ${where.sql} ORDER BY images.id`).pluck().all(...where.params);
  const chosen = SeededRandom.derive(seed, 'probe-sample').sample(ids, count).sort((a, b) => a - b);
  const row = db.prepare<[number], { root: string; rel_path: string }>('SELECT roots.path AS root, images.rel_path FROM images JOIN roots ON roots.id = images.root_id WHERE images.id = ?');
  const images = chosen.map((id) => {
    const r = row.get(id)!;
    return { id, path: path.join(r.root, ...r.rel_path.split('/')) };
  });
  return { images, available: ids.length };
}

// ------------------------------------------------------------------------------------------------ the probe

/** `miru probe`: probes a registered model on a seeded sample of the library. */
export async function probeSensitivity(db: LibraryDb, modelName: string, options: ProbeOptions = {}): Promise<ProbeReport> {
  const plan = resolveProbePlan(options.transforms, options.strengths);
  const requested = options.sample ?? DEFAULT_PROBE_SAMPLE;
  if (!Number.isInteger(requested) || requested < 1) throw new ProbeInputError(`The sample size must be a positive whole number (got ${requested}).`);
  const seed = options.seed ?? DEFAULT_PROBE_SEED;
  if (!Number.isInteger(seed)) throw new ProbeInputError(`The seed must be a whole number (got ${seed}).`);
  const model = getModel(db, modelName);
  if (!model.card.outputs.score) throw new Error(`The card of "${model.name}" has no outputs.score, so there is no score to probe. Add one with a card: \`miru models add ${model.path} --card card.json\`.`);
  const { images, available } = selectProbeSample(db, requested, seed, options.filters);
  if (available === 0) {
    throw new ProbeInputError(
      options.filters?.length
        ? 'No images match the filters, so there is nothing to probe; loosen the filters (`miru list` with the same filters shows what matches).'
        : 'The library has no usable images to probe (none with status ok); index a folder of images first with `miru index <folder> --db D`.',
    );
  }
  const notes: string[] = [];
  if (requested > available) notes.push(`The sample of ${requested} is more than the ${available} usable images${options.filters?.length ? ' matching the filters' : ' in the library'}; all ${available} are probed.`);
  const bytes = await readVerifiedModel(model);
  const report = await probeImages(images, model.card, bytes, plan, { ...options, seed });
  return { ...report, model: model.name, sample: { requested, used: images.length, available, seed }, notes: [...notes, ...report.notes] };
}

interface WorkItem {
  image: number;
  /** Index into the plan, or -1 for the unperturbed image. */
  transform: number;
  strength: number;
  tensor: Float32Array;
}

interface RawFailure {
  image: number;
  transform: number;
  strength: number;
  error: string;
}

/**
 * The probe itself over given image files, card and model bytes (a registered model or not). Images are
 * prepared a few at a time (decode, every perturbation, preprocessing), tensors queue up and go to the worker
 * pool in batches; preparing the next images overlaps the batch in flight.
 */
export async function probeImages(
  images: readonly ProbeImage[],
  card: ModelCard,
  model: Uint8Array,
  plan: readonly ProbePlanEntry[],
  options: Pick<ProbeOptions, 'ep' | 'batch' | 'seed' | 'onProgress' | 'signal'> = {},
): Promise<ProbeReport> {
  const started = performance.now();
  const spec = card.outputs.score;
  if (!spec) throw new Error(`The card of ${card.name} has no outputs.score, so there is no score to probe.`);
  const seed = options.seed ?? DEFAULT_PROBE_SEED;
  let batchSize = options.batch ?? DEFAULT_PROBE_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ProbeInputError(`The batch size must be a positive whole number (got ${batchSize}).`);
  // Models exported with a fixed batch dimension (often 1) accept only that many images per run.
  const fixedBatch = shapeOf(loadOnnxModel(model).graph!.input.find((i) => i.name === card.input.name))?.[0];
  if (typeof fixedBatch === 'number' && fixedBatch > 0) batchSize = Math.min(batchSize, fixedBatch);

  const identity = plan.map((t) => t.strengths.map((s) => s === TRANSFORMS[t.name].identity));
  const perturbedPerImage = identity.flat().filter((i) => !i).length;
  const total = images.length * (1 + perturbedPerImage);
  const baseline: (number | null)[] = images.map(() => null);
  const scores: (number | null)[][][] = plan.map((t) => t.strengths.map(() => images.map(() => null)));
  const failures: RawFailure[] = [];
  let done = 0;
  const progress = () => options.onProgress?.({ job: 'probe', phase: 'infer', done, total });

  const pool = await InferencePool.create(model, { ep: options.ep });
  let interrupted = false;
  try {
    progress();
    const runBatch = (tensors: Float32Array[]) => {
      const batch = toBatchTensor(tensors, card);
      const feeds: Feeds = { [card.input.name]: { type: 'float32', data: batch.data, dims: batch.dims } };
      return pool.run(feeds, [spec.name]);
    };
    const score = async (items: WorkItem[]) => {
      const results = await inferSplittingOnOutOfMemory(items, runBatch, (size) => (batchSize = Math.min(batchSize, size)));
      for (const r of results) {
        const read = r.outputs ? readScore(r.outputs[spec.name]!.data, card) : { error: r.error ?? 'no output' };
        if ('error' in read) failures.push({ image: r.image, transform: r.transform, strength: r.strength, error: read.error });
        else if (r.transform < 0) baseline[r.image] = read.score;
        else scores[r.transform]![r.strength]![r.image] = read.score;
      }
      done += items.length;
      progress();
    };

    const prepare = async (index: number): Promise<WorkItem[]> => {
      const image = images[index]!;
      const items: WorkItem[] = [];
      let decoded;
      try {
        decoded = await decodeRgb(image.path, card.input.pad);
        items.push({ image: index, transform: -1, strength: -1, tensor: await preprocessRaw(decoded.data, decoded.width, decoded.height, card) });
      } catch (error) {
        failures.push({ image: index, transform: -1, strength: -1, error: `cannot decode image: ${firstLine(error)}` });
        done += 1 + perturbedPerImage;
        return [];
      }
      for (let t = 0; t < plan.length; t++) {
        const entry = plan[t]!;
        for (let s = 0; s < entry.strengths.length; s++) {
          if (identity[t]![s]) continue;
          try {
            const perturbed = await perturbImage(decoded, entry.name, entry.strengths[s]!, { seed, key: image.id });
            items.push({ image: index, transform: t, strength: s, tensor: await preprocessRaw(perturbed.data, perturbed.width, perturbed.height, card) });
          } catch (error) {
            failures.push({ image: index, transform: t, strength: s, error: firstLine(error) });
            done += 1;
          }
        }
      }
      return items;
    };

    const queue: WorkItem[] = [];
    let inFlight: Promise<void> | null = null;
    // One batch in the worker while the next images are prepared; at most one more batch waits here.
    const send = async (items: WorkItem[]) => {
      if (inFlight) await inFlight;
      inFlight = score(items);
    };
    for (let start = 0; start < images.length; start += PREPARE_LANES) {
      if (options.signal?.aborted) {
        interrupted = true;
        break;
      }
      const indexes = Array.from({ length: Math.min(PREPARE_LANES, images.length - start) }, (_, i) => start + i);
      // Results come back in input order, so batches (and their float sums) are the same on every run.
      const prepared = await mapConcurrent(indexes, Math.min(PREPARE_LANES, decodeLanes()), prepare);
      for (const items of prepared) queue.push(...items);
      progress();
      while (queue.length >= batchSize) await send(queue.splice(0, batchSize));
    }
    if (queue.length) await send(queue.splice(0));
    if (inFlight) await inFlight;
  } finally {
    await pool.close();
  }

  const baselineValues = baseline.filter((v): v is number => v !== null);
  const transforms: TransformResult[] = plan.map((entry, t) => ({
    name: entry.name,
    unit: TRANSFORMS[entry.name].unit,
    strengths: entry.strengths.map((strength, s) => {
      const changes: number[] = [];
      const perturbed: number[] = [];
      for (let i = 0; i < images.length; i++) {
        const before = baseline[i];
        const after = identity[t]![s] ? before : scores[t]![s]![i];
        if (before === null || before === undefined || after === null || after === undefined) continue;
        perturbed.push(after);
        changes.push(identity[t]![s] ? 0 : after - before);
      }
      const change = meanAndStderr(changes);
      return { strength, identity: identity[t]![s]!, meanScore: meanAndStderr(perturbed).mean, meanChange: change.mean, stderr: change.stderr, n: changes.length };
    }),
  }));
  const order = (f: RawFailure) => [f.image, f.transform, f.strength];
  failures.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  });
  const base = meanAndStderr(baselineValues);
  const notes: string[] = [];
  const lostBaselines = images.length - baselineValues.length;
  if (lostBaselines > 0 && !interrupted) notes.push(`${lostBaselines} of ${images.length} images could not be scored unperturbed and are left out (see failed).`);
  return {
    model: card.name,
    ep: pool.provider,
    fallbackReasons: pool.fallbackReasons,
    score: { output: spec.name, kind: spec.kind },
    sample: { requested: images.length, used: images.length, available: images.length, seed },
    baseline: { mean: base.mean, stderr: base.stderr, n: baselineValues.length },
    transforms,
    failed: failures.map((f) => ({
      path: images[f.image]!.path,
      transform: f.transform < 0 ? null : plan[f.transform]!.name,
      strength: f.transform < 0 ? null : plan[f.transform]!.strengths[f.strength]!,
      error: f.error,
    })),
    notes,
    interrupted,
    batchSize,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
}

/** Mean and standard error of the mean (sample sd / sqrt(n)); null where undefined. */
export function meanAndStderr(values: readonly number[]): { mean: number | null; stderr: number | null } {
  const n = values.length;
  if (n === 0) return { mean: null, stderr: null };
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n < 2) return { mean, stderr: null };
  let squares = 0;
  for (const v of values) squares += (v - mean) * (v - mean);
  return { mean, stderr: Math.sqrt(squares / (n - 1) / n) };
}

function firstLine(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).split('\n')[0]!;
}
