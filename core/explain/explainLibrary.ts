/**
 * Saliency maps for many images as a job (issue 4): each image of a filtered library is explained with one
 * recipe (model, method, layer, target, options) and the maps are stored in the `saliency` table, where the UI
 * reads them. Resumable: images already stored under the recipe are skipped unless `force`. A map is written
 * whole or not at all (one row per image), so an interrupted job never leaves a half map behind.
 */
import { performance } from 'node:perf_hooks';
import type { LibraryDb } from '../library/openLibrary.js';
import { queryImages, type ImageFilter } from '../library/queryImages.js';
import { getModel, readVerifiedModel } from '../models/modelRegistry.js';
import type { ProviderChoice } from '../models/executionProviders.js';
import type { ProgressListener } from '../jobs/progress.js';
import { Explainer, usesLayer, type ExplainRequest, type SaliencyResult } from './explainer.js';
import { formatTarget, parseTarget } from './explainTargets.js';
import { ImageDecodeError, loadInputImage } from './inputImage.js';
import { ExplainSetupError } from './explainTypes.js';

/** What identifies a stored map besides model and image. */
export interface SaliencyRecipe {
  method: string;
  layer: string;
  target: string;
  /** Canonical JSON of the method's options (sorted keys), so equal options give equal keys. */
  params: string;
}

export interface StoredSaliency extends SaliencyRecipe {
  imageId: number;
  score: number | null;
  grid: [number, number];
  raw: Float32Array;
  map: Float32Array;
  provider: string | null;
  elapsedMs: number | null;
  createdAt: string;
}

/** The options that change a map, in a canonical order (batch sizes and providers do not change it). */
export function recipeParams(request: ExplainRequest): string {
  const options: Record<string, unknown> = {};
  if (request.method === 'rise') options.rise = { masks: request.rise?.masks ?? 2000, grid: request.rise?.grid ?? 7, keep: request.rise?.keep ?? 0.5, seed: request.rise?.seed ?? 0 };
  if (request.method === 'occlusion') options.occlusion = { window: request.occlusion?.window ?? null, stride: request.occlusion?.stride ?? null };
  if (request.method === 'integrated-gradients') options.ig = { steps: request.steps ?? 32, baseline: request.baseline ?? 'zero' };
  if (request.method === 'smoothgrad') options.smoothgrad = { samples: request.samples ?? 25, noise: request.noise ?? 0.15, seed: request.seed ?? 0 };
  if (request.numeric) options.numeric = true;
  return canonicalJson(options);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function saveSaliency(db: LibraryDb, modelId: number, imageId: number, recipe: SaliencyRecipe, result: SaliencyResult, provider: string | null): void {
  db.prepare(
    `INSERT OR REPLACE INTO saliency (model_id, image_id, method, layer, target, params, score, grid_h, grid_w, raw, map, provider, elapsed_ms, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(modelId, imageId, recipe.method, recipe.layer, recipe.target, recipe.params, Number.isFinite(result.score) ? result.score : null, result.grid[0], result.grid[1], blob(result.raw), blob(result.map), provider, result.elapsedMs, new Date().toISOString());
}

/** Stored maps of one image for a model (every recipe), newest first. */
export function readSaliency(db: LibraryDb, modelId: number, imageId: number): StoredSaliency[] {
  const rows = db
    .prepare<[number, number], { image_id: number; method: string; layer: string; target: string; params: string; score: number | null; grid_h: number; grid_w: number; raw: Buffer; map: Buffer; provider: string | null; elapsed_ms: number | null; created_at: string }>(
      'SELECT image_id, method, layer, target, params, score, grid_h, grid_w, raw, map, provider, elapsed_ms, created_at FROM saliency WHERE model_id = ? AND image_id = ? ORDER BY created_at DESC',
    )
    .all(modelId, imageId);
  return rows.map((r) => ({
    imageId: r.image_id,
    method: r.method,
    layer: r.layer,
    target: r.target,
    params: r.params,
    score: r.score,
    grid: [r.grid_h, r.grid_w],
    raw: floats(r.raw),
    map: floats(r.map),
    provider: r.provider,
    elapsedMs: r.elapsed_ms,
    createdAt: r.created_at,
  }));
}

const blob = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
const floats = (buffer: Buffer) => new Float32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));

export interface ExplainLibraryOptions {
  filters?: ImageFilter[];
  /** At most this many images (in id order after filtering). */
  limit?: number;
  force?: boolean;
  ep?: ProviderChoice;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ExplainLibrarySummary {
  model: string;
  method: string;
  layer: string;
  target: string;
  params: string;
  explained: number;
  skipped: number;
  failed: number;
  ep: string | null;
  fallbackReasons: string[];
  notices: string[];
  failures: { path: string; error: string }[];
  seconds: number;
  imagesPerSecond: number;
  interrupted: boolean;
}

const MAX_REPORTED_FAILURES = 50;

export async function explainLibrary(db: LibraryDb, modelName: string, request: ExplainRequest, options: ExplainLibraryOptions = {}): Promise<ExplainLibrarySummary> {
  const started = performance.now();
  const model = getModel(db, modelName);
  const explainer = Explainer.open(await readVerifiedModel(model), model.card, { ep: options.ep, sourceName: model.path });
  try {
    const target = formatTarget(parseTarget(request.target ?? 'score', model.card));
    const layer = usesLayer(request.method) ? (request.layer ?? (await explainer.defaultLayer())) : 'input';
    if (usesLayer(request.method)) {
      explainer.validateLayer(layer);
      await explainer.layout(layer); // a layer of the wrong shape fails the job here, not once per image
    }
    const recipe: SaliencyRecipe = { method: request.method, layer, target, params: recipeParams(request) };
    const filters: ImageFilter[] = [{ kind: 'status', status: 'ok' }, ...(options.filters ?? [])];
    const stored = db.prepare<[number, string, string, string, string, number], { x: number }>(
      'SELECT 1 AS x FROM saliency WHERE model_id = ? AND method = ? AND layer = ? AND target = ? AND params = ? AND image_id = ?',
    );
    const summary: ExplainLibrarySummary = { model: model.name, ...recipe, explained: 0, skipped: 0, failed: 0, ep: null, fallbackReasons: [], notices: [], failures: [], seconds: 0, imagesPerSecond: 0, interrupted: false };
    const images: { id: number; path: string }[] = [];
    for (let after: string | null = null; ; ) {
      const page = queryImages(db, { filters, limit: 1000, after });
      for (const row of page.items) if (options.limit === undefined || images.length < options.limit) images.push({ id: row.id, path: row.path });
      if (!page.next || (options.limit !== undefined && images.length >= options.limit)) break;
      after = page.next;
    }
    const total = images.length;
    options.onProgress?.({ job: 'explain', phase: 'explain', done: 0, total });
    const isStored = (id: number) => !options.force && stored.get(model.id, recipe.method, recipe.layer, recipe.target, recipe.params, id) !== undefined;
    // The next image is decoded (sharp, off the main thread) while this one is explained.
    const load = (index: number) => {
      const image = images[index];
      if (!image || isStored(image.id)) return undefined;
      const loading = loadInputImage(image.path, model.card);
      loading.catch(() => {}); // handled when awaited; this keeps an early rejection from being reported as unhandled
      return loading;
    };
    let empty = 0;
    let loading = load(0);
    for (const [i, image] of images.entries()) {
      if (options.signal?.aborted) {
        summary.interrupted = true;
        break;
      }
      const current = loading;
      loading = load(i + 1);
      if (!current) {
        summary.skipped++;
      } else {
        try {
          const result = await explainer.explain(await current, { ...request, layer: usesLayer(request.method) ? layer : undefined });
          if (!result.map.every(Number.isFinite) || !result.raw.every(Number.isFinite)) throw new Error('the map holds NaN or infinite values (the model output is not finite for this image)');
          saveSaliency(db, model.id, image.id, recipe, result, explainer.provider);
          summary.explained++;
          if (result.notice) empty++;
        } catch (error) {
          // A missing gradient rule or a bad target is the same for every image: stop once, not N times.
          if (error instanceof ExplainSetupError) throw error;
          summary.failed++;
          // The path is already in the entry: a decode error gives just its reason.
          const message = error instanceof ImageDecodeError ? error.reason : (error as Error).message;
          if (summary.failures.length < MAX_REPORTED_FAILURES) summary.failures.push({ path: image.path, error: message.split('\n')[0]! });
        }
      }
      options.onProgress?.({ job: 'explain', phase: 'explain', done: i + 1, total });
    }
    summary.ep = explainer.provider;
    summary.fallbackReasons = explainer.providerFallbacks;
    summary.notices = [...explainer.notices];
    if (empty) summary.notices.push(`${empty} of ${summary.explained} maps are empty (all zero after ReLU, or flat): nothing at ${layer} raises the target for those images; their overlays show no highlight`);
    summary.seconds = (performance.now() - started) / 1000;
    summary.imagesPerSecond = summary.seconds > 0 ? Math.round(((summary.explained + summary.failed) / summary.seconds) * 100) / 100 : 0;
    return summary;
  } finally {
    await explainer.close();
  }
}
