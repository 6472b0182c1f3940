/**
 * Histogram requests, one at a time and latest-wins per field. Every histogram scans the filtered images, and the
 * server answers on one thread, so they are queued behind the grid's own requests (the sidebar starts them only
 * once the grid has painted) and a field's pending request is dropped when a newer one for it arrives.
 */
import type { FilterExpression, HistogramResult } from '../../core/api/apiTypes.js';
import type { MiruClient } from '../api/client.js';

interface Pending {
  key: string;
  field: string;
  filters: FilterExpression[];
  resolve(result: HistogramResult | null): void;
  reject(error: unknown): void;
}

export const HISTOGRAM_BINS = 32;

export class HistogramQueue {
  private readonly cache = new Map<string, HistogramResult>();
  private readonly pending = new Map<string, Pending>();
  private running = false;
  private generation = 0;

  constructor(private readonly client: MiruClient) {}

  static key(field: string, filters: FilterExpression[]): string {
    return JSON.stringify([field, filters]);
  }

  cached(field: string, filters: FilterExpression[]): HistogramResult | undefined {
    return this.cache.get(HistogramQueue.key(field, filters));
  }

  /** Resolves with the histogram, or null when a newer request for the same field replaced this one. */
  request(field: string, filters: FilterExpression[]): Promise<HistogramResult | null> {
    const key = HistogramQueue.key(field, filters);
    const hit = this.cache.get(key);
    if (hit) return Promise.resolve(hit);
    const previous = this.pending.get(field);
    if (previous) {
      if (previous.key === key) {
        return new Promise((resolve, reject) => {
          const { resolve: r0, reject: j0 } = previous;
          previous.resolve = (v) => (r0(v), resolve(v));
          previous.reject = (e) => (j0(e), reject(e));
        });
      }
      previous.resolve(null);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(field, { key, field, filters, resolve, reject });
      void this.run();
    });
  }

  /** The library changed: forget every cached histogram. */
  invalidate(): void {
    this.cache.clear();
    this.generation++;
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const next = this.pending.values().next();
        if (next.done) break;
        const job = next.value;
        this.pending.delete(job.field);
        const generation = this.generation;
        try {
          const result = await this.client.call('histogram', { field: job.field, filters: job.filters, bins: HISTOGRAM_BINS });
          if (generation === this.generation) {
            this.cache.set(job.key, result);
            if (this.cache.size > 400) this.cache.delete(this.cache.keys().next().value!);
          }
          job.resolve(result);
        } catch (error) {
          job.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
