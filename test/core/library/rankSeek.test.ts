import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ColumnStore } from '../../../core/library/histogram.js';
import { cursorAfterRow, parseFilter, parseListSort, queryImages, type ImageFilter, type ListSort } from '../../../core/library/queryImages.js';
import { rowAtRank, selectKth, selectRank, type RankColumns } from '../../../core/library/rankSeek.js';
import { LISTING_MODELS, listingLibrary } from '../../helpers/listingLibrary.js';

function lcg(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
}

test('selectKth finds the k-th smallest (key, position) pair on random, tied, sorted and reversed keys', () => {
  const rand = lcg(3);
  const shapes: [string, (i: number, n: number) => number][] = [
    ['random', () => rand()],
    ['few distinct values', () => Math.floor(rand() * 3)],
    ['all equal', () => 1],
    ['ascending', (i) => i],
    ['descending', (i, n) => n - i],
    ['organ pipe', (i, n) => Math.min(i, n - i)],
  ];
  for (const [name, make] of shapes) {
    for (const n of [1, 2, 23, 24, 25, 500]) {
      const keys = Float64Array.from({ length: n }, (_, i) => make(i, n));
      const expected = Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
      for (const k of new Set([0, 1, Math.floor(n / 2), n - 2, n - 1].filter((x) => x >= 0 && x < n))) {
        const got = selectKth(Float64Array.from(keys), Uint32Array.from({ length: n }, (_, i) => i), k);
        assert.equal(got, expected[k], `${name}, n=${n}, k=${k}`);
      }
    }
  }
  assert.throws(() => selectKth(new Float64Array(3), new Uint32Array(3), 3), /k=3 outside 0\.\.2/);
});

test('selectRank orders valued rows by (value, id), then rows without a value by id, both reversed for descending', () => {
  const rand = lcg(9);
  const n = 400;
  const ids = Float64Array.from({ length: n }, (_, i) => 10 + i * 2);
  const values = Float64Array.from({ length: n }, () => (rand() < 0.2 ? NaN : Math.floor(rand() * 5)));
  const mask = Uint8Array.from({ length: n }, () => (rand() < 0.7 ? 1 : 0));
  const columns: RankColumns = { ids, mask, values };
  const matching = [...Array(n).keys()].filter((i) => mask[i]);
  const valued = matching.filter((i) => !Number.isNaN(values[i]!));
  const unvalued = matching.filter((i) => Number.isNaN(values[i]!));
  const ascending = [...valued.sort((a, b) => values[a]! - values[b]! || a - b), ...unvalued];
  const descending = [...[...valued].reverse(), ...[...unvalued].reverse()];
  for (const [order, desc] of [
    [ascending, false],
    [descending, true],
  ] as const) {
    for (let rank = 0; rank < order.length; rank++) {
      const p = order[rank]!;
      assert.deepEqual(selectRank(columns, desc, false, rank), { id: ids[p], value: Number.isNaN(values[p]!) ? null : values[p] }, `rank ${rank}${desc ? ' desc' : ''}`);
    }
    assert.equal(selectRank(columns, desc, false, order.length), null, 'past the end');
  }
  // By id: the values are the ids.
  assert.deepEqual(selectRank({ ids, mask, values: ids }, false, true, 3), { id: ids[matching[3]!], value: ids[matching[3]!] });
  assert.deepEqual(selectRank({ ids, mask, values: ids }, true, true, 0), { id: ids[matching[matching.length - 1]!], value: ids[matching[matching.length - 1]!] });
  assert.equal(selectRank({ ids, mask, values: ids }, true, true, matching.length), null);
});

/** Every row id of a listing, walked page by page with keyset cursors. */
function walk(db: Parameters<typeof queryImages>[0], filters: ImageFilter[], sort: ListSort, limit: number): number[] {
  const ids: number[] = [];
  let after: string | null = null;
  do {
    const page = queryImages(db, { filters, sort, limit, after });
    ids.push(...page.items.map((i) => i.id));
    after = page.next;
  } while (after);
  return ids;
}

test('a seek to rank r through the column store returns the rows walking r rows reaches, for many filters and sorts', () => {
  const { db } = listingLibrary(700);
  const store = new ColumnStore(db);
  const { scored, partial, never } = LISTING_MODELS;
  const filterSets = [
    [],
    ['tag=common'],
    ['tag!=common', 'brightness>=0.3'],
    ['tag=rare'],
    ['rater=bob'],
    ['path~cats'],
    ['status=any'],
    ['status=error'],
    [`score:${scored}>=2.5`],
    [`score:${scored}=2..4`, 'tag=common'],
    [`score:${partial}<0.5`],
    ['ratingMean>=3', 'ratingMean<4.5'],
  ];
  const sorts = ['id', '-id', 'brightness', '-brightness', 'ratingMean', '-ratingMean', 'ratingCount', '-bytes', `score:${scored}`, `-score:${scored}`, `-score:${partial}`, `score:${never}`];
  const limit = 9;
  let checked = 0;
  for (const texts of filterSets) {
    const filters = texts.map(parseFilter);
    for (const sortText of sorts) {
      const sort = parseListSort(sortText);
      const all = walk(db, filters, sort, 50);
      const what = `filters ${JSON.stringify(texts)}, sort ${sortText}`;
      // The first rows, the middle, both ends, and a spread in between (covering the NULL segment's start).
      const ranks = new Set([1, 2, Math.floor(all.length / 2), all.length - 1, all.length, all.length + 5]);
      for (let r = 7; r < all.length; r += 61) ranks.add(r);
      for (const rank of ranks) {
        const before = rowAtRank(store, sort, filters, rank - 1);
        if (rank > all.length) {
          assert.equal(before, null, `${what}: rank ${rank} is past the end`);
          continue;
        }
        assert.equal(before?.id, all[rank - 1], `${what}: the row before rank ${rank}`);
        const page = queryImages(db, { filters, sort, limit, after: cursorAfterRow(sort, before!) });
        assert.deepEqual(page.items.map((i) => i.id), all.slice(rank, rank + limit), `${what}: page at rank ${rank}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 800, `only ${checked} seeks checked`);
  assert.equal(rowAtRank(store, parseListSort('id'), [], 0)?.id, walk(db, [], parseListSort('id'), 100)[0]);
  assert.throws(() => rowAtRank(store, parseListSort('id'), [], -1), /whole number from 0/);
  assert.throws(() => rowAtRank(store, parseListSort('id'), [parseFilter('rater=zed')], 0), /Unknown rater "zed"/);
  db.close();
});
