/**
 * Crash safety: `miru index` is killed with SIGKILL midway through a large folder, then run again. The database
 * must be intact, no image may appear twice, work committed before the kill must not be redone, and the
 * thumbnail cache must hold no partial file under a real name.
 *
 * The library lives inside the image folder on purpose: its thumbnail cache (with any .tmp leftovers of the
 * killed run) is then inside the indexed root and must still never be indexed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { cacheDirFor } from '../../../core/library/openLibrary.js';
import { thumbnailPath } from '../../../core/library/thumbnails.js';
import type { IndexSummary } from '../../../core/library/indexLibrary.js';
import { repoRoot } from '../../fixtures/corpus/makeCorpus.js';

const IMAGES = Number(process.env.MIRU_CRASH_IMAGES ?? 1500);
const MIRU = path.join(repoRoot(), 'bin', 'miru.js');

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Small but varied images (64-200 px, PNG and JPEG, a flat colour under noise) in 15 subfolders. */
async function generateImages(dir: string, count: number): Promise<string[]> {
  const random = prng(20240601);
  const specs = Array.from({ length: count }, (_, i) => ({
    rel: `set-${String(i % 15).padStart(2, '0')}/img-${String(i).padStart(5, '0')}.${i % 3 === 0 ? 'png' : 'jpg'}`,
    width: 64 + Math.floor(random() * 137),
    height: 64 + Math.floor(random() * 137),
    colour: { r: Math.floor(random() * 256), g: Math.floor(random() * 256), b: Math.floor(random() * 256) },
    seed: Math.floor(random() * 2 ** 32),
  }));
  for (let f = 0; f < 15; f++) await fs.mkdir(path.join(dir, `set-${String(f).padStart(2, '0')}`), { recursive: true });
  let next = 0;
  const lane = async () => {
    while (next < specs.length) {
      const spec = specs[next++]!;
      const noise = Buffer.alloc(spec.width * spec.height * 3);
      const r = prng(spec.seed);
      for (let k = 0; k < noise.length; k++) noise[k] = Math.floor(r() * 256);
      const image = sharp({ create: { width: spec.width, height: spec.height, channels: 3, background: spec.colour } }).composite([
        { input: noise, raw: { width: spec.width, height: spec.height, channels: 3 }, blend: 'overlay' },
      ]);
      const out = path.join(dir, spec.rel);
      if (out.endsWith('.png')) await image.png({ compressionLevel: 1 }).toFile(out);
      else await image.jpeg({ quality: 80 }).toFile(out);
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return specs.map((s) => s.rel);
}

function startIndex(folder: string, dbPath: string): ChildProcess & { output: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [MIRU, 'index', folder, '--db', dbPath, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const output = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return Object.assign(child, { output });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Committed image rows as a separate read-only connection sees them (WAL: readers never wait for the writer). */
function committedCount(reader: Database.Database): number | null {
  try {
    return (reader.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
  } catch {
    return null; // schema not created yet, or the database is momentarily locked
  }
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(abs)));
    else out.push(abs);
  }
  return out;
}

test(`SIGKILL midway through indexing ${IMAGES} images leaves a consistent library that the next run completes`, { timeout: 180_000 }, async () => {
  const started = performance.now();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-crash-'));
  try {
    const folder = path.join(tmp, 'images');
    const files = await generateImages(folder, IMAGES);
    const generatedMs = performance.now() - started;
    const dbPath = path.join(folder, 'library.db');
    const cacheDir = cacheDirFor(dbPath);

    // 1. Start indexing; once a tenth is committed (and well before the end), kill it without warning.
    const first = startIndex(folder, dbPath);
    let exited = false;
    void first.output.then(() => (exited = true));
    let reader: Database.Database | null = null;
    let seen = 0;
    const killAfter = Math.max(1, Math.floor(files.length / 10)); // enough finished work to check it is not redone
    const firstStarted = performance.now();
    while (!exited && performance.now() - firstStarted < 60_000) {
      if (!reader && existsSync(dbPath)) {
        try {
          reader = new Database(dbPath, { readonly: true, fileMustExist: true });
        } catch {
          reader = null;
        }
      }
      if (reader) {
        seen = committedCount(reader) ?? 0;
        if (seen >= killAfter) break;
      }
      await sleep(5);
    }
    if (exited) assert.fail(`the first run ended before a commit could be observed (use more images): ${JSON.stringify(await first.output)}`);
    assert.ok(seen > 0 && seen < files.length, `the kill must land midway: ${seen} of ${files.length} committed`);
    first.kill('SIGKILL');
    const killed = await first.output;
    assert.equal(killed.signal, 'SIGKILL', `the first run was killed, not finished: ${JSON.stringify(killed)} seen=${seen}`);
    const killedAfterMs = performance.now() - firstStarted;

    // What the killed run had committed, read through the observer's connection (still open, so it needs no WAL recovery).
    const committed = reader!.prepare('SELECT id, rel_path, status, indexed_at, content_hash FROM images').all() as {
      id: number;
      rel_path: string;
      status: string;
      indexed_at: string;
      content_hash: string;
    }[];
    reader!.close();
    const n = committed.length;
    assert.ok(n > 0 && n < files.length, `committed before the kill: ${n} of ${files.length}`);
    assert.ok(committed.every((r) => r.status === 'ok'), 'every committed row is a finished image');
    // Each committed row's thumbnail was on disk before its row (the indexer's ordering guarantee).
    for (const r of committed) assert.ok(existsSync(thumbnailPath(cacheDir, r.content_hash)), `thumbnail of committed ${r.rel_path}`);
    const leftovers = (await walk(cacheDir).catch(() => [] as string[])).filter((f) => f.endsWith('.tmp'));

    // 2. The same command again, to completion.
    const secondStarted = performance.now();
    const second = await startIndex(folder, dbPath).output;
    const secondMs = performance.now() - secondStarted;
    assert.equal(second.code, 0, `second run exit code; stderr: ${second.stderr}`);
    const summary = JSON.parse(second.stdout) as IndexSummary;
    assert.deepEqual(summary.errors, [], 'no errors in the second run');
    assert.ok(summary.unchanged >= n, `finished work is not redone: unchanged ${summary.unchanged} >= committed ${n}`);
    assert.equal(summary.added + summary.unchanged, files.length, 'added + unchanged = every file');
    assert.equal(summary.updated + summary.moved + summary.missing, 0);
    assert.equal(summary.indexed, files.length);

    // 3. The database: intact, every file exactly once, committed rows untouched.
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
      assert.deepEqual(db.pragma('foreign_key_check'), []);
      const rows = db.prepare('SELECT i.id, i.root_id, i.rel_path, i.status, i.indexed_at, i.content_hash, r.path AS root FROM images i JOIN roots r ON r.id = i.root_id').all() as {
        id: number;
        root_id: number;
        rel_path: string;
        status: string;
        indexed_at: string;
        content_hash: string;
        root: string;
      }[];
      assert.equal((db.prepare('SELECT count(*) AS n FROM roots').get() as { n: number }).n, 1, 'one root');
      const keys = rows.map((r) => `${r.root_id}\u0000${r.rel_path}`);
      assert.equal(new Set(keys).size, keys.length, 'a (root_id, rel_path) appears twice');
      const absolute = rows.map((r) => path.join(r.root, r.rel_path));
      assert.equal(new Set(absolute).size, absolute.length, 'an absolute path appears twice');
      assert.deepEqual(rows.map((r) => r.rel_path).sort(), [...files].sort(), 'every generated file is indexed exactly once, and nothing else');
      assert.ok(rows.every((r) => r.status === 'ok'), 'every image is ok');
      assert.ok(!rows.some((r) => r.rel_path.startsWith('library.db') || r.rel_path.endsWith('.tmp')), 'the cache (and its .tmp files) is never indexed');
      const now = new Map(rows.map((r) => [r.rel_path, r]));
      for (const r of committed) {
        const after = now.get(r.rel_path)!;
        assert.equal(after.id, r.id, `${r.rel_path} kept its id`);
        assert.equal(after.indexed_at, r.indexed_at, `${r.rel_path} was not indexed again`);
      }

      // 4. The thumbnail cache: one per image, and no partial file under a real name (every .webp decodes).
      for (const r of rows) assert.ok(existsSync(thumbnailPath(cacheDir, r.content_hash)), `thumbnail of ${r.rel_path}`);
      const cached = await walk(cacheDir);
      const thumbs = cached.filter((f) => !f.endsWith('.tmp'));
      assert.ok(thumbs.every((f) => f.endsWith('.webp')), 'only .webp (and .tmp) files in the cache');
      let next = 0;
      const bad: string[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < thumbs.length) {
            const file = thumbs[next++]!;
            try {
              const { info } = await sharp(file, { failOn: 'error' }).raw().toBuffer({ resolveWithObject: true });
              if (info.width < 1 || Math.max(info.width, info.height) > 256) bad.push(`${file}: ${info.width}x${info.height}`);
            } catch (error) {
              bad.push(`${file}: ${(error as Error).message}`);
            }
          }
        }),
      );
      assert.deepEqual(bad, [], 'every thumbnail under its real name decodes');
      console.log(
        `# crash: ${files.length} images generated in ${generatedMs.toFixed(0)} ms; killed after ${killedAfterMs.toFixed(0)} ms with ${n} committed ` +
          `(${leftovers.length} .tmp leftovers); second run ${secondMs.toFixed(0)} ms: ${summary.added} added, ${summary.unchanged} unchanged; ` +
          `${thumbs.length} thumbnails decode; total ${(performance.now() - started).toFixed(0)} ms`,
      );
    } finally {
      db.close();
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
