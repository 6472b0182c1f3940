/**
 * Counts, histograms and rank seeks for the API, off the host's main thread: a worker thread holds the column store
 * (core/library/histogram.ts) over its own read-only connection. Requests are answered in order; the host says
 * what its own writes changed (invalidate), and writes by other processes are noticed through the main
 * connection's `PRAGMA data_version`, which changes exactly when another connection commits. Where a worker
 * cannot start, the same store runs on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import type { LibraryDb } from '../library/openLibrary.js';
import { ColumnStore, type HistogramData, type StoreInvalidation } from '../library/histogram.js';
import type { FieldRef, ImageFilter, ListSort } from '../library/queryImages.js';
import { rowAtRank, type RankedRow } from '../library/rankSeek.js';

export type EngineRequest =
  | { op: 'histogram'; id: number; field: FieldRef; filters: ImageFilter[]; bins: number }
  | { op: 'count'; id: number; filters: ImageFilter[] }
  | { op: 'seek'; id: number; sort: ListSort; filters: ImageFilter[]; rank: number }
  | { op: 'warm'; id: number }
  | { op: 'invalidate'; what: StoreInvalidation }
  | { op: 'close' };

export type EngineReply = { id: number; result: unknown; error?: undefined } | { id: number; error: string };

export interface QueryEngineOptions {
  /** Run the store in a worker thread (default true); false runs it on the calling thread. */
  worker?: boolean;
  nativeBinding?: string;
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

export class QueryEngine {
  private worker: Worker | null = null;
  private local: ColumnStore | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dataVersion: number;
  private closed = false;
  private warmed = false;
  private warming = false;
  /** Set by an invalidation during a load. */
  private stale = false;

  constructor(
    private readonly db: LibraryDb,
    dbPath: string,
    options: QueryEngineOptions = {},
  ) {
    this.dataVersion = this.readDataVersion();
    if (options.worker === false) return;
    try {
      const worker = new Worker(new URL('./queryWorker.js', import.meta.url), { workerData: { dbPath, nativeBinding: options.nativeBinding } });
      worker.on('message', (reply: EngineReply) => this.onReply(reply));
      worker.on('error', (error) => this.onWorkerLost(`the query worker failed: ${error.message}`));
      worker.on('exit', (code) => this.onWorkerLost(`the query worker exited (code ${code})`));
      worker.unref();
      this.worker = worker;
    } catch {
      this.worker = null;
    }
  }

  /** Starts loading the columns in the background (the worker's first request otherwise pays for it). */
  warm(): void {
    if (!this.worker || this.warming || this.closed) return;
    this.warming = true;
    const done = (loaded: boolean) => {
      this.warming = false;
      // An invalidation that arrived meanwhile queued behind this load in the worker: load again.
      if (loaded && !this.stale) this.warmed = true;
      else if (loaded) {
        this.stale = false;
        this.warm();
      }
    };
    void this.request({ op: 'warm', id: 0 }).then(
      () => done(true),
      () => done(false),
    );
  }

  /**
   * Whether the columns are loaded, so answers come in milliseconds. Until then (about 2 s per million images
   * after opening) a caller may prefer a single SQL query for a count.
   */
  get ready(): boolean {
    return this.warmed || !this.worker;
  }

  histogram(field: FieldRef, filters: ImageFilter[], bins: number): Promise<HistogramData> {
    return this.request({ op: 'histogram', id: 0, field, filters, bins }) as Promise<HistogramData>;
  }

  count(filters: ImageFilter[]): Promise<number> {
    return this.request({ op: 'count', id: 0, filters }) as Promise<number>;
  }

  /**
   * The row at 0-based `rank` of the listing (filters + sort), or null past its end: its id and sort value make
   * the keyset cursor a page at that rank starts from (rankSeek.ts), so the grid can jump instead of walking.
   */
  rowAtRank(filters: ImageFilter[], sort: ListSort, rank: number): Promise<RankedRow | null> {
    return this.request({ op: 'seek', id: 0, sort, filters, rank }) as Promise<RankedRow | null>;
  }

  /** What this process's own writes changed. */
  invalidate(what: StoreInvalidation): void {
    this.local?.invalidate(what);
    this.worker?.postMessage({ op: 'invalidate', what } satisfies EngineRequest);
    if (what === 'all' || what === 'images' || what === 'ratings') {
      // The image columns are reloaded in the background; counts meanwhile come from SQL (see `ready`).
      this.warmed = false;
      if (this.warming) this.stale = true;
      else this.warm();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new Error('the library was closed'));
    this.pending.clear();
    if (worker) {
      worker.removeAllListeners('exit');
      await worker.terminate();
    }
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private request(request: Exclude<EngineRequest, { op: 'invalidate' | 'close' }>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the library was closed'));
    const version = this.readDataVersion();
    if (version !== this.dataVersion) {
      this.dataVersion = version;
      this.invalidate('all');
    }
    if (!this.worker) return this.runLocally(request);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.ref(); // a pending answer keeps the process alive; an idle worker does not
      this.worker!.postMessage({ ...request, id });
    });
  }

  private runLocally(request: Exclude<EngineRequest, { op: 'invalidate' | 'close' }>): Promise<unknown> {
    this.local ??= new ColumnStore(this.db);
    try {
      if (request.op === 'warm') return Promise.resolve(this.local.warm());
      if (request.op === 'count') return Promise.resolve(this.local.count(request.filters));
      if (request.op === 'seek') return Promise.resolve(rowAtRank(this.local, request.sort, request.filters, request.rank));
      return Promise.resolve(this.local.histogram(request.field, request.filters, request.bins));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  private onReply(reply: EngineReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (reply.error !== undefined) pending.reject(new Error(reply.error));
    else pending.resolve(reply.result);
  }

  /** A lost worker's requests fail with the reason; later ones run on this thread. */
  private onWorkerLost(reason: string): void {
    if (!this.worker) return;
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new Error(`${reason}; try again`));
    this.pending.clear();
  }
}
