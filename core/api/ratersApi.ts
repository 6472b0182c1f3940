/**
 * The API's rater report (issue 6): `miru raters` (core/analysis/raterAnalysis.ts) plus a 2-D map of the raters
 * (core/analysis/raterEmbedding.ts), for the Raters view. The analysis takes about 0.3 s on 600 images × 40
 * raters and seconds on big panels, so each answer is kept in memory per input until the ratings change. Kept
 * apart from miruService.ts, which binds this into the one MiruApi object.
 *
 * When the ratings change: another process's commit moves SQLite's `PRAGMA data_version`, and this process's own
 * rating writes are announced through `ratingsChanged` (the service calls it with its library-changed 'ratings'
 * event). Either one only makes the next call re-read a cheap fingerprint of the ratings table; the cached
 * answers are dropped when the fingerprint differs (a tag written by the CLI moves data_version too, and must not
 * cost a minute-long recomputation on a big panel).
 */
import type { LibraryDb } from '../library/openLibrary.js';
import { setRaterGroups } from '../library/raterGroups.js';
import { analyzeRaters } from '../analysis/raterAnalysis.js';
import { raterEmbedding } from '../analysis/raterEmbedding.js';
import type { MiruApi } from './apiTypes.js';
import type { RaterReport, RaterReportInput } from './types/raterReport.js';
import { ApiInputError } from './apiSchemas.js';

type RaterMethods = Pick<MiruApi, 'raterReport'>;

export interface RatersApiHooks {
  /** New consensus analyses were stored (each computation replaces the previous ones of the same recipe). */
  onAnalysesStored?(): void;
  /** The clusters were stored as rater groups: group filters and rater lists are stale. */
  onGroupsSaved?(): void;
}

export interface RatersApi {
  methods: RaterMethods;
  /** This process wrote ratings: the next call checks whether the cached reports still hold. */
  ratingsChanged(): void;
}

/** Answers kept at most; each is a few hundred KB for a 200-rater panel (two 200×200 matrices). */
const MAX_CACHED = 16;

type CachedReport = Omit<RaterReport, 'cached' | 'savedGroups'>;

export function ratersMethods(db: LibraryDb, hooks: RatersApiHooks = {}): RatersApi {
  const cache = new Map<string, CachedReport>();
  const computing = new Map<string, Promise<CachedReport>>();
  let fingerprint: string | null = null;
  let dataVersion = -1;
  let dirty = true;

  const readFingerprint = db.prepare<[], Record<string, number | null>>(
    // Counts and value-weighted sums over ids: any added, removed or re-scored rating moves at least one of them.
    `SELECT count(*) AS n, total(value) AS v, total(value * image_id) AS vi, total(value * rater_id) AS vr,
            max(image_id) AS mi, max(rater_id) AS mr, (SELECT count(*) FROM raters) AS raters FROM ratings`,
  );
  const modelRow = db.prepare<[string], { id: number }>('SELECT id FROM models WHERE name = ?');
  const modelRun = db.prepare<[number], { id: number; scored: number }>(
    `SELECT r.id, (SELECT count(*) FROM scores s WHERE s.run_id = r.id) AS scored FROM runs r
     WHERE r.model_id = ? AND r.kind = 'score' ORDER BY r.status = 'complete' DESC, r.updated_at DESC LIMIT 1`,
  );

  /** Drops every cached answer when the ratings are not the ones they were computed from. */
  function checkRatings(): void {
    const version = db.pragma('data_version', { simple: true }) as number;
    if (!dirty && version === dataVersion && fingerprint !== null) return;
    dirty = false;
    dataVersion = version;
    const next = JSON.stringify(readFingerprint.get());
    if (next !== fingerprint) {
      cache.clear();
      fingerprint = next;
    }
  }

  /** The answer's identity: the analysis input, and for CROWDLAB the model's score run it reads. */
  function cacheKey(input: RaterReportInput): { key: string; clusters: number | 'auto'; consensus: RaterReportInput['consensus']; model: string | undefined } {
    const model = input.model;
    let run: { id: number; scored: number } | null = null;
    if (model !== undefined) {
      const row = modelRow.get(model);
      if (!row) {
        const names = db.prepare<[], string>('SELECT name FROM models ORDER BY name').pluck().all();
        throw new ApiInputError('raterReport', 'model', `unknown model ${JSON.stringify(model)} (models: ${names.join(', ') || 'none yet'})`);
      }
      run = modelRun.get(row.id) ?? null;
    }
    const clusters = input.clusters ?? 'auto';
    const consensus = input.consensus ?? (model !== undefined ? 'crowdlab' : 'mean');
    return { key: JSON.stringify([clusters, consensus, model ?? null, run?.id ?? null, run?.scored ?? null]), clusters, consensus, model };
  }

  async function compute(clusters: number | 'auto', consensus: RaterReportInput['consensus'], model: string | undefined): Promise<CachedReport> {
    const started = performance.now();
    const result = await analyzeRaters(db, { clusters, consensus, model });
    const embedding = raterEmbedding(result.kappa, { shrinkage: result.clustering.shrinkage });
    hooks.onAnalysesStored?.();
    // `truth` is never asked for here; leave no undefined key behind in the JSON.
    const { truth: _truth, savedGroups: _saved, ...analysis } = result;
    return { ...analysis, embedding, elapsedMs: Math.round(performance.now() - started), computedAt: new Date().toISOString() };
  }

  async function report(input: RaterReportInput): Promise<{ report: CachedReport; cached: boolean }> {
    checkRatings();
    const { key, clusters, consensus, model } = cacheKey(input);
    const hit = cache.get(key);
    if (hit) {
      // Most recently used last, so the oldest answer is the one dropped.
      cache.delete(key);
      cache.set(key, hit);
      return { report: hit, cached: true };
    }
    let pending = computing.get(key);
    if (!pending) {
      pending = compute(clusters, consensus, model);
      computing.set(key, pending);
      const ratingsAtStart = fingerprint;
      pending.then(
        (computed) => {
          computing.delete(key);
          if (fingerprint !== ratingsAtStart) return;
          cache.set(key, computed);
          while (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
        },
        () => computing.delete(key),
      );
    }
    return { report: await pending, cached: false };
  }

  return {
    ratingsChanged() {
      dirty = true;
    },
    methods: {
      async raterReport(input: RaterReportInput): Promise<RaterReport> {
        const { report: computed, cached } = await report(input);
        if (!input.saveGroups) return { ...computed, cached };
        // The groups saved are exactly the clusters this answer shows (the person clicked on them), not those of
        // a recomputation; as `miru raters --save-groups` does, raters outside every cluster lose their group.
        if (computed.clustering.k === 0) throw new Error('No clusters to save as rater groups: no rater could be clustered (see the notes of the rater analysis).');
        const saved = setRaterGroups(
          db,
          computed.raters.map((r, i) => ({ row: `rater ${i + 1}`, rater: r.rater, group: r.cluster === null ? null : `cluster-${r.cluster}` })),
        );
        hooks.onGroupsSaved?.();
        return { ...computed, cached, savedGroups: { set: saved.set, cleared: saved.cleared, unchanged: saved.unchanged } };
      },
    },
  };
}
