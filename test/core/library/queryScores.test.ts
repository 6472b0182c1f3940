import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openLibrary, type LibraryDb } from '../../../core/library/openLibrary.js';
import {
  countImages,
  neighbourIds,
  parseFieldName,
  parseFilter,
  parseListSort,
  queryImages,
  scoreRunOf,
  type ImageFilter,
  type ListSort,
} from '../../../core/library/queryImages.js';
import { ColumnStore } from '../../../core/library/histogram.js';
import { tempDir } from '../../helpers/paths.js';

/** One image as the fixture knows it, so every expectation is computed in plain JS. */
interface Row {
  id: number;
  rel: string;
  status: 'ok' | 'error' | 'missing';
  brightness: number | null;
  ratingMean: number | null;
  tags: string[];
  raters: string[];
  /** Scores in the run each model's `score:` field reads. */
  a: number | null;
  b: number | null;
}

const MODEL_A = 'm-a';
const MODEL_B = 'm.b v2'; // a dot and a space: model names are not identifiers

/**
 * `count` images inserted directly. Model m-a has a complete run (most images, many ties) and a newer run still
 * in progress with different values, which `score:m-a` must not read. Model "m.b v2" has one partial run.
 * Model "never" has no run at all.
 */
function buildLibrary(count: number, options: { commonTag?: number } = {}): { db: LibraryDb; rows: Row[] } {
  const db = openLibrary(path.join(tempDir(), 'scores.db'));
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  db.exec(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now');
    INSERT INTO raters (id, name) VALUES (1, 'ann'), (2, 'bob');
    INSERT INTO models (id, name, path, sha256, card, added_at) VALUES
      (1, '${MODEL_A}', '/m/a.onnx', 'x', '{}', 'now'), (2, '${MODEL_B}', '/m/b.onnx', 'x', '{}', 'now'), (3, 'never', '/m/n.onnx', 'x', '{}', 'now');
    INSERT INTO runs (id, model_id, kind, params, status, created_at, updated_at) VALUES
      (1, 1, 'score', '{"v":1}', 'complete', 't1', '2025-01-01'),
      (2, 1, 'score', '{"v":2}', 'running', 't2', '2025-06-01'),
      (3, 2, 'score', '{}', 'partial', 't1', '2025-01-01');`);
  const insertImage = db.prepare(
    `INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at, brightness, rating_mean, rating_count) VALUES (?, 1, ?, 1, 1, ?, 'now', ?, ?, ?)`,
  );
  const insertScore = db.prepare('INSERT INTO scores (run_id, image_id, score) VALUES (?, ?, ?)');
  const insertTag = db.prepare(`INSERT INTO tags (image_id, tag, created_at) VALUES (?, ?, 'now')`);
  const insertRating = db.prepare('INSERT INTO ratings (image_id, rater_id, value) VALUES (?, ?, 3)');
  const rows: Row[] = [];
  db.transaction(() => {
    for (let id = 1; id <= count; id++) {
      const status = id % 41 === 0 ? 'error' : id % 37 === 0 ? 'missing' : 'ok';
      const brightness = status === 'error' ? null : Math.round(rand() * 20) / 20;
      const raters = rand() < 0.5 ? [] : rand() < 0.5 ? ['ann'] : ['ann', 'bob'];
      const ratingMean = raters.length ? Math.round(rand() * 8) / 2 + 1 : null;
      const tags: string[] = [];
      if (options.commonTag !== undefined ? rand() < options.commonTag : rand() < 0.15) tags.push('common');
      if (rand() < 0.1) tags.push('outlier');
      const rel = `${id % 3 === 0 ? 'cats' : 'dogs'}/img_${id}.png`;
      // Coarse values give many ties, which keyset paging must break by id.
      const a = status !== 'error' && rand() < 0.85 ? Math.round(rand() * 16) / 4 + 1 : null;
      const b = status === 'ok' && rand() < 0.5 ? Math.round(rand() * 1000) / 1000 : null;
      insertImage.run(id, rel, status, brightness, ratingMean, raters.length);
      if (a !== null) insertScore.run(1, id, a);
      if (rand() < 0.7) insertScore.run(2, id, 100 + rand()); // the running rerun: never read while run 1 exists
      if (b !== null) insertScore.run(3, id, b);
      for (const t of tags) insertTag.run(id, t);
      for (const r of raters) insertRating.run(id, r === 'ann' ? 1 : 2);
      rows.push({ id, rel, status, brightness, ratingMean, tags, raters, a, b });
    }
  })();
  return { db, rows };
}

function valueOf(row: Row, field: string): number | null {
  if (field === 'score:' + MODEL_A) return row.a;
  if (field === 'score:' + MODEL_B) return row.b;
  if (field === 'score:never') return null;
  if (field === 'brightness') return row.brightness;
  if (field === 'ratingMean') return row.ratingMean;
  if (field === 'id') return row.id;
  throw new Error(`fixture has no field ${field}`);
}

/** The filter semantics, in plain JS. */
function matches(row: Row, filters: ImageFilter[]): boolean {
  let status = 'ok';
  for (const f of filters) if (f.kind === 'status') status = f.status;
  if (status !== 'any' && row.status !== status) return false;
  return filters.every((f) => {
    switch (f.kind) {
      case 'status':
        return true;
      case 'range':
      case 'score': {
        const v = valueOf(row, f.kind === 'score' ? `score:${f.model}` : f.field);
        if (v === null) return false;
        if (f.min !== undefined && (f.minExclusive ? !(v > f.min) : !(v >= f.min))) return false;
        if (f.max !== undefined && (f.maxExclusive ? !(v < f.max) : !(v <= f.max))) return false;
        return true;
      }
      case 'tag':
        return row.tags.includes(f.tag) === f.has;
      case 'rater':
        return row.raters.includes(f.rater);
      case 'path':
        return row.rel.toLowerCase().includes(f.contains.toLowerCase());
    }
  });
}

/** The list order: values in the sort direction with ties by id, rows without a value last (by id, same direction). */
function expectedOrder(rows: Row[], filters: ImageFilter[], sortText: string): number[] {
  const sort = parseListSort(sortText);
  const field = 'model' in sort ? `score:${sort.model}` : sort.field;
  const sign = sort.descending ? -1 : 1;
  return rows
    .filter((r) => matches(r, filters))
    .sort((x, y) => {
      const vx = valueOf(x, field);
      const vy = valueOf(y, field);
      if (vx === null && vy === null) return sign * (x.id - y.id);
      if (vx === null) return 1;
      if (vy === null) return -1;
      return vx !== vy ? sign * (vx - vy) : sign * (x.id - y.id);
    })
    .map((r) => r.id);
}

function pageThrough(db: LibraryDb, filters: ImageFilter[], sort: ListSort, limit: number, scoreModel?: string): { ids: number[]; scores: (number | null | undefined)[] } {
  const ids: number[] = [];
  const scores: (number | null | undefined)[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const page = queryImages(db, { filters, sort, limit, after, scoreModel });
    for (const item of page.items) {
      ids.push(item.id);
      scores.push(item.score);
    }
    if (!page.next) return { ids, scores };
    after = page.next;
  }
  throw new Error('paging did not end');
}

const CASES: { filters: string[]; sorts: string[] }[] = [
  { filters: [], sorts: [`-score:${MODEL_A}`, `score:${MODEL_A}`, `-score:${MODEL_B}`, 'score:never', 'id'] },
  { filters: [`score:${MODEL_A}>=3`], sorts: [`-score:${MODEL_A}`, `score:${MODEL_A}`, '-brightness', 'id', `-score:${MODEL_B}`] },
  { filters: [`score:${MODEL_A}=2..3.5`, 'tag=common'], sorts: [`-score:${MODEL_A}`, 'ratingMean'] },
  { filters: [`score:${MODEL_A}<2`, `score:${MODEL_A}>1`], sorts: [`score:${MODEL_A}`] },
  { filters: [`score:${MODEL_B}>0.5`], sorts: [`-score:${MODEL_A}`, `score:${MODEL_B}`] },
  { filters: ['tag!=outlier', 'rater=ann'], sorts: [`-score:${MODEL_A}`, `score:${MODEL_B}`] },
  { filters: ['path~cats', 'brightness>=0.5'], sorts: [`-score:${MODEL_A}`] },
  { filters: ['status=any'], sorts: [`-score:${MODEL_A}`, `score:${MODEL_A}`] },
  { filters: ['status=missing'], sorts: [`-score:${MODEL_A}`] },
  { filters: ['score:never>0'], sorts: [`-score:${MODEL_A}`, 'score:never'] },
];

test('score filters and sorts page through exactly the brute-force order, NULLs last, ties by id', () => {
  const { db, rows } = buildLibrary(400);
  for (const c of CASES) {
    const filters = c.filters.map(parseFilter);
    for (const sortText of c.sorts) {
      const want = expectedOrder(rows, filters, sortText);
      for (const limit of [7, 1000]) {
        const got = pageThrough(db, filters, parseListSort(sortText), limit, MODEL_A);
        assert.deepEqual(got.ids, want, `${c.filters.join(' & ') || '(none)'} sorted ${sortText}, pages of ${limit}`);
        const byId = new Map(rows.map((r) => [r.id, r]));
        assert.deepEqual(got.scores, got.ids.map((id) => byId.get(id)!.a), 'each row carries the score of scoreModel');
      }
      assert.equal(countImages(db, filters), want.length);
    }
  }
});

test('neighbours are the previous and next image of the brute-force order, across the NULL boundary', () => {
  const { db, rows } = buildLibrary(400);
  for (const c of CASES) {
    const filters = c.filters.map(parseFilter);
    for (const sortText of c.sorts) {
      const order = expectedOrder(rows, filters, sortText);
      const sort = parseListSort(sortText);
      // Every position near the ends and around the NULL boundary, and a stride through the middle.
      const positions = new Set<number>([0, 1, order.length - 2, order.length - 1]);
      for (let i = 0; i < order.length; i += 13) positions.add(i);
      const field = 'model' in sort ? `score:${sort.model}` : sort.field;
      const firstNull = order.findIndex((id) => valueOf(rows[id - 1]!, field) === null);
      if (firstNull >= 0) [firstNull - 1, firstNull, firstNull + 1].forEach((p) => positions.add(p));
      for (const p of positions) {
        if (p < 0 || p >= order.length) continue;
        const got = neighbourIds(db, order[p]!, { filters, sort });
        assert.deepEqual(got, { previous: order[p - 1] ?? null, next: order[p + 1] ?? null }, `${c.filters.join(' & ')} ${sortText} at ${p}`);
      }
    }
  }
  assert.throws(() => neighbourIds(db, 999_999), /No image with id 999999/);
});

test('score: reads the finished run over a newer one in progress; unknown models are errors', () => {
  const { db } = buildLibrary(20);
  assert.equal(scoreRunOf(db, MODEL_A), 1);
  assert.equal(scoreRunOf(db, MODEL_B), 3);
  assert.equal(scoreRunOf(db, 'never'), null);
  assert.throws(() => scoreRunOf(db, 'nope'), /Unknown model "nope" in score:nope\. Models: m-a, m\.b v2, never/);
  assert.throws(() => queryImages(db, { filters: [parseFilter('score:nope>1')] }), /Unknown model "nope"/);
  // With only the running run left, its scores are shown as they arrive.
  db.prepare('DELETE FROM scores WHERE run_id = 1').run();
  db.prepare('DELETE FROM runs WHERE id = 1').run();
  assert.equal(scoreRunOf(db, MODEL_A), 2);
  assert.ok(queryImages(db, { filters: [parseFilter(`score:${MODEL_A}>=100`)] }).items.length > 0);
});

test('parsing score fields, filters and sorts', () => {
  assert.deepEqual(parseFilter('score:miru-vit-s>=3.5'), { kind: 'score', model: 'miru-vit-s', min: 3.5 });
  assert.deepEqual(parseFilter('score: m.b v2 = 1..2'), { kind: 'score', model: 'm.b v2', min: 1, max: 2 });
  assert.deepEqual(parseFilter('score:x<1'), { kind: 'score', model: 'x', max: 1, maxExclusive: true });
  assert.throws(() => parseFilter('score:x>=high'), /"high" is not a number/);
  assert.throws(() => parseFilter('score:x=3..1'), /range is empty/);
  assert.deepEqual(parseListSort('-score:miru-vit-s'), { field: 'score', model: 'miru-vit-s', descending: true });
  assert.deepEqual(parseListSort('brightness'), { field: 'brightness', descending: false });
  assert.deepEqual(parseFieldName('score:a b'), { kind: 'score', model: 'a b' });
  assert.deepEqual(parseFieldName('mean_rating'), { kind: 'numeric', field: 'ratingMean' });
  assert.throws(() => parseListSort('-loudness'), /Unknown field "loudness"/);
});

test('a cursor from another score sort is refused', () => {
  const { db } = buildLibrary(50);
  const page = queryImages(db, { sort: parseListSort(`-score:${MODEL_A}`), limit: 5 });
  assert.ok(page.next);
  assert.throws(() => queryImages(db, { sort: parseListSort(`-score:${MODEL_B}`), after: page.next }), /belongs to a listing sorted by -score:m-a/);
  assert.throws(() => queryImages(db, { sort: parseListSort(`score:${MODEL_A}`), after: page.next }), /belongs to a listing sorted by -score:m-a/);
});

test('histograms and counts of the column store equal brute-force counts, leaving out filters on their own field', () => {
  const { db, rows } = buildLibrary(400);
  const store = new ColumnStore(db);
  const filterSets = [[], ['tag=common'], [`score:${MODEL_A}>=3`, 'rater=bob'], ['status=any', 'path~CATS'], ['brightness<0.5', 'tag!=outlier'], ['status=missing'], ['score:never>1']];
  for (const texts of filterSets) {
    const filters = texts.map(parseFilter);
    assert.equal(store.count(filters), rows.filter((r) => matches(r, filters)).length, `count ${texts.join(' & ')}`);
    for (const field of ['brightness', 'ratingMean', `score:${MODEL_A}`, `score:${MODEL_B}`, 'score:never', 'id']) {
      for (const bins of [1, 7, 20]) {
        const h = store.histogram(parseFieldName(field), filters, bins);
        const others = filters.filter((f) => !((f.kind === 'range' && f.field === field) || (f.kind === 'score' && `score:${f.model}` === field)));
        const matching = rows.filter((r) => matches(r, others));
        const label = `${field} / ${bins} bins / ${texts.join(' & ') || '(none)'}`;
        assert.equal(h.missing, matching.filter((r) => valueOf(r, field) === null).length, `missing of ${label}`);
        // The range is over the status filter's images only, so the axis does not move with other filters.
        let status = 'ok';
        for (const f of filters) if (f.kind === 'status') status = f.status;
        const base = rows.filter((r) => (status === 'any' || r.status === status) && valueOf(r, field) !== null).map((r) => valueOf(r, field)!);
        if (base.length === 0) {
          assert.deepEqual([h.min, h.max, h.edges, h.counts.every((c) => c === 0)], [null, null, [], true], label);
          continue;
        }
        assert.deepEqual([h.min, h.max], [Math.min(...base), Math.max(...base)], `range of ${label}`);
        assert.equal(h.edges.length, bins + 1);
        const expected = h.counts.map((_, i) =>
          matching.filter((r) => {
            const v = valueOf(r, field);
            return v !== null && v >= h.edges[i]! && (i === bins - 1 ? v <= h.edges[bins]! : v < h.edges[i + 1]!);
          }).length,
        );
        assert.deepEqual(h.counts, expected, `counts of ${label}`);
      }
    }
  }
});

test('the column store follows invalidations: tags, scores and a re-read of the images', () => {
  const { db } = buildLibrary(100);
  const store = new ColumnStore(db);
  const tagged = store.count([parseFilter('tag=fresh')]);
  assert.equal(tagged, 0);
  db.prepare(`INSERT INTO tags (image_id, tag, created_at) VALUES (1, 'fresh', 'now'), (2, 'fresh', 'now')`).run();
  assert.equal(store.count([parseFilter('tag=fresh')]), 0, 'cached until told');
  store.invalidate('tags');
  assert.equal(store.count([parseFilter('tag=fresh')]), 2);
  const high = store.count([parseFilter(`score:${MODEL_A}>=100`)]);
  db.prepare('UPDATE scores SET score = 500 WHERE run_id = 1 AND image_id <= 10').run();
  store.invalidate('scores');
  const notCounted = db.prepare(`SELECT count(*) FROM images WHERE id <= 10 AND (status != 'ok' OR id NOT IN (SELECT image_id FROM scores WHERE run_id = 1))`).pluck().get() as number;
  assert.equal(store.count([parseFilter(`score:${MODEL_A}>=100`)]), high + 10 - notCounted);
  db.prepare(`UPDATE images SET brightness = 7 WHERE id = 3`).run();
  store.invalidate('images');
  assert.equal(store.count([parseFilter('brightness=7')]), 1);
  assert.throws(() => store.count([parseFilter('rater=zed')]), /Unknown rater "zed"/);
});

test('broad filters on a score-sorted listing (the index-walking plan) give the brute-force pages', () => {
  // Over 20,000 members a tag or score range is probed per row while the score index is walked, rather than
  // collected first: the other plan than the small fixture's.
  const { db, rows } = buildLibrary(24_000, { commonTag: 0.9 });
  const cases: [string[], string][] = [
    [['tag=common'], `-score:${MODEL_A}`],
    [[`score:${MODEL_A}>=1.5`, 'tag=common'], `-score:${MODEL_A}`],
    [[`score:${MODEL_B}>=0.1`], `score:${MODEL_A}`],
    [['brightness>=0.2'], `-score:${MODEL_B}`],
  ];
  for (const [texts, sortText] of cases) {
    const filters = texts.map(parseFilter);
    const want = expectedOrder(rows, filters, sortText);
    const sort = parseListSort(sortText);
    let after: string | null = null;
    const got: number[] = [];
    for (let p = 0; p < 3; p++) {
      const page = queryImages(db, { filters, sort, limit: 100, after });
      got.push(...page.items.map((i) => i.id));
      after = page.next;
    }
    assert.deepEqual(got, want.slice(0, 300), `${texts.join(' & ')} sorted ${sortText}`);
    assert.equal(new ColumnStore(db).count(filters), want.length);
  }
});
