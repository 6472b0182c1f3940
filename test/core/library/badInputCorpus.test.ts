/**
 * The bad-input corpus (test/fixtures/corpus/manifest.json): every entry is materialised, the whole corpus is
 * indexed in one run, and each entry gets its own test so a failure names the file. Grow the manifest with
 * every bug found in indexing.
 *
 * Also here, because they need timing rather than a file: files deleted during the scan, the decompression-bomb
 * guard's cost, and raising --max-pixels afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, unlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { indexLibrary, type IndexSummary } from '../../../core/library/indexLibrary.js';
import { openLibrary, cacheDirFor, type LibraryDb } from '../../../core/library/openLibrary.js';
import { thumbnailPath } from '../../../core/library/thumbnails.js';
import type { ScanProblem } from '../../../core/library/scanFolders.js';
import { CORPUS_MAX_PIXELS, isRoot, loadManifest, makeCorpus, pngBomb, repoRoot, type CorpusEntry } from '../../fixtures/corpus/makeCorpus.js';

interface Row {
  id: number;
  root_id: number;
  rel_path: string;
  status: 'ok' | 'error' | 'missing';
  error: string | null;
  content_hash: string | null;
  width: number | null;
  height: number | null;
  format: string | null;
  channels: number | null;
  has_alpha: number | null;
  bit_depth: string | null;
  pages: number | null;
  is_grayscale: number | null;
  alpha_fraction: number | null;
  brightness: number | null;
  sharpness: number | null;
}

const entries = loadManifest();
const INDEX_TIMEOUT_MS = 120_000;
const MIRU = path.join(repoRoot(), 'bin', 'miru.js');

let tmp: string;
let corpusRoot: string;
let realRoot: string;
let db: LibraryDb;
let cacheDir: string;
let summary: IndexSummary;
let runMs: number;
let rows: Row[];
let byPath: Map<string, Row>;
/** Set when the corpus run itself threw: a bad file must never stop the run. */
let runError: Error | undefined;

function assertRunFinished(): void {
  if (runError) assert.fail(`the indexing run stopped instead of recording a per-file error: ${runError.stack ?? runError.message}`);
}

/** Path relative to the corpus root, forward slashes (the same form as manifest `file` and `rel_path`). */
const rel = (abs: string) => path.relative(realRoot, abs).split(path.sep).join('/');

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (hung on a FIFO or a link loop?)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MIRU, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

before(
  async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-corpus-'));
    corpusRoot = path.join(tmp, 'corpus');
    await makeCorpus(corpusRoot, entries);
    realRoot = await fs.realpath(corpusRoot);
    const dbPath = path.join(tmp, 'lib', 'library.db');
    db = openLibrary(dbPath);
    cacheDir = cacheDirFor(dbPath);
    const started = performance.now();
    try {
      summary = await withTimeout(
        indexLibrary(db, [corpusRoot], { cacheDir, maxPixels: CORPUS_MAX_PIXELS, concurrency: 4 }),
        INDEX_TIMEOUT_MS,
        'indexing the corpus',
      );
    } catch (error) {
      // Recorded, not thrown: every corpus test then fails with this reason, and the tests below still run.
      runError = error as Error;
      summary = { indexed: 0, added: 0, updated: 0, unchanged: 0, moved: 0, missing: 0, contentChanged: 0, errors: [], refused: [] };
    }
    runMs = performance.now() - started;
    rows = db.prepare('SELECT * FROM images ORDER BY id').all() as Row[];
    byPath = new Map(rows.map((r) => [r.rel_path, r]));
  },
  { timeout: INDEX_TIMEOUT_MS + 60_000 },
);

after(async () => {
  db?.close();
  if (tmp) {
    // chmod-000 files and folders must be writable again for rm to remove them when not root.
    await fs.chmod(path.join(tmp, 'corpus', 'bad', 'unreadable.png'), 0o644).catch(() => {});
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

function problemsFor(list: ScanProblem[], file: string): ScanProblem[] {
  return list.filter((p) => rel(p.path) === file);
}

// ---------------------------------------------------------------- one test per manifest entry

for (const entry of entries) {
  test(`corpus: ${entry.file} -> ${entry.expect.status} (${entry.why})`, async (t) => {
    if (entry.skipIfRoot && isRoot()) {
      t.skip('running as root: permissions do not apply');
      return;
    }
    assertRunFinished();
    const { expect } = entry;
    const row = byPath.get(entry.file);
    const errors = problemsFor(summary.errors, entry.file);
    const refused = problemsFor(summary.refused, entry.file);
    const pattern = expect.error ? new RegExp(expect.error) : null;

    switch (expect.status) {
      case 'ok': {
        assert.ok(row, `no images row for ${entry.file}`);
        assert.equal(row.status, 'ok', `status of ${entry.file} (error: ${row.error})`);
        assert.equal(row.error, null);
        assert.deepEqual(errors, [], 'an ok file must not be listed in errors');
        assert.deepEqual(refused, []);
        assert.ok(row.content_hash, 'content hash recorded');
        assert.ok(row.width! > 0 && row.height! > 0, 'size recorded');
        if (expect.width !== undefined) assert.equal(row.width, expect.width, 'width (after EXIF orientation)');
        if (expect.height !== undefined) assert.equal(row.height, expect.height, 'height (after EXIF orientation)');
        if (expect.format !== undefined) assert.equal(row.format, expect.format, 'format');
        if (expect.channels !== undefined) assert.equal(row.channels, expect.channels, 'channels');
        if (expect.bitDepth !== undefined) assert.equal(row.bit_depth, expect.bitDepth, 'bit depth');
        if (expect.pages !== undefined) assert.equal(row.pages, expect.pages, 'pages');
        if (expect.isGrayscale !== undefined) assert.equal(row.is_grayscale, expect.isGrayscale ? 1 : 0, 'is_grayscale');
        if (expect.hasAlpha !== undefined) assert.equal(row.has_alpha, expect.hasAlpha ? 1 : 0, 'has_alpha');
        if (expect.minAlphaFraction !== undefined)
          assert.ok(row.alpha_fraction! >= expect.minAlphaFraction, `alpha_fraction ${row.alpha_fraction} >= ${expect.minAlphaFraction}`);
        for (const column of ['brightness', 'sharpness', 'alpha_fraction'] as const) {
          assert.ok(Number.isFinite(row[column]), `${column} is a finite number, got ${row[column]}`);
        }
        // The thumbnail is on disk, under its real name, and decodes.
        const thumb = thumbnailPath(cacheDir, row.content_hash!);
        const meta = await sharp(thumb).metadata();
        assert.equal(meta.format, 'webp', 'thumbnail is WebP');
        assert.ok(Math.max(meta.width!, meta.height!) <= 256, 'thumbnail fits 256 px');
        await sharp(thumb).raw().toBuffer();
        return;
      }
      case 'error': {
        assert.ok(row, `no images row for ${entry.file}: a bad file must be recorded, not dropped`);
        assert.equal(row.status, 'error', `status of ${entry.file}`);
        assert.match(row.error ?? '', pattern!, 'error recorded in the images row');
        assert.equal(errors.length, 1, `listed once in errors: ${JSON.stringify(errors)}`);
        assert.equal(errors[0]!.error, row.error, 'the run summary and the row give the same reason');
        assert.deepEqual(refused, []);
        assert.equal(row.width, null, 'no size for an unusable file');
        return;
      }
      case 'refused': {
        assert.equal(row, undefined, 'a refused format gets no images row');
        assert.equal(refused.length, 1, `listed once in refused: ${JSON.stringify(refused)}`);
        assert.match(refused[0]!.error, pattern!);
        assert.deepEqual(errors, []);
        return;
      }
      case 'scan-error': {
        assert.equal(row, undefined, 'a scan error gets no images row');
        assert.equal(errors.length, 1, `listed once in errors: ${JSON.stringify(errors)}`);
        assert.match(errors[0]!.error, pattern!);
        assert.deepEqual(refused, []);
        return;
      }
      case 'absent': {
        assert.equal(row, undefined, 'ignored files get no images row');
        assert.deepEqual(errors, [], 'ignored files are not errors');
        assert.deepEqual(refused, [], 'ignored files are not refused');
        return;
      }
      default:
        assert.fail(`unknown expected status ${String((expect as { status: string }).status)}`);
    }
  });
}

// ---------------------------------------------------------------- the run as a whole

test('corpus run: finished, every file indexed once, nothing unexpected', () => {
  assertRunFinished();
  const skipped = new Set(entries.filter((e) => e.skipIfRoot && isRoot()).map((e) => e.file));
  const known = new Map(entries.map((e) => [e.file, e]));

  // Nothing twice: not in the table (by path), not in the lists.
  const keys = rows.map((r) => `${r.root_id}\u0000${r.rel_path}`);
  assert.equal(new Set(keys).size, keys.length, 'a (root, path) appears twice');
  const problemPaths = [...summary.errors, ...summary.refused].map((p) => p.path);
  assert.equal(new Set(problemPaths).size, problemPaths.length, 'a path is reported twice');

  // Counts agree with the table.
  assert.equal(summary.added, rows.length, 'added = rows written');
  assert.equal(summary.indexed, rows.filter((r) => r.status === 'ok').length, 'indexed = ok rows');
  assert.equal(summary.updated + summary.unchanged + summary.moved + summary.missing, 0, 'a fresh library has nothing to update');

  // Everything the run produced is described by the manifest (a new failure must become a manifest entry).
  for (const r of rows) {
    if (skipped.has(r.rel_path)) continue;
    const e = known.get(r.rel_path);
    assert.ok(e, `row for ${r.rel_path} (${r.status}: ${r.error}) is not in the manifest`);
    assert.ok(e.expect.status === r.status, `${r.rel_path}: row status ${r.status}, manifest says ${e.expect.status}`);
  }
  for (const p of summary.errors) {
    const e = known.get(rel(p.path));
    assert.ok(e && (e.expect.status === 'error' || e.expect.status === 'scan-error'), `unexpected error for ${rel(p.path)}: ${p.error}`);
  }
  for (const p of summary.refused) assert.equal(known.get(rel(p.path))?.expect.status, 'refused', `unexpected refusal of ${rel(p.path)}`);

  // Per-entry counts add up, so no entry is silently missing from the run.
  const count = (s: string) => entries.filter((e) => e.expect.status === s && !skipped.has(e.file)).length;
  assert.equal(rows.filter((r) => !skipped.has(r.rel_path)).length, count('ok') + count('error'), 'rows = ok + error entries');
  assert.equal(summary.refused.length, count('refused'));
  assert.equal(summary.errors.length, count('error') + count('scan-error'));
  console.log(`# corpus: ${entries.length} entries indexed in ${runMs.toFixed(0)} ms`);
});

test('corpus run through the CLI: exit code 0 despite errors, same JSON outcome', { timeout: INDEX_TIMEOUT_MS }, async () => {
  const dbPath = path.join(tmp, 'cli', 'library.db');
  const result = await runCli(['index', corpusRoot, '--db', dbPath, '--json', '--max-pixels', String(CORPUS_MAX_PIXELS)], INDEX_TIMEOUT_MS - 5_000);
  assert.equal(result.signal, null, `the CLI was killed (hung?): ${result.stderr}`);
  assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
  const json = JSON.parse(result.stdout) as IndexSummary;
  for (const key of ['indexed', 'added', 'updated', 'unchanged', 'moved', 'missing', 'errors', 'refused']) assert.ok(key in json, `--json has "${key}"`);
  assert.equal(json.indexed, summary.indexed);
  assert.equal(json.added, summary.added);
  const norm = (list: ScanProblem[]) => list.map((p) => `${rel(p.path)}: ${p.error}`).sort();
  assert.deepEqual(norm(json.errors), norm(summary.errors));
  assert.deepEqual(norm(json.refused), norm(summary.refused));
});

test('corpus second run: nothing is re-read and nothing changes', async () => {
  assertRunFinished();
  const second = await withTimeout(
    indexLibrary(db, [corpusRoot], { cacheDir, maxPixels: CORPUS_MAX_PIXELS, concurrency: 4 }),
    INDEX_TIMEOUT_MS,
    'second corpus run',
  );
  assert.equal(second.added, 0);
  assert.equal(second.updated, 0);
  assert.equal(second.missing, 0);
  assert.equal(second.unchanged, rows.length, 'every row (ok and error) is unchanged');
  // Scan-level problems are found again by the walk; per-file decode errors are remembered, not retried.
  const scanErrors = entries.filter((e) => e.expect.status === 'scan-error').length;
  assert.equal(second.errors.length, scanErrors);
  assert.deepEqual(db.prepare('SELECT * FROM images ORDER BY id').all(), rows, 'no row was touched');
});

// ---------------------------------------------------------------- decompression bombs and the pixel limit

test('a decompression bomb is refused from its header with the default limit: fast and without allocating', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-bomb-'));
  const lib = openLibrary(path.join(dir, 'lib.db'));
  try {
    await fs.mkdir(path.join(dir, 'images'));
    await fs.writeFile(path.join(dir, 'images', 'bomb.png'), pngBomb(100_000, 100_000)); // 30 GB of RGB if decoded
    let peak = process.memoryUsage().rss;
    const baseline = peak;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
    const started = performance.now();
    const result = await indexLibrary(lib, [path.join(dir, 'images')], { cacheDir: cacheDirFor(path.join(dir, 'lib.db')) });
    const ms = performance.now() - started;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.equal(result.errors.length, 1);
    assert.match(result.errors[0]!.error, /^too many pixels: 100000x100000 = 10,000,000,000 exceeds the limit of 268,402,689 .*--max-pixels/);
    assert.ok(ms < 2_000, `refused in ${ms.toFixed(0)} ms (limit 2000)`);
    const growthMb = (peak - baseline) / 2 ** 20;
    assert.ok(growthMb < 500, `RSS grew by ${growthMb.toFixed(0)} MB`);
    console.log(`# bomb refused in ${ms.toFixed(0)} ms, peak RSS growth ${growthMb.toFixed(1)} MB`);
  } finally {
    lib.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the pixel limit is configurable: raising it and retrying errors indexes the refused image', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-limit-'));
  const lib = openLibrary(path.join(dir, 'lib.db'));
  try {
    const images = path.join(dir, 'images');
    await fs.mkdir(images);
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#468' } }).png().toFile(path.join(images, 'big.png'));
    const options = { cacheDir: cacheDirFor(path.join(dir, 'lib.db')) };
    const first = await indexLibrary(lib, [images], { ...options, maxPixels: 59_999 });
    assert.match(first.errors[0]?.error ?? '', /^too many pixels: 300x200 = 60,000 exceeds the limit of 59,999/);
    const again = await indexLibrary(lib, [images], { ...options, maxPixels: 60_000 });
    assert.equal(again.unchanged, 1, 'without retryErrors a failed, unchanged file is not re-read');
    const retried = await indexLibrary(lib, [images], { ...options, maxPixels: 60_000, retryErrors: true });
    assert.equal(retried.updated, 1);
    assert.deepEqual(retried.errors, []);
    const row = lib.prepare('SELECT status, error, width, height FROM images').get();
    assert.deepEqual(row, { status: 'ok', error: null, width: 300, height: 200 });
  } finally {
    lib.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- files deleted while Miru works

async function smallFolder(count: number): Promise<{ dir: string; images: string; lib: LibraryDb; cacheDir: string; names: string[] }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-vanish-'));
  const images = path.join(dir, 'images');
  await fs.mkdir(images);
  const names = Array.from({ length: count }, (_, i) => `img-${String(i).padStart(2, '0')}.png`);
  await Promise.all(
    names.map((name, i) =>
      sharp({ create: { width: 32 + i, height: 24, channels: 3, background: { r: i * 20, g: 100, b: 200 - i * 10 } } }).png().toFile(path.join(images, name)),
    ),
  );
  return { dir, images: await fs.realpath(images), lib: openLibrary(path.join(dir, 'lib.db')), cacheDir: cacheDirFor(path.join(dir, 'lib.db')), names };
}

test('a new file deleted between the scan and its read is reported as vanished and gets no row', async () => {
  const { dir, images, lib, cacheDir: cache, names } = await smallFolder(8);
  try {
    const victim = path.join(images, names.at(-1)!); // processed last with concurrency 1
    let deleted = false;
    const result = await indexLibrary(lib, [images], {
      cacheDir: cache,
      concurrency: 1,
      onProgress: (event) => {
        if (event.phase === 'index' && !deleted) {
          unlinkSync(victim); // the scan is over: the file is on the work list, not yet read
          deleted = true;
        }
      },
    });
    assert.ok(deleted, 'the index phase reported progress');
    assert.deepEqual(result.errors.map((e) => e.path), [victim]);
    assert.match(result.errors[0]!.error, /vanished during the scan/);
    assert.equal(result.added, names.length - 1);
    assert.equal(result.indexed, names.length - 1);
    const rowsNow = lib.prepare('SELECT rel_path, status FROM images ORDER BY rel_path').all() as { rel_path: string; status: string }[];
    assert.deepEqual(rowsNow, names.slice(0, -1).map((n) => ({ rel_path: n, status: 'ok' })));
  } finally {
    lib.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a known file changed and then deleted during the run becomes a missing row, keeping its id', async () => {
  const { dir, images, lib, cacheDir: cache, names } = await smallFolder(6);
  try {
    await indexLibrary(lib, [images], { cacheDir: cache, concurrency: 1 });
    const victimName = names.at(-1)!;
    const victim = path.join(images, victimName);
    const before = lib.prepare('SELECT id FROM images WHERE rel_path = ?').get(victimName) as { id: number };
    // Touch the victim so the second run has to re-read it, then delete it once that run has planned its work.
    const later = new Date(Date.now() + 5_000);
    await fs.utimes(victim, later, later);
    let deleted = false;
    const result = await indexLibrary(lib, [images], {
      cacheDir: cache,
      concurrency: 1,
      onProgress: (event) => {
        if (event.phase === 'index' && !deleted) {
          unlinkSync(victim);
          deleted = true;
        }
      },
    });
    assert.ok(deleted);
    assert.deepEqual(result.errors.map((e) => e.path), [victim]);
    assert.match(result.errors[0]!.error, /vanished during the scan/);
    assert.equal(result.missing, 1);
    assert.equal(result.unchanged, names.length - 1);
    const row = lib.prepare('SELECT id, status FROM images WHERE rel_path = ?').get(victimName);
    assert.deepEqual(row, { id: before.id, status: 'missing' });
  } finally {
    lib.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a file deleted during the folder walk is reported and the walk goes on', async () => {
  const { dir, images, lib, cacheDir: cache, names } = await smallFolder(6);
  try {
    const victim = path.join(images, names.at(-1)!); // listed by readdir, stat'ed last
    let deleted = false;
    const result = await indexLibrary(lib, [images], {
      cacheDir: cache,
      onProgress: (event) => {
        if (event.phase === 'scan' && !deleted) {
          unlinkSync(victim);
          deleted = true;
        }
      },
    });
    assert.ok(deleted, 'the scan phase reported progress');
    assert.deepEqual(result.errors.map((e) => e.path), [victim]);
    assert.match(result.errors[0]!.error, /no such file/);
    assert.equal(result.indexed, names.length - 1);
    assert.equal((lib.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n, names.length - 1);
  } finally {
    lib.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- regressions found while building the corpus

test('failure reasons stay per file when many bad files fail at once (libvips error buffer is shared)', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-reasons-'));
  const lib = openLibrary(path.join(dir, 'lib.db'));
  try {
    const kinds = [
      { make: 'truncated-jpeg', ext: 'jpg', reason: /^truncated or damaged image data: VipsJpeg: premature end of JPEG image/ },
      { make: 'truncated-png', ext: 'png', reason: /^truncated or damaged image data: vipspng: libpng read error/ },
      { make: 'corrupt-jpeg-header', ext: 'jpg', reason: /^cannot decode image: Input buffer has corrupt header: VipsJpeg: Unsupported marker type 0x5a$/ },
    ];
    const many: CorpusEntry[] = [];
    for (let i = 0; i < 20; i++) {
      for (const k of kinds) many.push({ file: `${k.make}-${i}.${k.ext}`, make: k.make, expect: { status: 'error', error: k.reason.source }, why: 'stress' });
    }
    const images = path.join(dir, 'images');
    await makeCorpus(images, many);
    const result = await indexLibrary(lib, [images], { cacheDir: cacheDirFor(path.join(dir, 'lib.db')), concurrency: 4 });
    assert.equal(result.errors.length, many.length);
    const wrong = result.errors.filter((e) => !new RegExp(many.find((m) => m.file === path.basename(e.path))!.expect.error!).test(e.error));
    assert.deepEqual(wrong.map((e) => `${path.basename(e.path)}: ${e.error}`), [], 'each file keeps its own reason');
  } finally {
    lib.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a library inside the indexed folder, reached through a symlink, never indexes its own thumbnail cache', async () => {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'miru-linked-')));
  try {
    const images = path.join(dir, 'real', 'images');
    await fs.mkdir(images, { recursive: true });
    await fs.symlink(path.join(dir, 'real'), path.join(dir, 'link'));
    for (let i = 0; i < 3; i++) {
      await sharp({ create: { width: 40 + i, height: 30, channels: 3, background: { r: 60 * i, g: 90, b: 120 } } }).png().toFile(path.join(images, `a${i}.png`));
    }
    // As on macOS, where /tmp is a link to /private/tmp: the root is stored by real path, the cache path is not.
    const linkedImages = path.join(dir, 'link', 'images');
    const dbPath = path.join(linkedImages, 'library.db');
    const lib = openLibrary(dbPath);
    try {
      const first = await indexLibrary(lib, [linkedImages], { cacheDir: cacheDirFor(dbPath) });
      assert.equal(first.added, 3);
      const second = await indexLibrary(lib, [linkedImages], { cacheDir: cacheDirFor(dbPath) });
      assert.equal(second.added, 0, 'thumbnails were indexed as images');
      assert.equal(second.unchanged, 3);
      assert.equal(second.indexed, 3);
    } finally {
      lib.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
