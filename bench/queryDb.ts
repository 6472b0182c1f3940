/**
 * Builds (once) the 1,000,000-image library that bench:query measures, cached at .bench/query-1m.db with its
 * parameters in .bench/query-1m.json. Rows are generated directly with SQL inserts in large transactions into a
 * database created by openLibrary, so the schema, migrations and indexes are the real ones: the secondary
 * indexes are dropped before the bulk load and recreated from their own CREATE INDEX text afterwards (much
 * faster than maintaining 20 indexes row by row). The file is regenerated when missing, when its schema version
 * differs from this Miru's, or when the generator parameters change.
 */
import { existsSync, readFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openLibrary, refreshPlannerStatistics } from '../core/library/openLibrary.js';
import { SCHEMA_VERSION } from '../core/library/migrations.js';
import { BENCH_DIR, beta, fmtMs, gaussian, now, rng } from './benchUtil.js';

export const QUERY_DB_PATH = path.join(BENCH_DIR, 'query-1m.db');
const PARAMS_PATH = path.join(BENCH_DIR, 'query-1m.json');

export interface QueryDbParams {
  generator: number;
  seed: number;
  images: number;
  sets: number;
  raters: number;
  /** Fraction of usable images with at least one rating. */
  ratedFraction: number;
  /** Mean ratings per rated image (1 + Poisson(mean - 1)). */
  ratingsPerRatedImage: number;
  errorFraction: number;
  missingFraction: number;
  tags: Record<string, number>;
}

export const DEFAULT_QUERY_DB_PARAMS: QueryDbParams = {
  generator: 1,
  seed: 7,
  images: 1_000_000,
  sets: 200,
  raters: 200,
  ratedFraction: 0.4,
  ratingsPerRatedImage: 1.5,
  errorFraction: 0.01,
  missingFraction: 0.005,
  tags: { keep: 0.1, outlier: 0.01, favorite: 0.005 },
};

export interface QueryDbInfo {
  path: string;
  generatedMs: number | null;
  params: QueryDbParams;
}

export async function ensureQueryDb(params: QueryDbParams = DEFAULT_QUERY_DB_PARAMS): Promise<QueryDbInfo> {
  const reason = staleReason(params);
  if (!reason) return { path: QUERY_DB_PATH, generatedMs: null, params };
  console.log(`(re)generating ${QUERY_DB_PATH}: ${reason}`);
  const started = now();
  await generate(params);
  const generatedMs = now() - started;
  await fs.writeFile(PARAMS_PATH, JSON.stringify({ params, schemaVersion: SCHEMA_VERSION, generatedMs: Math.round(generatedMs), at: new Date().toISOString() }, null, 2));
  return { path: QUERY_DB_PATH, generatedMs, params };
}

function staleReason(params: QueryDbParams): string | null {
  if (!existsSync(QUERY_DB_PATH)) return 'missing';
  if (!existsSync(PARAMS_PATH)) return 'no parameter file';
  try {
    const recorded = JSON.parse(readFileSync(PARAMS_PATH, 'utf8')) as { params: QueryDbParams };
    if (JSON.stringify(recorded.params) !== JSON.stringify(params)) return 'generator parameters changed';
    // Read the version without openLibrary, which would migrate the file in place.
    const db = new Database(QUERY_DB_PATH, { readonly: true, fileMustExist: true });
    try {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== SCHEMA_VERSION) return `schema version ${version}, this Miru writes ${SCHEMA_VERSION}`;
    } finally {
      db.close();
    }
  } catch (error) {
    return `unreadable (${(error as Error).message})`;
  }
  return null;
}

async function generate(p: QueryDbParams): Promise<void> {
  await fs.mkdir(BENCH_DIR, { recursive: true });
  const tmp = `${QUERY_DB_PATH}.tmp`;
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, QUERY_DB_PATH, `${QUERY_DB_PATH}-wal`, `${QUERY_DB_PATH}-shm`]) await fs.rm(f, { force: true });

  let t = now();
  const db = openLibrary(tmp);
  // Bulk load: no journal, no fsync, a large page cache for the index builds. WAL is restored at the end.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1048576');
  db.pragma('temp_store = MEMORY');
  db.pragma('foreign_keys = OFF');
  const indexes = db
    .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('images', 'ratings', 'tags') ORDER BY name`)
    .all() as { name: string; sql: string }[];
  for (const ix of indexes) db.exec(`DROP INDEX ${ix.name}`);

  const random = rng(p.seed);
  const nowMs = Date.UTC(2025, 0, 1);
  const iso = (ms: number) => new Date(ms).toISOString();
  db.prepare('INSERT INTO roots (id, path, added_at) VALUES (1, ?, ?)').run('/data/datasets/anime-aesthetics', iso(nowMs - 400 * 86400e3));
  const raterNames = Array.from({ length: p.raters }, (_, i) => `rater_${String(i).padStart(3, '0')}`);
  const insertRater = db.prepare('INSERT INTO raters (id, name) VALUES (?, ?)');
  db.transaction(() => raterNames.forEach((name, i) => insertRater.run(i + 1, name)))();
  // Rater activity follows a Zipf-like law: a few raters rate a lot, most rate a little.
  const raterWeights = raterNames.map((_, i) => 1 / Math.pow(i + 1, 0.9));
  const raterCdf: number[] = [];
  raterWeights.reduce((s, w, i) => (raterCdf[i] = s + w), 0);
  const weightTotal = raterCdf[raterCdf.length - 1]!;
  const raterBias = raterNames.map(() => gaussian(random) * 0.4);
  const pickRater = () => {
    const x = random() * weightTotal;
    let lo = 0;
    let hi = raterCdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (raterCdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };

  const columns = [
    'id', 'root_id', 'rel_path', 'content_hash', 'bytes', 'mtime_ms', 'width', 'height', 'format', 'channels', 'has_alpha',
    'bit_depth', 'pages', 'status', 'error', 'indexed_at', 'brightness', 'contrast', 'saturation', 'colorfulness', 'sharpness',
    'entropy', 'edge_density', 'aspect_ratio', 'megapixels', 'alpha_fraction', 'is_grayscale', 'rating_mean', 'rating_count',
  ];
  const insertImage = db.prepare(`INSERT INTO images (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
  const insertRating = db.prepare('INSERT INTO ratings (image_id, rater_id, value, rated_at, imported_from) VALUES (?, ?, ?, ?, ?)');
  const insertTag = db.prepare('INSERT INTO tags (image_id, tag, created_at) VALUES (?, ?, ?)');
  const tagEntries = Object.entries(p.tags).sort(([a], [b]) => (a < b ? -1 : 1));

  const perSet = Math.ceil(p.images / p.sets);
  const commonSides = [512, 768, 832, 896, 1024, 1152, 1216, 1344, 1536, 1920, 2048, 2560, 3000, 4096];
  const hex = () => Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0') + Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0');
  let ratings = 0;
  let tags = 0;
  const indexedAt = iso(nowMs - 3 * 86400e3);
  const BATCH = 100_000;
  for (let start = 1; start <= p.images; start += BATCH) {
    db.transaction(() => {
      for (let id = start; id < start + BATCH && id <= p.images; id++) {
        const set = Math.floor((id - 1) / perSet);
        const r = random();
        const status = r < p.errorFraction ? 'error' : r < p.errorFraction + p.missingFraction ? 'missing' : 'ok';
        const f = random();
        const [format, ext] = f < 0.5 ? ['jpeg', 'jpg'] : f < 0.9 ? ['png', 'png'] : ['webp', 'webp'];
        const relPath = `set_${String(set).padStart(3, '0')}/img_${String(id).padStart(7, '0')}.${ext}`;
        const bytes = Math.round(Math.exp(13 + gaussian(random) * 0.8));
        const mtime = nowMs - Math.floor(random() * 3 * 365 * 86400e3);
        if (status === 'error') {
          insertImage.run(id, 1, relPath, hex(), bytes, mtime, null, null, null, null, null, null, null, 'error',
            random() < 0.5 ? 'truncated or damaged image data: VipsJpeg: Premature end of input file' : 'not an image: the content is not a format Miru reads (the name says .png)',
            indexedAt, null, null, null, null, null, null, null, null, null, null, null, null, 0);
          continue;
        }
        const w = commonSides[Math.floor(random() * commonSides.length)]!;
        const h = random() < 0.3 ? w : commonSides[Math.floor(random() * commonSides.length)]!;
        const alpha = format === 'png' && random() < 0.2;
        const gray = random() < 0.03;
        const brightness = beta(random, 5, 4);
        const contrast = 0.5 * beta(random, 4, 10);
        const saturation = gray ? random() * 0.02 : beta(random, 2, 3);
        const colorfulness = gray ? random() * 2 : 150 * beta(random, 2, 5);
        const sharpness = Math.exp(5.5 + gaussian(random) * 1.2);
        const entropy = 8 * beta(random, 8, 2);
        const edgeDensity = beta(random, 1.5, 12);
        const alphaFraction = alpha ? beta(random, 1, 3) : 0;
        // Ratings follow a latent quality so rating_mean correlates with the statistics, as real data does.
        let ratingMean: number | null = null;
        let count = 0;
        if (random() < p.ratedFraction) {
          count = 1;
          // 1 + Poisson(mean - 1): most rated images have one or two ratings.
          const limit = Math.exp(-(p.ratingsPerRatedImage - 1));
          for (let q = random(); q > limit; q *= random()) count++;
          const raters = new Set<number>();
          while (raters.size < Math.min(count, p.raters)) raters.add(pickRater());
          const quality = 3 + (sharpness > 300 ? 0.5 : -0.3) + (saturation - 0.4) * 1.5 + (contrast - 0.14) * 4;
          let sum = 0;
          for (const rater of [...raters].sort((a, b) => a - b)) {
            const value = Math.min(5, Math.max(1, Math.round(quality + raterBias[rater - 1]! + gaussian(random) * 0.8)));
            insertRating.run(id, rater, value, iso(nowMs - Math.floor(random() * 200 * 86400e3)), 'ratings-2024.csv');
            sum += value;
            ratings++;
          }
          count = raters.size;
          ratingMean = sum / count;
        }
        insertImage.run(id, 1, relPath, hex(), bytes, mtime, w, h, format, alpha ? 4 : gray ? 1 : 3, alpha ? 1 : 0, 'uchar', 1, status, null,
          indexedAt, brightness, contrast, saturation, colorfulness, sharpness, entropy, edgeDensity, w / h, (w * h) / 1e6, alphaFraction,
          gray ? 1 : 0, ratingMean, count);
        for (const [tag, fraction] of tagEntries) {
          if (random() < fraction) {
            insertTag.run(id, tag, iso(nowMs - Math.floor(random() * 30 * 86400e3)));
            tags++;
          }
        }
      }
    })();
  }
  console.log(`  inserted ${p.images.toLocaleString('en-US')} images, ${ratings.toLocaleString('en-US')} ratings, ${tags.toLocaleString('en-US')} tags in ${fmtMs(now() - t)}`);

  t = now();
  for (const ix of indexes) db.exec(ix.sql);
  console.log(`  recreated ${indexes.length} indexes (${indexes.map((i) => i.name).join(', ')}) in ${fmtMs(now() - t)}`);

  // What `miru index` and `miru ratings import` do after a run (core/library/openLibrary.ts).
  t = now();
  refreshPlannerStatistics(db);
  const statRows = (db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'`).pluck().get() as number)
    ? (db.prepare('SELECT count(*) FROM sqlite_stat1').pluck().get() as number)
    : 0;
  console.log(`  planner statistics refreshed in ${fmtMs(now() - t)} (sqlite_stat1 rows afterwards: ${statRows})`);
  db.pragma('journal_mode = WAL');
  db.close();
  await fs.rename(tmp, QUERY_DB_PATH);
}
