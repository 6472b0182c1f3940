/**
 * Seeking a listing to a rank (issue 5): the grid's scrollbar dragged to row 500,000 of a million-image library.
 * Keyset paging (queryImages.ts) reaches a row only through the cursor of the row before it, and walking the
 * pages in between costs one query per page (~7 s to the middle of 1M rows). The column store already holds
 * every image's filter mask and sort value in memory, so the row at rank r of "these filters, this sort" is a
 * selection problem: one linear pass to gather the matching values, then quickselect (expected linear) for the
 * r-th (value, id) pair. Its cursor then starts an ordinary keyset page, so a seek returns exactly the rows
 * walking would have.
 *
 * The order is queryImages' own: rows with a sort value by (value, id), then rows without one (NULL column, no
 * score) by id; a descending sort reverses both keys and both segments, and the NULL segment still comes last.
 */
import type { ColumnStore } from './histogram.js';
import { isScoreSort, type FieldRef, type ImageFilter, type ListSort } from './queryImages.js';

/** What a seek selects from, position-aligned (position i is image ids[i]; ids ascend). */
export interface RankColumns {
  ids: Float64Array;
  /** 1 where the image matches the listing's filters. */
  mask: Uint8Array;
  /** The sort field's value per position; NaN stands for NULL (no value, or no score in the run). */
  values: Float64Array;
}

/** The row at a rank: its id and sort value (null in the NULL segment), which is exactly what a keyset cursor holds. */
export interface RankedRow {
  id: number;
  value: number | null;
}

/** The field a sort reads, as the column store names it. */
export function sortFieldRef(sort: ListSort): FieldRef {
  return isScoreSort(sort) ? { kind: 'score', model: sort.model } : { kind: 'numeric', field: sort.field };
}

/**
 * The row at 0-based `rank` of the listing the filters and sort describe, or null when the listing has at most
 * `rank` rows. Unknown raters and models are errors, as in a listing.
 */
export function rowAtRank(store: ColumnStore, sort: ListSort, filters: ImageFilter[], rank: number): RankedRow | null {
  if (!Number.isSafeInteger(rank) || rank < 0) throw new Error(`A rank is a whole number from 0 (got ${rank}).`);
  const field = sortFieldRef(sort);
  const byId = field.kind === 'numeric' && field.field === 'id';
  return selectRank(store.rankColumns(field, filters), sort.descending, byId, rank);
}

/** rowAtRank on columns already in hand (exported for tests). `byId`: the values are the ids themselves. */
export function selectRank(columns: RankColumns, descending: boolean, byId: boolean, rank: number): RankedRow | null {
  const { ids, mask, values } = columns;
  const n = mask.length;
  if (byId) {
    // Position order is id order: the rank-th set bit, counted from the end for a descending sort.
    const p = nthMatch(mask, n, descending, rank, () => true);
    return p < 0 ? null : { id: ids[p]!, value: ids[p]! };
  }
  let valued = 0;
  let unvalued = 0;
  for (let i = 0; i < n; i++) {
    if (!mask[i]) continue;
    if (values[i] !== values[i]) unvalued++;
    else valued++;
  }
  if (rank >= valued + unvalued) return null;
  if (rank >= valued) {
    const p = nthMatch(mask, n, descending, rank - valued, (i) => values[i] !== values[i]);
    return { id: ids[p]!, value: null };
  }
  // Gather the matching values with their positions (positions ascend, so a position breaks ties as the id does).
  const keys = new Float64Array(valued);
  const positions = new Uint32Array(valued);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (mask[i] && v === v) {
      keys[m] = v;
      positions[m++] = i;
    }
  }
  // A descending order is the exact reverse of the ascending one (both keys flip).
  const p = selectKth(keys, positions, descending ? valued - 1 - rank : rank);
  return { id: ids[p]!, value: values[p]! };
}

/** The position of the k-th (0-based) masked position passing `keep`, from the start or from the end; -1 if none. */
function nthMatch(mask: Uint8Array, n: number, fromEnd: boolean, k: number, keep: (i: number) => boolean): number {
  let seen = 0;
  if (fromEnd) {
    for (let i = n - 1; i >= 0; i--) if (mask[i] && keep(i) && seen++ === k) return i;
  } else {
    for (let i = 0; i < n; i++) if (mask[i] && keep(i) && seen++ === k) return i;
  }
  return -1;
}

/**
 * Quickselect on (key, position) pairs, which are all distinct: rearranges the arrays so that index k holds the
 * k-th smallest pair and returns its position. Pivots are the median of three pseudo-random picks (a fixed seed,
 * so a seek is reproducible), which keeps sorted, reversed and tie-heavy columns, the common cases here, linear.
 */
export function selectKth(keys: Float64Array, positions: Uint32Array, k: number): number {
  if (k < 0 || k >= keys.length) throw new RangeError(`selectKth: k=${k} outside 0..${keys.length - 1}`);
  let lo = 0;
  let hi = keys.length - 1;
  let seed = 0x9e3779b9;
  const pick = (span: number) => {
    // xorshift32: cheap and good enough to make a bad pivot sequence vanishingly unlikely.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % span;
  };
  const less = (a: number, b: number) => keys[a]! < keys[b]! || (keys[a] === keys[b] && positions[a]! < positions[b]!);
  const swap = (a: number, b: number) => {
    const kv = keys[a]!;
    keys[a] = keys[b]!;
    keys[b] = kv;
    const pv = positions[a]!;
    positions[a] = positions[b]!;
    positions[b] = pv;
  };
  while (hi > lo) {
    if (hi - lo < 24) {
      // Short ranges: insertion sort is faster than more partitioning.
      for (let i = lo + 1; i <= hi; i++) for (let j = i; j > lo && less(j, j - 1); j--) swap(j, j - 1);
      break;
    }
    const span = hi - lo + 1;
    let a = lo + pick(span);
    let b = lo + pick(span);
    let c = lo + pick(span);
    if (less(b, a)) [a, b] = [b, a];
    if (less(c, b)) [b, c] = [c, b];
    if (less(b, a)) [a, b] = [b, a];
    const pivotKey = keys[b]!;
    const pivotPos = positions[b]!;
    const below = (i: number) => keys[i]! < pivotKey || (keys[i] === pivotKey && positions[i]! < pivotPos);
    const above = (i: number) => keys[i]! > pivotKey || (keys[i] === pivotKey && positions[i]! > pivotPos);
    // Hoare partition around the pivot pair (it is in the range, so both scans stop).
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (below(i)) i++;
      while (above(j)) j--;
      if (i <= j) {
        swap(i, j);
        i++;
        j--;
      }
    }
    // Now lo..j hold pairs <= pivot and i..hi pairs >= pivot; an index between them holds the pivot itself.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return positions[k]!;
}
