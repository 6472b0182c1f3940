import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { migrate, SCHEMA_VERSION } from '../../../core/library/migrations.js';
import { openLibrary } from '../../../core/library/openLibrary.js';
import { listAnalyses } from '../../../core/analysis/analysisStore.js';
import { tempDir } from '../../helpers/paths.js';

test('a library written by schema version 1 migrates to the current version without losing data', () => {
  const file = path.join(tempDir(), 'v1.db');
  const old = new Database(file);
  migrate(old, 1);
  assert.equal(old.pragma('user_version', { simple: true }), 1);
  old.exec(`
    INSERT INTO roots (id, path, added_at) VALUES (1, '/data', '2024-01-01');
    INSERT INTO images (id, root_id, rel_path, content_hash, bytes, mtime_ms, width, height, status, indexed_at, brightness)
      VALUES (1, 1, 'a.png', 'aaaaaaaaaaaaaaaa', 10, 1, 4, 4, 'ok', '2024-01-01', 0.25),
             (2, 1, 'b.png', 'bbbbbbbbbbbbbbbb', 10, 1, 4, 4, 'ok', '2024-01-01', 0.75),
             (3, 1, 'c.png', NULL, 3, 1, NULL, NULL, 'error', '2024-01-01', NULL);
    INSERT INTO raters (id, name) VALUES (1, 'ann'), (2, 'bob');
    INSERT INTO ratings (image_id, rater_id, value) VALUES (1, 1, 2), (1, 2, 5), (2, 1, 4);
    INSERT INTO tags (image_id, tag, created_at) VALUES (2, 'keep', '2024-01-02');
  `);
  old.close();

  const db = openLibrary(file);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const rows = db.prepare('SELECT id, rel_path, brightness, rating_mean, rating_count, status FROM images ORDER BY id').all();
  assert.deepEqual(rows, [
    { id: 1, rel_path: 'a.png', brightness: 0.25, rating_mean: 3.5, rating_count: 2, status: 'ok' },
    { id: 2, rel_path: 'b.png', brightness: 0.75, rating_mean: 4, rating_count: 1, status: 'ok' },
    { id: 3, rel_path: 'c.png', brightness: null, rating_mean: null, rating_count: 0, status: 'error' },
  ]);
  assert.equal(db.prepare('SELECT count(*) AS n FROM ratings').pluck().get(), 3);
  assert.deepEqual(db.prepare('SELECT tag FROM tags').all(), [{ tag: 'keep' }]);
  const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'images_by_%'`).all() as { name: string }[];
  assert.ok(indexes.some((i) => i.name === 'images_by_rating_mean'));
  assert.deepEqual(db.prepare(`SELECT rowid FROM images_path_fts WHERE images_path_fts MATCH '"b.p"'`).pluck().all(), [2], 'the path index covers rows from before it existed');
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal((db.pragma('integrity_check', { simple: true }) as string), 'ok');
  db.close();

  // Opening again is a no-op: migrations run once.
  const again = openLibrary(file);
  assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  again.close();
});

test('a schema-6 library upgrades with each stored analysis counting its values', () => {
  const file = path.join(tempDir(), 'v6.db');
  const old = new Database(file);
  old.pragma('foreign_keys = ON');
  migrate(old, 6);
  old.exec(`
    INSERT INTO roots (id, path, added_at) VALUES (1, '/data', '2024-01-01');
    INSERT INTO images (id, root_id, rel_path, content_hash, bytes, mtime_ms, width, height, status, indexed_at)
      VALUES (1, 1, 'a.png', 'aaaaaaaaaaaaaaaa', 10, 1, 4, 4, 'ok', '2024-01-01'),
             (2, 1, 'b.png', 'bbbbbbbbbbbbbbbb', 10, 1, 4, 4, 'ok', '2024-01-01'),
             (3, 1, 'c.png', 'cccccccccccccccc', 10, 1, 4, 4, 'ok', '2024-01-01');
    INSERT INTO analyses (id, kind, source_run_id, params, summary, created_at)
      VALUES (1, 'outliers', NULL, '{}', '{}', '2024-01-01'), (2, 'consensus', NULL, '{}', '{}', '2024-01-02'), (3, 'selection', NULL, '{}', '{}', '2024-01-03');
    INSERT INTO analysis_values (analysis_id, image_id, value) VALUES (1, 1, 0.5), (1, 2, NULL), (1, 3, 2), (2, 2, 4);
  `);
  old.close();

  const db = openLibrary(file);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.ok(SCHEMA_VERSION >= 7);
  assert.deepEqual(db.prepare('SELECT id, value_count FROM analyses ORDER BY id').all(), [
    { id: 1, value_count: 3 },
    { id: 2, value_count: 1 },
    { id: 3, value_count: 0 },
  ]);
  assert.deepEqual(listAnalyses(db).map((a) => [a.id, a.count]), [[3, 0], [2, 1], [1, 3]]);
  db.close();
});

test('a library from a newer Miru is refused and left untouched', () => {
  const file = path.join(tempDir(), 'future.db');
  const future = new Database(file);
  future.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  future.close();
  const before = readFileSync(file);
  assert.throws(() => openLibrary(file), /newer Miru.*nothing was changed/s);
  assert.deepEqual(readFileSync(file), before);
});

test('a file that is not SQLite is refused with a message naming it', () => {
  const file = path.join(tempDir(), 'notes.db');
  writeFileSync(file, 'these are my notes, not a database '.repeat(200));
  assert.throws(() => openLibrary(file), (error: Error) => error.message.includes(file) && /not a Miru library/.test(error.message));
  assert.match(readFileSync(file, 'utf8'), /^these are my notes/);
});

test('read commands refuse to create a library that does not exist', () => {
  const file = path.join(tempDir(), 'nothing-here.db');
  assert.throws(() => openLibrary(file, { mustExist: true }), /No library at .*miru index/);
});
