/**
 * The one service both hosts bind (issue 5): MiruApi implemented over a library file, with events. Hosts call
 * `callApi`, which checks the method name and its input (apiSchemas.ts) before anything runs; the typed methods
 * themselves assume checked input. Short queries run on the calling thread (better-sqlite3 is synchronous and
 * they take a few ms through indexes); counts and histograms run in a worker (queryEngine.ts); inference runs in
 * core's worker pools, inside jobs or the saliency call.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LibraryDb } from '../library/openLibrary.js';
import { cacheDirFor, openLibrary } from '../library/openLibrary.js';
import { libraryInfo } from '../library/libraryInfo.js';
import { getSetting, setSetting } from '../library/settings.js';
import { listTags, validateTagName } from '../library/tags.js';
import { indexLibrary } from '../library/indexLibrary.js';
import {
  countImages,
  neighbourIds,
  NUMERIC_FIELDS,
  parseFieldName,
  parseFilter,
  parseListSort,
  queryImages,
  cursorAfterRow,
  LIBRARY_ORDER,
  scoreRunOf,
  type ImageFilter,
  type ImageRow,
  type ListSort,
  type NumericField,
} from '../library/queryImages.js';
import { addModel, getModel, listModels, readVerifiedModel, type StoredModel } from '../models/modelRegistry.js';
import { scoreLibrary } from '../models/scoreLibrary.js';
import { embedLibrary } from '../models/embedLibrary.js';
import type { ProviderChoice } from '../models/executionProviders.js';
import { Explainer, parseMethod, usesLayer, type ExplainMethod } from '../explain/explainer.js';
import { explainLibrary, readSaliency, recipeParams, saveSaliency } from '../explain/explainLibrary.js';
import { formatTarget, parseTarget } from '../explain/explainTargets.js';
import { loadInputImage } from '../explain/inputImage.js';
import { JobRunner, type JobContext, type JobOutcome, type JobSnapshot } from '../jobs/jobRunner.js';
import type { ProgressListener } from '../jobs/progress.js';
import { analysisMethods } from './analysisApi.js';
import { ratersMethods } from './ratersApi.js';
import { probesMethods } from './probesApi.js';
import { issuesMethods } from './issuesApi.js';
import { analysisJobWork, isAnalysisJobKind } from './analysisJobs.js';
import { ApiInputError, ApiNotFoundError, parseApiInput, parseJobParams } from './apiSchemas.js';
import { QueryEngine } from './queryEngine.js';
import type {
  AddModelInput,
  AddedModel,
  ApiMethod,
  CountInput,
  FieldInfo,
  HistogramInput,
  HistogramResult,
  ImageDetail,
  ImagePageResult,
  ImageSummary,
  JobInfo,
  JobKind,
  ListImagesInput,
  MiruApi,
  MiruEvent,
  ModelSummary,
  SaliencyInput,
  SaliencyResultDto,
  SavedView,
  StartJobInput,
  TagInput,
  TagResult,
} from './apiTypes.js';

export { ApiInputError, ApiNotFoundError } from './apiSchemas.js';

/**
 * The HTTP status a host reports for a method's error: 400 for refused input, 404 for something that does not
 * exist, 422 for core's own errors (plain Errors whose message says what to do: an unknown rater, an unreadable
 * model file), 500 for anything else (a bug, a database failure).
 */
export function apiErrorStatus(error: unknown): 400 | 404 | 422 | 500 {
  if (error instanceof ApiInputError) return 400;
  if (error instanceof ApiNotFoundError) return 404;
  if (error instanceof Error && Object.getPrototypeOf(error) === Error.prototype) return 422;
  return 500;
}

export interface MiruServiceOptions {
  /** Execution provider for saliency and jobs that do not name one (default auto). */
  ep?: ProviderChoice;
  /** better-sqlite3 addon to load (the Electron host's Electron-ABI build). */
  nativeBinding?: string;
  /** Counts and histograms in a worker thread (default true); false runs them on the calling thread. */
  queryWorker?: boolean;
}

export interface MiruService extends MiruApi {
  subscribe(listener: (event: MiruEvent) => void): () => void;
  close(): Promise<void>;
  readonly db: LibraryDb;
  readonly dbPath: string;
}

/** Checks the method name and input against the schemas, then calls the method. */
export async function callApi(service: MiruService, method: string, input: unknown): Promise<unknown> {
  const checked = parseApiInput(method, input);
  const fn = service[method as ApiMethod] as (input: unknown) => Promise<unknown>;
  return fn.call(service, checked);
}

const VIEWS_KEY = 'ui.views';
const MAX_VIEWS = 200;
/** Library-changed events and count refreshes while a job writes, at most this often. */
const LIVE_REFRESH_MS = 5000;
/** Ids carried by one library-changed event; a bigger change says what changed without the ids. */
const MAX_EVENT_IDS = 10_000;

const FIELD_LABELS: Record<NumericField, [string, FieldInfo['group']]> = {
  id: ['Id', 'image'],
  bytes: ['File size (bytes)', 'image'],
  width: ['Width', 'image'],
  height: ['Height', 'image'],
  mtime: ['Modified (ms since 1970)', 'image'],
  megapixels: ['Megapixels', 'image'],
  aspectRatio: ['Aspect ratio', 'image'],
  brightness: ['Brightness', 'statistics'],
  contrast: ['Contrast', 'statistics'],
  saturation: ['Saturation', 'statistics'],
  colorfulness: ['Colorfulness', 'statistics'],
  sharpness: ['Sharpness', 'statistics'],
  entropy: ['Entropy', 'statistics'],
  edgeDensity: ['Edge density', 'statistics'],
  alphaFraction: ['Transparent fraction', 'statistics'],
  isGrayscale: ['Grayscale', 'statistics'],
  ratingMean: ['Mean rating', 'ratings'],
  ratingCount: ['Ratings', 'ratings'],
};

export function createMiruService(dbPath: string, options: MiruServiceOptions = {}): MiruService {
  const resolvedPath = path.resolve(dbPath);
  const db = openLibrary(resolvedPath, { nativeBinding: options.nativeBinding });
  const cacheDir = cacheDirFor(resolvedPath);
  const listeners = new Set<(event: MiruEvent) => void>();
  const engine = new QueryEngine(db, resolvedPath, { worker: options.queryWorker !== false, nativeBinding: options.nativeBinding });
  engine.warm();
  const explainers = new Map<string, Promise<{ sha: string; explainer: Explainer; queue: Promise<unknown> }>>();
  const computing = new Map<string, Promise<SaliencyResultDto>>();
  let closed = false;

  const emit = (event: MiruEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // One broken subscriber (a closed window, a dropped SSE stream) must not stop the others.
      }
    }
  };
  const changed = (what: Extract<MiruEvent, { type: 'library-changed' }>['what'], ids?: number[]) =>
    emit(ids && ids.length <= MAX_EVENT_IDS ? { type: 'library-changed', what, ids } : { type: 'library-changed', what });

  const runner = new JobRunner({ db, onUpdate: (job) => emit({ type: 'job', job: toJobInfo(job) }) });

  // Rater reports are cached until the ratings change. Saved rater groups are announced as a ratings change (the
  // UI reloads its rater list on it); the cache then finds the ratings themselves unchanged and keeps its answers.
  const raters = ratersMethods(db, {
    onAnalysesStored: () => changed('analyses'),
    onGroupsSaved: () => {
      engine.invalidate('raterGroups');
      changed('ratings');
    },
  });
  listeners.add((event) => {
    if (event.type === 'library-changed' && event.what === 'ratings') raters.ratingsChanged();
  });

  // ------------------------------------------------------------------------------------------- input helpers

  const modelNames = () => new Set(db.prepare<[], string>('SELECT name FROM models').pluck().all());

  function parseFilters(method: string, texts: string[]): ImageFilter[] {
    let models: Set<string> | null = null;
    return texts.map((text, i) => {
      let filter: ImageFilter;
      try {
        filter = parseFilter(text);
      } catch (error) {
        throw new ApiInputError(method, `filters[${i}]`, (error as Error).message);
      }
      if (filter.kind === 'rater' && db.prepare('SELECT 1 FROM raters WHERE name = ?').get(filter.rater) === undefined) {
        throw new ApiInputError(method, `filters[${i}]`, `unknown rater ${JSON.stringify(filter.rater)}`);
      }
      if (filter.kind === 'selection' && db.prepare(`SELECT 1 FROM analyses WHERE id = ? AND kind = 'selection'`).get(filter.analysisId) === undefined) {
        throw new ApiInputError(method, `filters[${i}]`, `no stored selection with id ${filter.analysisId} (draw a lasso on the map to make one)`);
      }
      if (filter.kind === 'raterGroup' && db.prepare('SELECT 1 FROM rater_groups WHERE group_name = ?').get(filter.group) === undefined) {
        const groups = db.prepare<[], string>('SELECT DISTINCT group_name FROM rater_groups ORDER BY group_name').pluck().all();
        throw new ApiInputError(method, `filters[${i}]`, `unknown rater group ${JSON.stringify(filter.group)} (groups: ${groups.join(', ') || 'none yet; save the rater clusters as groups in the Raters view'})`);
      }
      if (filter.kind === 'score' && !(models ??= modelNames()).has(filter.model)) {
        throw new ApiInputError(method, `filters[${i}]`, `unknown model ${JSON.stringify(filter.model)} (models: ${[...models].join(', ') || 'none yet'})`);
      }
      return filter;
    });
  }

  function parseSortInput(method: string, text: string | undefined): ListSort | undefined {
    if (text === undefined) return undefined;
    let sort: ListSort;
    try {
      sort = parseListSort(text);
    } catch (error) {
      throw new ApiInputError(method, 'sort', (error as Error).message);
    }
    if (sort.field === 'score' && 'model' in sort && !modelNames().has(sort.model)) throw new ApiInputError(method, 'sort', `unknown model ${JSON.stringify(sort.model)}`);
    return sort;
  }

  function checkModel(method: string, field: string, name: string): StoredModel {
    try {
      return getModel(db, name);
    } catch (error) {
      throw new ApiInputError(method, field, (error as Error).message);
    }
  }

  /** queryImages, with its cursor errors reported as the input's fault. */
  function query(method: string, run: () => ReturnType<typeof queryImages>) {
    try {
      return run();
    } catch (error) {
      const message = (error as Error).message;
      if (/cursor/.test(message)) throw new ApiInputError(method, 'after', message.replace(/--after/g, 'after').replace(/--sort/g, 'sort'));
      throw error;
    }
  }

  function summaryOf(row: ImageRow): ImageSummary {
    return {
      id: row.id,
      relPath: row.relPath,
      width: row.width,
      height: row.height,
      hash: row.contentHash,
      ratingMean: row.ratingMean,
      ratingCount: row.ratingCount,
      tags: row.tags,
      score: row.score ?? null,
      status: row.status,
    };
  }

  function imageRow(id: number): ImageRow {
    const row = queryImages(db, { filters: [{ kind: 'status', status: 'any' }, { kind: 'range', field: 'id', min: id, max: id }], limit: 1 }).items[0];
    if (!row) throw new ApiNotFoundError(`No image with id ${id} in this library.`);
    return row;
  }

  // ------------------------------------------------------------------------------------------------ saliency

  function explainerFor(model: StoredModel) {
    const existing = explainers.get(model.name);
    const open = async () => {
      const entry = await existing?.catch(() => null);
      if (entry && entry.sha === model.sha256) return entry;
      if (entry) await entry.explainer.close(); // the model was re-added with another file
      const bytes = await readVerifiedModel(model);
      return { sha: model.sha256, explainer: Explainer.open(bytes, model.card, { ep: options.ep, sourceName: model.path }), queue: Promise.resolve() as Promise<unknown> };
    };
    const next = open();
    explainers.set(model.name, next);
    next.catch(() => explainers.delete(model.name));
    return next;
  }

  /** One explanation at a time per model: an Explainer builds its derived models lazily and is not re-entrant. */
  async function serialised<T>(entry: { queue: Promise<unknown> }, work: () => Promise<T>): Promise<T> {
    const run = entry.queue.then(work, work);
    entry.queue = run.catch(() => {});
    return run;
  }

  function toDto(map: { method: string; layer: string; target: string; score: number | null; grid: [number, number]; map: Float32Array; elapsedMs: number | null }, cached: boolean): SaliencyResultDto {
    const bytes = Buffer.from(map.map.buffer, map.map.byteOffset, map.map.byteLength);
    return {
      method: map.method,
      layer: map.layer,
      target: map.target,
      score: map.score !== null && Number.isFinite(map.score) ? map.score : null,
      grid: [map.grid[0], map.grid[1]],
      mapF32: bytes.toString('base64'),
      empty: map.map.every((v) => v === map.map[0]),
      cached,
      elapsedMs: map.elapsedMs,
    };
  }

  // ------------------------------------------------------------------------------------------------- jobs

  function liveRefresh(onProgress: ProgressListener, refresh: () => void): ProgressListener {
    let last = Date.now();
    return (event) => {
      onProgress(event);
      if (Date.now() - last >= LIVE_REFRESH_MS) {
        last = Date.now();
        refresh();
      }
    };
  }

  function jobWork(kind: JobKind, params: Record<string, unknown>): (ctx: JobContext) => Promise<JobOutcome> {
    if (isAnalysisJobKind(kind)) {
      const work = analysisJobWork(db, cacheDir, kind, params, { nativeBinding: options.nativeBinding });
      return async (ctx) => {
        try {
          return await work(ctx);
        } finally {
          changed('analyses');
        }
      };
    }
    switch (kind) {
      case 'index': {
        const p = parseJobParams('index', params);
        p.roots.forEach((root, i) => {
          if (!existsSync(root) || !statSync(root).isDirectory()) throw new ApiInputError('startJob', `params.roots[${i}]`, `${root} is not a folder`);
        });
        return async (ctx) => {
          const refresh = () => {
            engine.invalidate('images');
            changed('images');
          };
          try {
            const summary = await indexLibrary(db, p.roots, { cacheDir, retryErrors: p.retryErrors, signal: ctx.signal, onProgress: liveRefresh(ctx.onProgress, refresh) });
            const { errors, refused, ...counts } = summary;
            return { summary: { ...counts, errors: errors.length, refused: refused.length }, failures: [...errors, ...refused] };
          } finally {
            refresh();
          }
        };
      }
      case 'score': {
        const p = parseJobParams('score', params);
        checkModel('startJob', 'params.model', p.model);
        return async (ctx) => {
          const refresh = () => {
            engine.invalidate('scores');
            changed('scores');
          };
          try {
            const { failures, ...summary } = await scoreLibrary(db, p.model, { ep: p.ep ?? options.ep, batch: p.batch, force: p.force, signal: ctx.signal, onProgress: liveRefresh(ctx.onProgress, refresh) });
            return { summary, failures };
          } finally {
            refresh();
          }
        };
      }
      case 'embed': {
        const p = parseJobParams('embed', params);
        checkModel('startJob', 'params.model', p.model);
        return async (ctx) => {
          const { failures, ...summary } = await embedLibrary(db, p.model, {
            ep: p.ep ?? options.ep,
            batch: p.batch,
            output: p.output,
            layer: p.layer,
            pool: p.pool,
            normalize: p.normalize,
            force: p.force,
            signal: ctx.signal,
            onProgress: ctx.onProgress,
          });
          return { summary, failures };
        };
      }
      case 'explain': {
        const p = parseJobParams('explain', params);
        const model = checkModel('startJob', 'params.model', p.model);
        let method: ExplainMethod;
        try {
          method = parseMethod(p.method);
        } catch (error) {
          throw new ApiInputError('startJob', 'params.method', (error as Error).message);
        }
        try {
          parseTarget(p.target ?? 'score', model.card);
        } catch (error) {
          throw new ApiInputError('startJob', 'params.target', (error as Error).message);
        }
        const filters = parseFilters('startJob', p.filters ?? []);
        return async (ctx) => {
          try {
            const { failures, ...summary } = await explainLibrary(
              db,
              p.model,
              { method, layer: p.layer, target: p.target },
              { filters, limit: p.limit, force: p.force, ep: p.ep ?? options.ep, signal: ctx.signal, onProgress: ctx.onProgress },
            );
            return { summary, failures };
          } finally {
            changed('saliency');
          }
        };
      }
    }
  }

  // ------------------------------------------------------------------------------------------------- views

  function readViews(): SavedView[] {
    const text = getSetting(db, VIEWS_KEY);
    if (!text) return [];
    try {
      const parsed = JSON.parse(text) as unknown;
      return Array.isArray(parsed)
        ? parsed.filter((v): v is SavedView => typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.query === 'string')
        : [];
    } catch {
      return []; // a damaged setting is replaced by the next save
    }
  }

  function writeViews(views: SavedView[]): SavedView[] {
    const sorted = [...views].sort((a, b) => a.name.localeCompare(b.name));
    setSetting(db, VIEWS_KEY, JSON.stringify(sorted));
    return sorted;
  }

  // ------------------------------------------------------------------------------------------------ service

  const service: MiruService = {
    db,
    dbPath: resolvedPath,
    ...analysisMethods(db),
    ...issuesMethods(db),
    ...raters.methods,
    ...probesMethods(db),

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async close() {
      if (closed) return;
      closed = true;
      await runner.close();
      await Promise.allSettled([...computing.values()]);
      const opened = await Promise.allSettled([...explainers.values()]);
      explainers.clear();
      await Promise.allSettled(opened.map((o) => (o.status === 'fulfilled' ? o.value.explainer.close() : undefined)));
      await engine.close();
      listeners.clear();
      db.close();
    },

    async libraryInfo() {
      const info = libraryInfo(db);
      return {
        path: resolvedPath,
        images: info.images,
        errors: info.errors,
        missing: info.missing,
        raters: info.raters,
        ratings: info.ratings,
        tags: info.tags,
        roots: info.roots,
        schemaVersion: info.schemaVersion,
      };
    },

    async fields() {
      const fields: FieldInfo[] = (Object.keys(NUMERIC_FIELDS) as NumericField[]).map((name) => ({ name, label: FIELD_LABELS[name][0], group: FIELD_LABELS[name][1] }));
      for (const model of listModels(db)) {
        if (model.card.outputs?.score) fields.push({ name: `score:${model.name}`, label: `Score: ${model.name}`, group: 'scores' });
      }
      return fields;
    },

    async listImages(input: ListImagesInput): Promise<ImagePageResult> {
      const filters = parseFilters('listImages', input.filters);
      const sort = parseSortInput('listImages', input.sort);
      if (input.scoreModel && !modelNames().has(input.scoreModel)) throw new ApiInputError('listImages', 'scoreModel', `unknown model ${JSON.stringify(input.scoreModel)}`);
      let after = input.after ?? null;
      if (input.offset) {
        if (after !== null) throw new ApiInputError('listImages', 'offset', 'give either after (the next cursor of a page) or offset (a rank to start at), not both');
        // A jump: the column store finds the row just before the rank, and its cursor starts an ordinary page.
        const order = sort ?? LIBRARY_ORDER;
        const before = await engine.rowAtRank(filters, order, input.offset - 1);
        if (before === null) return { items: [], next: null };
        after = cursorAfterRow(order, before);
      }
      const page = query('listImages', () => queryImages(db, { filters, sort, limit: input.limit, after, scoreModel: input.scoreModel ?? null }));
      return { items: page.items.map(summaryOf), next: page.next };
    },

    async countImages(input: CountInput) {
      const filters = parseFilters('countImages', input.filters);
      // Until the worker has the columns (the first seconds on a big library), one indexed SQL count is quicker.
      return { count: engine.ready ? await engine.count(filters) : countImages(db, filters) };
    },

    async histogram(input: HistogramInput): Promise<HistogramResult> {
      let field;
      try {
        field = parseFieldName(input.field);
      } catch (error) {
        throw new ApiInputError('histogram', 'field', (error as Error).message);
      }
      if (field.kind === 'score' && !modelNames().has(field.model)) throw new ApiInputError('histogram', 'field', `unknown model ${JSON.stringify(field.model)}`);
      return engine.histogram(field, parseFilters('histogram', input.filters), input.bins);
    },

    async imageDetail({ id }): Promise<ImageDetail> {
      const row = imageRow(id);
      const error = db.prepare<[number], string | null>('SELECT error FROM images WHERE id = ?').pluck().get(id) ?? null;
      const ratings = db
        .prepare<[number], { rater: string; value: number }>('SELECT raters.name AS rater, ratings.value AS value FROM ratings JOIN raters ON raters.id = ratings.rater_id WHERE ratings.image_id = ? ORDER BY raters.name')
        .all(id);
      const scores: ImageDetail['scores'] = [];
      for (const model of listModels(db)) {
        const run = scoreRunOf(db, model.name);
        if (run === null) continue;
        const stored = db.prepare<[number, number], { score: number; probs: Buffer | null; top_labels: string | null }>('SELECT score, probs, top_labels FROM scores WHERE run_id = ? AND image_id = ?').get(run, id);
        if (!stored) continue;
        const probs = stored.probs ? Array.from(new Float32Array(stored.probs.buffer.slice(stored.probs.byteOffset, stored.probs.byteOffset + stored.probs.byteLength))) : null;
        scores.push({
          model: model.name,
          run,
          score: stored.score,
          probs,
          labels: model.card.outputs?.score?.labels ?? null,
          topLabels: stored.top_labels ? (JSON.parse(stored.top_labels) as { label: string; p: number }[]) : null,
        });
      }
      return { ...summaryOf(row), path: row.path, bytes: row.bytes, format: row.format, error, stats: { ...row.stats }, ratings, scores };
    },

    async neighbours(input) {
      const filters = parseFilters('neighbours', input.filters);
      const sort = parseSortInput('neighbours', input.sort);
      if (db.prepare('SELECT 1 FROM images WHERE id = ?').get(input.id) === undefined) throw new ApiNotFoundError(`No image with id ${input.id} in this library.`);
      return neighbourIds(db, input.id, { filters, sort });
    },

    async listTags() {
      return listTags(db).map((t) => ({ tag: t.tag, count: t.images }));
    },

    async tagImages(input: TagInput): Promise<TagResult> {
      const names = (list: string[] | undefined, key: 'add' | 'remove') =>
        (list ?? []).map((tag, i) => {
          try {
            return validateTagName(tag);
          } catch (error) {
            throw new ApiInputError('tagImages', `${key}[${i}]`, (error as Error).message);
          }
        });
      const add = [...new Set(names(input.add, 'add'))];
      const remove = [...new Set(names(input.remove, 'remove'))];
      const both = add.find((t) => remove.includes(t));
      if (both !== undefined) throw new ApiInputError('tagImages', 'remove', `tag ${JSON.stringify(both)} is both added and removed`);
      const ids = [...new Set(input.ids)];
      const exists = db.prepare<[number], number>('SELECT 1 FROM images WHERE id = ?').pluck();
      const unknown = ids.filter((id) => exists.get(id) === undefined);
      if (unknown.length) throw new ApiNotFoundError(`No image with id ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` (and ${unknown.length - 5} more)` : ''}; nothing was tagged.`);
      const insert = db.prepare('INSERT OR IGNORE INTO tags (image_id, tag, created_at) VALUES (?, ?, ?)');
      const del = db.prepare('DELETE FROM tags WHERE image_id = ? AND tag = ?');
      const changedIds: Record<string, number[]> = {};
      // All or nothing, and exactly which images changed per tag, so undo reverses this call and nothing else.
      db.transaction(() => {
        const now = new Date().toISOString();
        for (const tag of add) changedIds[tag] = ids.filter((id) => insert.run(id, tag, now).changes > 0);
        for (const tag of remove) changedIds[tag] = ids.filter((id) => del.run(id, tag).changes > 0);
      })();
      const touched = [...new Set(Object.values(changedIds).flat())].sort((a, b) => a - b);
      if (touched.length) {
        engine.invalidate('tags');
        changed('tags', touched);
      }
      return { changed: changedIds };
    },

    async listRaters() {
      return db
        .prepare<[], { name: string; ratings: number; group: string | null }>(
          `SELECT raters.name AS name, (SELECT count(*) FROM ratings WHERE ratings.rater_id = raters.id) AS ratings, rater_groups.group_name AS "group"
           FROM raters LEFT JOIN rater_groups ON rater_groups.rater_id = raters.id ORDER BY raters.name`,
        )
        .all();
    },

    async listModels() {
      return listModels(db).map(modelSummary);
    },

    async addModel(input: AddModelInput): Promise<AddedModel> {
      const { model, replaced } = await addModel(db, input.file, { name: input.name, preset: input.preset, cardFile: input.cardFile });
      changed('models');
      return { ...modelSummary(model), replaced };
    },

    async saliency(input: SaliencyInput): Promise<SaliencyResultDto> {
      let model: StoredModel;
      try {
        model = getModel(db, input.model);
      } catch (error) {
        throw new ApiNotFoundError((error as Error).message);
      }
      let method: ExplainMethod;
      try {
        method = parseMethod(input.method);
      } catch (error) {
        throw new ApiInputError('saliency', 'method', (error as Error).message);
      }
      let target: string;
      try {
        target = formatTarget(parseTarget(input.target ?? 'score', model.card));
      } catch (error) {
        throw new ApiInputError('saliency', 'target', (error as Error).message);
      }
      const row = imageRow(input.imageId);
      const layer = usesLayer(method) ? (input.layer ?? model.card.saliency?.layer ?? (await (await explainerFor(model)).explainer.defaultLayer())) : 'input';
      const params = recipeParams({ method });
      const stored = readSaliency(db, model.id, row.id).find((m) => m.method === method && m.layer === layer && m.target === target && m.params === params);
      if (stored) return toDto(stored, true);
      if (input.compute === false) throw new ApiNotFoundError(`No stored ${method} map of image ${row.id} for ${model.name} (layer ${layer}, target ${target}); ask with compute: true to compute it.`);
      if (row.status !== 'ok') throw new ApiNotFoundError(`Image ${row.id} is ${row.status === 'missing' ? 'missing on disk' : `unreadable (${row.error ?? 'error'})`}; there is nothing to explain.`);
      // Two views asking for the same map at once share one computation.
      const key = JSON.stringify([model.name, model.sha256, row.id, method, layer, target, params]);
      const inFlight = computing.get(key);
      if (inFlight) return inFlight;
      const compute = (async () => {
        const entry = await explainerFor(model);
        const result = await serialised(entry, async () => {
          if (usesLayer(method)) {
            try {
              entry.explainer.validateLayer(layer);
            } catch (error) {
              throw new ApiInputError('saliency', 'layer', (error as Error).message);
            }
          }
          const image = await loadInputImage(row.path, model.card);
          return entry.explainer.explain(image, { method, layer: usesLayer(method) ? layer : undefined, target });
        });
        if (!result.map.every(Number.isFinite) || !result.raw.every(Number.isFinite)) {
          throw new Error(`The ${method} map of image ${row.id} holds NaN or infinite values (the model output is not finite for this image).`);
        }
        if (!closed) {
          saveSaliency(db, model.id, row.id, { method, layer: result.layer, target: result.target, params }, result, entry.explainer.provider);
          changed('saliency', [row.id]);
        }
        return toDto({ ...result, score: result.score }, false);
      })();
      computing.set(key, compute);
      try {
        return await compute;
      } finally {
        computing.delete(key);
      }
    },

    async startJob(input: StartJobInput): Promise<JobInfo> {
      const work = jobWork(input.kind, input.params);
      return toJobInfo(runner.start(input.kind, input.params, work));
    },

    async cancelJob({ id }) {
      if (!runner.get(id)) throw new ApiNotFoundError(`No job with id ${id} in this session.`);
      return toJobInfo(runner.cancel(id));
    },

    async listJobs() {
      return runner.list().map(toJobInfo);
    },

    async listViews() {
      return readViews();
    },

    async saveView(view: SavedView) {
      const views = readViews().filter((v) => v.name !== view.name);
      if (views.length >= MAX_VIEWS) throw new ApiInputError('saveView', 'name', `a library keeps at most ${MAX_VIEWS} views; delete one first`);
      return writeViews([...views, { name: view.name, query: view.query }]);
    },

    async deleteView({ name }) {
      const views = readViews();
      if (!views.some((v) => v.name === name)) throw new ApiNotFoundError(`No saved view named ${JSON.stringify(name)}.`);
      return writeViews(views.filter((v) => v.name !== name));
    },
  };

  function modelSummary(model: StoredModel): ModelSummary {
    const provider = db.prepare<[number], string>('SELECT provider FROM runs WHERE model_id = ? AND provider IS NOT NULL ORDER BY updated_at DESC LIMIT 1').pluck().get(model.id) ?? null;
    const run = model.card.outputs?.score ? scoreRunOf(db, model.name) : null;
    const scoredImages = run === null ? 0 : (db.prepare<[number], number>('SELECT count(*) FROM scores WHERE run_id = ?').pluck().get(run) ?? 0);
    return { name: model.name, path: model.path, card: model.card, provider, scoredImages };
  }

  return service;
}

function toJobInfo(job: JobSnapshot): JobInfo {
  return { ...job, kind: job.kind as JobKind };
}
