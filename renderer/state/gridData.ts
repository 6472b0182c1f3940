/**
 * The grid's view of one listing (filters + sort + badge model), loaded by keyset paging through listImages.
 *
 * Items live in fixed blocks of BLOCK rows; block k is fetched with the `next` cursor that ended block k-1, so a
 * block can be (re)fetched with one request once its predecessor has been seen. Memory stays bounded on a
 * million-image library: at most MAX_BLOCKS blocks are kept, the ones farthest from the view are dropped (their
 * cursors are kept, so coming back costs one request). A block more than WALK_BLOCKS past the last known cursor
 * (the scrollbar dragged far ahead) is fetched by its rank instead (listImages `offset`: the server's column
 * store finds the row there and pages from its cursor, the same rows walking would reach); placeholders show
 * meanwhile. Blocks on screen are fetched before the prefetch margins around them.
 * Block 0 is fetched in two steps, a screenful first, so the first grid appears as soon as possible.
 */
import type { FilterExpression, ImageSummary } from '../../core/api/apiTypes.js';
import type { MiruClient } from '../api/client.js';

export const BLOCK = 1000;
const FIRST_STEP = 120;
const MAX_BLOCKS = 40;
/** Walk at most this many blocks to reach a wanted one; farther, jump to its rank (one request, whatever the distance). */
const WALK_BLOCKS = 2;

interface Block {
  items: ImageSummary[];
  /** Cursor after the last item fetched so far; null once the listing ended inside this block. */
  next: string | null;
  complete: boolean;
}

export interface ListingSpec {
  filters: FilterExpression[];
  sort: string | null;
  scoreModel: string | null;
}

export class GridData {
  private readonly blocks = new Map<number, Block>();
  /** cursors[k]: the `after` for block k (block 0: null). undefined until block k-1 completed. */
  private readonly cursors: (string | null | undefined)[] = [null];
  private readonly abort = new AbortController();
  private wanted: [number, number] = [0, 0];
  /** The rows on screen (within `wanted`): fetched first. */
  private visible: [number, number] = [0, 0];
  private pumping = false;
  private total: number | null = null;
  /** Known end of the listing (when a page came back without a cursor). */
  private endIndex: number | null = null;
  private disposed = false;
  /** Bumped on every change of loaded items, so the engine knows what to repaint. */
  version = 0;
  error: string | null = null;
  onChange: (() => void) | null = null;
  onError: ((message: string) => void) | null = null;

  constructor(
    private readonly client: MiruClient,
    readonly spec: ListingSpec,
    /** Items kept from a previous instance of the same listing (a refresh): shown until replaced. */
    private stale: GridData | null = null,
  ) {
    // Only one generation back: a chain of refreshes must not keep every older copy alive.
    if (stale) stale.stale = null;
    void this.loadCount();
  }

  get count(): number {
    if (this.endIndex !== null) return this.endIndex;
    if (this.total !== null) return this.total;
    return this.stale?.count ?? this.loadedPrefix();
  }

  get countKnown(): boolean {
    return this.total !== null || this.endIndex !== null;
  }

  get(index: number): ImageSummary | undefined {
    const block = this.blocks.get(Math.floor(index / BLOCK));
    const item = block?.items[index % BLOCK];
    if (item) return item;
    return this.stale?.get(index);
  }

  /** Whether the item at index is fresh (not a placeholder kept from before a refresh). */
  isFresh(index: number): boolean {
    return this.blocks.get(Math.floor(index / BLOCK))?.items[index % BLOCK] !== undefined;
  }

  /**
   * Asks for rows [from, to) (item indices), those in `visible` first; loading happens in the background,
   * onChange fires as data lands.
   */
  ensure(from: number, to: number, visible: [number, number] = [from, to]): void {
    if (this.disposed) return;
    this.wanted = [Math.max(0, from), Math.max(from, to)];
    this.visible = [Math.max(0, visible[0]), Math.max(visible[0], visible[1])];
    void this.pump();
  }

  /** Every loaded item, with its index (for tag patches and range selection). */
  *loaded(): Iterable<[number, ImageSummary]> {
    for (const [k, block] of this.blocks) for (let i = 0; i < block.items.length; i++) yield [k * BLOCK + i, block.items[i]!];
  }

  indexOfId(id: number): number | null {
    for (const [index, item] of this.loaded()) if (item.id === id) return index;
    return null;
  }

  /** Applies a tag change to loaded items in place (the server already has it). */
  patchTags(ids: readonly number[], tag: string, add: boolean): void {
    const set = new Set(ids);
    for (const [, item] of this.loaded()) {
      if (!set.has(item.id)) continue;
      const has = item.tags.includes(tag);
      if (add && !has) item.tags = [...item.tags, tag].sort();
      if (!add && has) item.tags = item.tags.filter((t) => t !== tag);
    }
    this.version++;
    this.onChange?.();
  }

  dispose(): void {
    this.disposed = true;
    this.abort.abort();
    this.onChange = null;
    this.onError = null;
  }

  private loadedPrefix(): number {
    let n = 0;
    for (let k = 0; ; k++) {
      const block = this.blocks.get(k);
      if (!block) return n;
      n += block.items.length;
      if (!block.complete) return n;
    }
  }

  private async loadCount(): Promise<void> {
    try {
      const { count } = await this.client.call('countImages', { filters: this.spec.filters }, this.abort.signal);
      if (this.disposed) return;
      this.total = count;
      this.version++;
      this.onChange?.();
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.disposed || (error as Error).name === 'AbortError') return;
    this.error = (error as Error).message;
    this.onError?.(this.error);
    this.onChange?.();
  }

  /** One request at a time (the server answers in order anyway): fetch what the view needs, nearest first. */
  private async pump(): Promise<void> {
    if (this.pumping || this.disposed || this.error) return;
    this.pumping = true;
    try {
      for (;;) {
        const target = this.nextBlockToFetch(this.visible) ?? this.nextBlockToFetch(this.wanted);
        if (target === null || this.disposed) break;
        await this.fetchBlock(target.block, target.jump);
        this.evict();
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.pumping = false;
    }
  }

  /** The first block of rows [from, to) still to load, and whether to reach it by its rank; null when all are in. */
  private nextBlockToFetch([from, to]: [number, number]): { block: number; jump: boolean } | null {
    const last = this.endIndex !== null ? Math.min(to, this.endIndex) : to;
    const kFrom = Math.floor(from / BLOCK);
    const kTo = Math.floor(Math.max(from, last - 1) / BLOCK);
    for (let k = kFrom; k <= kTo; k++) {
      const block = this.blocks.get(k);
      if (block?.complete) continue;
      if (this.endIndex !== null && k * BLOCK >= this.endIndex) return null;
      if (block || this.cursors[k] !== undefined) return { block: k, jump: false };
      // Walk forward from the nearest block whose cursor we know, unless that is far behind.
      let j = k - 1;
      while (j > 0 && this.cursors[j] === undefined) j--;
      return k - j > WALK_BLOCKS ? { block: k, jump: true } : { block: j, jump: false };
    }
    return null;
  }

  /** Loads (the rest of) block k: from its cursor, from where it stopped, or, for a jump, from its first row's rank. */
  private async fetchBlock(k: number, jump: boolean): Promise<void> {
    let block = this.blocks.get(k);
    if (!block) {
      block = { items: [], next: this.cursors[k] ?? null, complete: false };
      if (k > 0 && this.cursors[k] === undefined && !jump) throw new Error(`internal: no cursor for block ${k}`);
    }
    const remaining = BLOCK - block.items.length;
    const limit = k === 0 && block.items.length === 0 ? FIRST_STEP : remaining;
    const start = block.items.length === 0 ? (this.cursors[k] ?? null) : block.next;
    const position = start === null && k > 0 ? { offset: k * BLOCK } : { after: start };
    const page = await this.client.call(
      'listImages',
      { filters: this.spec.filters, sort: this.spec.sort ?? undefined, limit, ...position, scoreModel: this.spec.scoreModel },
      this.abort.signal,
    );
    if (this.disposed) return;
    block.items = block.items.concat(page.items);
    block.next = page.next;
    if (page.next === null) {
      block.complete = true;
      this.endIndex = k * BLOCK + block.items.length;
    } else if (block.items.length >= BLOCK) {
      block.complete = true;
      this.cursors[k + 1] = page.next;
    }
    this.blocks.set(k, block);
    this.version++;
    this.onChange?.();
  }

  private evict(): void {
    if (this.blocks.size <= MAX_BLOCKS) return;
    const center = Math.floor((this.wanted[0] + this.wanted[1]) / 2 / BLOCK);
    const byDistance = [...this.blocks.keys()].sort((a, b) => Math.abs(b - center) - Math.abs(a - center));
    for (const k of byDistance.slice(0, this.blocks.size - MAX_BLOCKS)) this.blocks.delete(k);
  }
}
