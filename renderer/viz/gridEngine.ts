/**
 * The virtualized thumbnail grid, as a plain class outside React (the Excalidraw/FiftyOne lesson: the engine owns
 * its DOM, React only hosts it). Only the rows on screen (plus a small overscan) exist in the DOM; tiles are
 * recycled, absolutely positioned with transforms at a fixed row height, and updated by writing only what changed,
 * so scrolling a million-image listing causes no layout work beyond the tiles that enter the view.
 *
 * Heights past what a browser can scroll (~33M px in Chromium) are scaled: the scrollbar maps proportionally onto
 * the logical height, and wheel scrolling is applied by the engine itself so one notch still moves one notch.
 * Thumbnails are requested only for tiles on screen, and not at all while the view flies past (a fast scroll or a
 * scrollbar drag); they fill in as soon as it settles.
 */
import type { ImageSummary } from '../../core/api/apiTypes.js';

export interface GridSource {
  readonly count: number;
  readonly version: number;
  get(index: number): ImageSummary | undefined;
  /** Load rows [from, to) in the background, the `visible` ones (on screen) first. */
  ensure(from: number, to: number, visible?: [number, number]): void;
}

export interface GridEngineOptions {
  thumbUrl(hash: string): string;
  onOpen(index: number, item: ImageSummary): void;
  onSelectionChange(ids: ReadonlySet<number>): void;
  onFocusChange(index: number | null, item: ImageSummary | undefined): void;
  /** After each paint: how many tiles on screen still wait for their item or thumbnail. */
  onPainted?(info: { version: number; onScreen: number; waiting: number }): void;
}

interface Tile {
  el: HTMLDivElement;
  img: HTMLImageElement;
  label: HTMLDivElement;
  score: HTMLSpanElement;
  rating: HTMLSpanElement;
  tags: HTMLDivElement;
  index: number;
  /** What the tile shows now, to skip rewriting unchanged tiles. */
  key: string;
  transform: string;
  src: string;
  thumbDone: boolean;
}

const GAP = 8;
const OVERSCAN_ROWS = 2;
/** Above this the sizer is scaled (Chromium caps element heights near 33.5M px). */
const MAX_SCROLL_PX = 12_000_000;
/** Rows to keep loaded ahead of and behind the view. */
const PREFETCH_AHEAD_ROWS = 30;
const PREFETCH_BEHIND_ROWS = 10;

export class GridEngine {
  private scroller!: HTMLDivElement;
  private sizer!: HTMLDivElement;
  private readonly controller = new AbortController();
  private resizeObserver: ResizeObserver | null = null;
  private source: GridSource | null = null;
  private readonly tiles = new Map<number, Tile>();
  private readonly free: Tile[] = [];
  private tileSize = 180;
  private cols = 1;
  private cellW = 180;
  private rowH = 188;
  private width = 0;
  private height = 0;
  private logicalTop = 0;
  private scale = 1;
  private expectedScrollTop = -1;
  private frame = 0;
  private lastPaint = { time: 0, top: 0 };
  private flying = false;
  private settleTimer = 0;
  private selection = new Set<number>();
  private anchor: number | null = null;
  private focus: number | null = null;
  private paintedVersion = -1;

  constructor(private readonly options: GridEngineOptions) {}

  attach(container: HTMLElement): void {
    const signal = this.controller.signal;
    this.scroller = document.createElement('div');
    this.scroller.className = 'grid-scroller';
    this.scroller.tabIndex = 0;
    this.scroller.setAttribute('role', 'grid');
    this.scroller.setAttribute('aria-label', 'Images');
    this.sizer = document.createElement('div');
    this.sizer.className = 'grid-sizer';
    this.scroller.append(this.sizer);
    container.append(this.scroller);

    this.scroller.addEventListener('scroll', () => this.onScroll(), { signal, passive: true });
    this.scroller.addEventListener('wheel', (e) => this.onWheel(e), { signal, passive: false });
    this.scroller.addEventListener('click', (e) => this.onClick(e), { signal });
    this.scroller.addEventListener('dblclick', (e) => this.onDoubleClick(e), { signal });
    this.resizeObserver = new ResizeObserver(() => this.measure());
    this.resizeObserver.observe(this.scroller);
    this.measure();
  }

  dispose(): void {
    this.controller.abort();
    this.resizeObserver?.disconnect();
    cancelAnimationFrame(this.frame);
    clearTimeout(this.settleTimer);
    this.scroller?.remove();
    this.tiles.clear();
    this.free.length = 0;
  }

  get element(): HTMLElement {
    return this.scroller;
  }

  setSource(source: GridSource | null, options: { keepScroll?: boolean } = {}): void {
    this.source = source;
    if (!options.keepScroll) {
      this.logicalTop = 0;
      this.setScrollTop(0);
      this.focus = null;
      this.anchor = null;
      if (this.selection.size) {
        this.selection = new Set();
        this.options.onSelectionChange(this.selection);
      }
    }
    for (const tile of this.tiles.values()) tile.key = '';
    this.paintedVersion = -1;
    this.schedule();
  }

  /** The source's data changed (a page landed, tags patched): repaint what is on screen. */
  refresh(): void {
    this.schedule();
  }

  setTileSize(px: number): void {
    if (px === this.tileSize) return;
    // Keep the first visible item in place across the change.
    const firstIndex = Math.floor(this.logicalTop / this.rowH) * this.cols;
    this.tileSize = px;
    this.layout();
    this.scrollLogical(Math.floor(firstIndex / this.cols) * this.rowH);
  }

  getSelection(): ReadonlySet<number> {
    return this.selection;
  }

  setSelection(ids: Iterable<number>): void {
    this.selection = new Set(ids);
    this.options.onSelectionChange(this.selection);
    this.repaintMarks();
  }

  getFocus(): number | null {
    return this.focus;
  }

  /** Ids of the images whose tiles are fully or partly on screen. */
  visibleIds(): number[] {
    const ids: number[] = [];
    const [first, last] = this.visibleRange(0);
    for (let i = first; i < last; i++) {
      const item = this.source?.get(i);
      if (item) ids.push(item.id);
    }
    return ids;
  }

  focusIndex(index: number, options: { select?: 'replace' | 'extend' | 'none' } = {}): void {
    const count = this.source?.count ?? 0;
    if (count === 0) return;
    const i = Math.max(0, Math.min(count - 1, index));
    this.focus = i;
    const select = options.select ?? 'replace';
    const item = this.source?.get(i);
    if (select === 'replace' && item) {
      this.selection = new Set([item.id]);
      this.anchor = i;
      this.options.onSelectionChange(this.selection);
    } else if (select === 'extend') {
      this.selectRange(this.anchor ?? i, i, false);
    }
    this.scrollIntoView(i);
    this.options.onFocusChange(i, item);
    this.repaintMarks();
  }

  /** Keyboard navigation; returns true when the key was used. */
  handleKey(e: KeyboardEvent): boolean {
    const count = this.source?.count ?? 0;
    if (count === 0) return false;
    const rowsPerPage = Math.max(1, Math.floor(this.height / this.rowH));
    const at = this.focus ?? -1;
    const move = (to: number) => {
      this.focusIndex(at < 0 ? 0 : to, { select: e.shiftKey ? 'extend' : e.ctrlKey || e.metaKey ? 'none' : 'replace' });
      return true;
    };
    switch (e.key) {
      case 'ArrowRight':
        return move(at + 1);
      case 'ArrowLeft':
        return move(at - 1);
      case 'ArrowDown':
        return move(at + this.cols);
      case 'ArrowUp':
        return move(at - this.cols);
      case 'PageDown':
        return move(at + rowsPerPage * this.cols);
      case 'PageUp':
        return move(at - rowsPerPage * this.cols);
      case 'Home':
        return move(0);
      case 'End':
        return move(count - 1);
      case 'Enter': {
        const item = at >= 0 ? this.source?.get(at) : undefined;
        if (item) this.options.onOpen(at, item);
        return Boolean(item);
      }
      case ' ': {
        const item = at >= 0 ? this.source?.get(at) : undefined;
        if (!item) return false;
        this.toggle(item.id);
        return true;
      }
      case 'Escape':
        if (this.selection.size === 0) return false;
        this.setSelection([]);
        return true;
      default:
        return false;
    }
  }

  scrollToIndex(index: number): void {
    this.scrollIntoView(index);
  }

  // --- layout and painting -------------------------------------------------------------------------------------

  private measure(): void {
    const w = this.scroller.clientWidth;
    const h = this.scroller.clientHeight;
    if (w === this.width && h === this.height) return;
    const firstIndex = Math.floor(this.logicalTop / this.rowH) * this.cols;
    this.width = w;
    this.height = h;
    this.layout();
    if (firstIndex > 0) this.scrollLogical(Math.floor(firstIndex / this.cols) * this.rowH);
    else this.schedule();
  }

  private layout(): void {
    const inner = Math.max(0, this.width - GAP);
    this.cols = Math.max(1, Math.floor(inner / (this.tileSize + GAP)));
    this.cellW = Math.floor(inner / this.cols - GAP);
    this.rowH = this.cellW + GAP;
    this.scroller.style.setProperty('--tile-w', `${this.cellW}px`);
    // Read by tests and bench:ui (how many items a row holds).
    this.scroller.dataset.cols = String(this.cols);
    for (const tile of this.tiles.values()) tile.transform = '';
    this.schedule();
  }

  private logicalHeight(): number {
    const count = this.source?.count ?? 0;
    return Math.ceil(count / this.cols) * this.rowH + GAP;
  }

  private updateSizer(): void {
    const logical = this.logicalHeight();
    const virtual = Math.min(logical, MAX_SCROLL_PX);
    this.scale = logical > virtual && virtual > this.height ? (logical - this.height) / (virtual - this.height) : 1;
    const px = `${virtual}px`;
    if (this.sizer.style.height !== px) this.sizer.style.height = px;
    const maxTop = Math.max(0, logical - this.height);
    if (this.logicalTop > maxTop) this.logicalTop = maxTop;
  }

  private setScrollTop(top: number): void {
    this.scroller.scrollTop = top;
    this.expectedScrollTop = this.scroller.scrollTop;
  }

  private scrollLogical(top: number): void {
    this.updateSizer();
    const maxTop = Math.max(0, this.logicalHeight() - this.height);
    this.logicalTop = Math.max(0, Math.min(maxTop, top));
    this.setScrollTop(this.logicalTop / this.scale);
    this.paint();
  }

  private scrollIntoView(index: number): void {
    const row = Math.floor(index / this.cols);
    const top = row * this.rowH;
    if (top < this.logicalTop) this.scrollLogical(top);
    else if (top + this.rowH + GAP > this.logicalTop + this.height) this.scrollLogical(top + this.rowH + GAP - this.height);
  }

  private onScroll(): void {
    const top = this.scroller.scrollTop;
    if (Math.abs(top - this.expectedScrollTop) < 1) return;
    this.expectedScrollTop = -1;
    this.logicalTop = top * this.scale;
    this.schedule();
  }

  private onWheel(e: WheelEvent): void {
    // Native scrolling is exact while the sizer is unscaled; past that the engine scrolls so a notch stays a notch.
    if (this.scale === 1 || e.ctrlKey) return;
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? this.height : 1;
    this.scrollLogical(this.logicalTop + e.deltaY * unit);
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  private visibleRange(overscanRows: number): [number, number] {
    const count = this.source?.count ?? 0;
    const firstRow = Math.max(0, Math.floor(this.logicalTop / this.rowH) - overscanRows);
    const lastRow = Math.floor((this.logicalTop + this.height) / this.rowH) + overscanRows;
    return [Math.min(count, firstRow * this.cols), Math.min(count, (lastRow + 1) * this.cols)];
  }

  private paint(): void {
    if (!this.scroller || this.width === 0) return;
    this.updateSizer();
    const source = this.source;
    const count = source?.count ?? 0;
    const now = performance.now();
    // A view moving more than a screen per 100 ms is flying past: don't start thumbnail downloads for it.
    const speed = Math.abs(this.logicalTop - this.lastPaint.top) / Math.max(16, now - this.lastPaint.time);
    this.lastPaint = { time: now, top: this.logicalTop };
    if (speed > this.height / 100) {
      this.flying = true;
      clearTimeout(this.settleTimer);
      this.settleTimer = window.setTimeout(() => {
        this.flying = false;
        this.schedule();
      }, 120);
    }

    const [first, last] = this.visibleRange(OVERSCAN_ROWS);
    if (source && count > 0) {
      source.ensure(Math.max(0, first - PREFETCH_BEHIND_ROWS * this.cols), last + PREFETCH_AHEAD_ROWS * this.cols, this.visibleRange(0));
    }
    for (const [index, tile] of this.tiles) {
      if (index < first || index >= last) {
        this.tiles.delete(index);
        tile.el.hidden = true;
        tile.index = -1;
        tile.key = '';
        delete tile.el.dataset.index;
        delete tile.el.dataset.id;
        this.free.push(tile);
      }
    }
    const scrollTop = this.scroller.scrollTop;
    const [onFirst, onLast] = this.visibleRange(0);
    let waiting = 0;
    for (let i = first; i < last; i++) {
      let tile = this.tiles.get(i);
      if (!tile) {
        tile = this.free.pop() ?? this.createTile();
        tile.index = i;
        tile.key = '';
        tile.el.hidden = false;
        this.tiles.set(i, tile);
      }
      const row = Math.floor(i / this.cols);
      const col = i % this.cols;
      const x = GAP + col * (this.cellW + GAP);
      const y = GAP + row * this.rowH - this.logicalTop + scrollTop;
      const transform = `translate3d(${x}px, ${y}px, 0)`;
      if (tile.transform !== transform) {
        tile.el.style.transform = transform;
        tile.transform = transform;
      }
      const item = source?.get(i);
      this.bind(tile, i, item);
      if (i >= onFirst && i < onLast && (!item || !tile.thumbDone)) waiting++;
    }
    const version = source?.version ?? -1;
    this.options.onPainted?.({ version, onScreen: onLast - onFirst, waiting });
    this.paintedVersion = version;
  }

  private createTile(): Tile {
    const el = document.createElement('div');
    el.className = 'tile';
    el.setAttribute('role', 'gridcell');
    const img = document.createElement('img');
    img.className = 'tile-thumb';
    img.decoding = 'async';
    img.draggable = false;
    img.alt = '';
    const label = document.createElement('div');
    label.className = 'tile-label';
    const badges = document.createElement('div');
    badges.className = 'tile-badges';
    const score = document.createElement('span');
    score.className = 'badge badge-score';
    const rating = document.createElement('span');
    rating.className = 'badge badge-rating';
    badges.append(score, rating);
    const tags = document.createElement('div');
    tags.className = 'tile-tags';
    el.append(img, badges, tags, label);
    const tile: Tile = { el, img, label, score, rating, tags, index: -1, key: '', transform: '', src: '', thumbDone: false };
    img.addEventListener(
      'load',
      () => {
        tile.thumbDone = true;
        el.classList.add('thumb-loaded');
        this.schedulePaintedCheck();
      },
      { signal: this.controller.signal },
    );
    img.addEventListener(
      'error',
      () => {
        tile.thumbDone = true;
        el.classList.add('thumb-failed');
        this.schedulePaintedCheck();
      },
      { signal: this.controller.signal },
    );
    this.scroller.append(el);
    return tile;
  }

  private paintedCheck = 0;
  private schedulePaintedCheck(): void {
    if (this.paintedCheck) return;
    this.paintedCheck = requestAnimationFrame(() => {
      this.paintedCheck = 0;
      const [onFirst, onLast] = this.visibleRange(0);
      let waiting = 0;
      for (let i = onFirst; i < onLast; i++) {
        const tile = this.tiles.get(i);
        if (!tile || !this.source?.get(i) || !tile.thumbDone) waiting++;
      }
      this.options.onPainted?.({ version: this.paintedVersion, onScreen: onLast - onFirst, waiting });
    });
  }

  private bind(tile: Tile, index: number, item: ImageSummary | undefined): void {
    const selected = item ? this.selection.has(item.id) : false;
    const focused = this.focus === index;
    const key = item
      ? `${item.id}|${item.score ?? ''}|${item.ratingMean ?? ''}|${item.ratingCount}|${item.tags.join(',')}|${selected ? 1 : 0}|${focused ? 1 : 0}|${this.flying ? 1 : 0}|${this.cellW < 150 ? 's' : 'l'}`
      : `empty|${focused ? 1 : 0}`;
    if (tile.key === key) return;
    tile.key = key;
    const el = tile.el;
    el.dataset.index = String(index);
    el.classList.toggle('selected', selected);
    el.classList.toggle('focused', focused);
    el.classList.toggle('placeholder', !item);
    if (!item) {
      delete el.dataset.id;
      this.setSrc(tile, '');
      tile.label.textContent = '';
      tile.score.hidden = true;
      tile.rating.hidden = true;
      tile.tags.replaceChildren();
      return;
    }
    el.dataset.id = String(item.id);
    el.classList.toggle('errored', item.status !== 'ok');
    const wantSrc = item.hash && item.status === 'ok' ? this.options.thumbUrl(item.hash) : '';
    if (wantSrc !== tile.src && !(this.flying && wantSrc)) this.setSrc(tile, wantSrc);
    else if (this.flying && wantSrc !== tile.src) this.setSrc(tile, '');
    if (!wantSrc) tile.thumbDone = true;
    tile.label.textContent = item.status === 'ok' ? fileName(item.relPath) : `${item.status}: ${fileName(item.relPath)}`;
    tile.el.title = item.relPath;
    setBadge(tile.score, item.score === null ? null : item.score.toFixed(2));
    // Small tiles get the short form: the mean only.
    const rating = item.ratingCount > 0 && item.ratingMean !== null ? (this.cellW < 150 ? `★${item.ratingMean.toFixed(1)}` : `★ ${item.ratingMean.toFixed(1)} · ${item.ratingCount}`) : null;
    setBadge(tile.rating, rating);
    const tags = item.tags;
    const shown = tags.slice(0, 3).map((t) => {
      const chip = document.createElement('span');
      chip.className = 'chip';
      chip.textContent = t;
      return chip;
    });
    if (tags.length > 3) {
      const more = document.createElement('span');
      more.className = 'chip chip-more';
      more.textContent = `+${tags.length - 3}`;
      shown.push(more);
    }
    tile.tags.replaceChildren(...shown);
  }

  private setSrc(tile: Tile, src: string): void {
    if (tile.src === src) return;
    tile.src = src;
    tile.thumbDone = false;
    tile.el.classList.remove('thumb-loaded', 'thumb-failed');
    if (src) tile.img.src = src;
    else tile.img.removeAttribute('src');
  }

  /** Selection or focus changed: rebind tiles on screen (only their classes change). */
  private repaintMarks(): void {
    for (const tile of this.tiles.values()) tile.key = '';
    this.schedule();
  }

  // --- selection ----------------------------------------------------------------------------------------------

  private tileIndexFromEvent(e: MouseEvent): number | null {
    const el = (e.target as HTMLElement).closest<HTMLElement>('.tile');
    if (!el || el.dataset.index === undefined) return null;
    return Number(el.dataset.index);
  }

  private onClick(e: MouseEvent): void {
    this.scroller.focus({ preventScroll: true });
    const index = this.tileIndexFromEvent(e);
    if (index === null) {
      if (!e.shiftKey && !e.ctrlKey && !e.metaKey && this.selection.size) this.setSelection([]);
      return;
    }
    const item = this.source?.get(index);
    if (!item) return;
    if (e.shiftKey && this.anchor !== null) this.selectRange(this.anchor, index, e.ctrlKey || e.metaKey);
    else if (e.ctrlKey || e.metaKey) {
      this.toggle(item.id);
      this.anchor = index;
    } else {
      this.selection = new Set([item.id]);
      this.anchor = index;
      this.options.onSelectionChange(this.selection);
    }
    this.focus = index;
    this.options.onFocusChange(index, item);
    this.repaintMarks();
  }

  private onDoubleClick(e: MouseEvent): void {
    const index = this.tileIndexFromEvent(e);
    if (index === null) return;
    const item = this.source?.get(index);
    if (item) this.options.onOpen(index, item);
  }

  private toggle(id: number): void {
    const next = new Set(this.selection);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    this.selection = next;
    this.options.onSelectionChange(this.selection);
    this.repaintMarks();
  }

  private selectRange(from: number, to: number, add: boolean): void {
    const next = add ? new Set(this.selection) : new Set<number>();
    const [a, b] = from <= to ? [from, to] : [to, from];
    for (let i = a; i <= b; i++) {
      const item = this.source?.get(i);
      if (item) next.add(item.id);
    }
    this.selection = next;
    this.options.onSelectionChange(this.selection);
    this.repaintMarks();
  }
}

function fileName(relPath: string): string {
  const slash = relPath.lastIndexOf('/');
  return slash >= 0 ? relPath.slice(slash + 1) : relPath;
}

function setBadge(el: HTMLElement, text: string | null): void {
  if (text === null) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  if (el.textContent !== text) el.textContent = text;
}
