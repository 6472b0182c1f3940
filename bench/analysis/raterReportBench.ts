/**
 * The Raters view's API for `npm run bench:analysis` (section "raterReport"), on a library of 5,000 image rows and
 * 200 simulated raters (ratings drawn as `miru synth` draws them, imported with `importRatings`):
 * - raterReport computing its answer (the analysis, the rater map, storing the consensus) against the same call
 *   answered from the host's memory: what the cache saves each time the view reopens or a setting comes back;
 * - the same answer after another process committed a write that is not a rating (a tag): SQLite's data_version
 *   moved, so the host re-reads the ratings fingerprint before it may answer from memory;
 * - the rater map alone (classical MDS of the kappa profiles) against the rater analysis it is drawn from.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { callApi, createMiruService } from '../../core/api/miruService.js';
import type { RaterReport } from '../../core/api/types/raterReport.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { importRatings, parseScale } from '../../core/library/ratingsImport.js';
import { analyzeRatingSet, loadRatingSet } from '../../core/analysis/raterAnalysis.js';
import { raterEmbedding } from '../../core/analysis/raterEmbedding.js';
import { groupWeights, preferenceGroupNames, quantilePositions, weightedScore, type PreferenceGroup } from '../../core/synth/aestheticTruth.js';
import { drawAttributes } from '../../core/synth/attributes.js';
import { SeededRandom } from '../../core/synth/random.js';
import { makeRaters, simulateRatings } from '../../core/synth/raters.js';
import { tempDir } from '../../test/helpers/paths.js';
import { median, now } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const IMAGES = 5000;
const RATERS = 200;
const REPEATS = 5;

async function panelLibrary(): Promise<string> {
  const dir = tempDir('miru-bench-raters-');
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/bench', 'now')`).run();
  const image = db.prepare(`INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at) VALUES (?, 1, ?, 1, 1, 'ok', 'now')`);
  db.transaction(() => {
    for (let id = 1; id <= IMAGES; id++) image.run(id, `img_${id}.png`);
  })();
  const seed = 4;
  const attributes = Array.from({ length: IMAGES }, (_, i) => drawAttributes(SeededRandom.derive(seed, 'image', i)));
  const rank = {} as Record<PreferenceGroup, number[]>;
  for (const g of preferenceGroupNames) rank[g] = quantilePositions(attributes.map((a) => weightedScore(a, groupWeights[g])));
  const raters = makeRaters(RATERS, 5, seed);
  const { ratings } = simulateRatings(raters, rank, IMAGES, 5, seed);
  const csv = path.join(dir, 'ratings.csv');
  writeFileSync(csv, ['image,rater,score', ...ratings.map((r) => `img_${r.image + 1}.png,${raters[r.rater]!.name},${r.score}`)].join('\n'));
  await importRatings(db, csv, { scale: parseScale('1:5') });
  db.close();
  return dbPath;
}

const round = (x: number) => Math.round(x * 100) / 100;

export async function runRaterReportBench(): Promise<BenchRow[]> {
  const dbPath = await panelLibrary();
  const service = createMiruService(dbPath, { queryWorker: false });
  const rows: BenchRow[] = [];
  try {
    const report = async () => (await callApi(service, 'raterReport', {})) as RaterReport;
    let t = now();
    const first = await report();
    const computeMs = now() - t;
    if (first.cached) throw new Error('the first raterReport came from memory');
    const cached: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      t = now();
      const again = await report();
      cached.push(now() - t);
      if (!again.cached) throw new Error('a repeated raterReport was computed again');
    }
    rows.push({
      name: `raterReport computed vs from memory, ${IMAGES} images × ${RATERS} raters (ms)`,
      baseline: round(median(cached)),
      value: round(computeMs),
      ratio: Math.round(computeMs / median(cached)),
      note: `${first.ratings} ratings; baseline: the cached answer; computing includes the analysis, the rater map and storing the consensus; k ${first.clustering.k}`,
    });

    // A tag written by another connection moves data_version: the next call re-reads the ratings fingerprint.
    const other = openLibrary(dbPath);
    const afterWrite: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      other.prepare(`INSERT OR REPLACE INTO tags (image_id, tag, created_at) VALUES (?, 'bench', 'now')`).run(i + 1);
      t = now();
      const again = await report();
      afterWrite.push(now() - t);
      if (!again.cached) throw new Error('a tag write dropped the cached raterReport');
    }
    other.close();
    rows.push({
      name: 'raterReport from memory after another process wrote a tag (ms)',
      baseline: round(median(cached)),
      value: round(median(afterWrite)),
      ratio: round(median(afterWrite) / median(cached)),
      note: 'baseline: from memory with nothing written; value includes re-reading the ratings fingerprint',
    });

    // The map against the analysis it comes from, both on the rating set in memory.
    const set = loadRatingSet(service.db);
    t = now();
    const { result } = analyzeRatingSet(set, { clusters: 'auto' });
    const analysisMs = now() - t;
    const mapTimes: number[] = [];
    let points = 0;
    for (let i = 0; i < REPEATS; i++) {
      t = now();
      points = raterEmbedding(result.kappa, { shrinkage: result.clustering.shrinkage }).points.length;
      mapTimes.push(now() - t);
    }
    rows.push({
      name: `rater map (MDS of kappa profiles), ${RATERS} raters (ms)`,
      baseline: round(analysisMs),
      value: round(median(mapTimes)),
      ratio: round(median(mapTimes) / analysisMs),
      note: `baseline: the rater analysis it is drawn from; ${points} raters placed`,
    });
  } finally {
    await service.close();
  }
  return rows;
}
