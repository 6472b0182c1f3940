import { Worker } from 'node:worker_threads';
import os from 'node:os';
import { PROVIDER_NAMES, providerPlan, type ProviderChoice, type ProviderName, type ProviderStatus } from './executionProviders.js';
import type { Feeds, HostMessage, WorkerMessage } from './inferenceMessages.js';

export interface PoolOptions {
  ep?: ProviderChoice;
  /** Worker threads, each with its own session. One is right for a GPU; on a CPU one worker using every core. */
  workers?: number;
  /** Intra-op threads per worker (CPU provider). */
  threads?: number;
}

/** Thrown by `run` when the provider ran out of memory, so a caller can retry with a smaller batch. */
export class OutOfMemoryError extends Error {}

interface Pending {
  id: number;
  feeds: Feeds;
  outputs?: string[];
  resolve: (outputs: Feeds) => void;
  reject: (error: Error) => void;
}

/**
 * A pool of inference worker threads over one model. `run` queues a request and resolves with the outputs;
 * requests go to whichever worker is idle. The provider actually used (after any fallback) is reported.
 */
export class InferencePool {
  readonly provider: ProviderName;
  /** Why providers better than the one used were not used: skipped as unusable, or failed to start. */
  readonly fallbackReasons: string[];
  readonly inputNames: string[];
  readonly outputNames: string[];
  private readonly idle: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<Worker, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly workers: Worker[],
    ready: Extract<WorkerMessage, { type: 'ready' }>,
    skipped: ProviderStatus[],
  ) {
    this.provider = ready.provider;
    this.inputNames = ready.inputNames;
    this.outputNames = ready.outputNames;
    const better = skipped.filter((s) => s.onThisPlatform && rank(s.name) < rank(ready.provider));
    this.fallbackReasons = [
      ...better.map((s) => `${s.name}: ${s.reason}`),
      ...ready.fallbacks.map((f) => `${f.provider}: failed to start (${f.error})`),
    ];
    for (const worker of workers) {
      worker.on('message', (message: WorkerMessage) => this.onMessage(worker, message));
      worker.on('error', (error) => this.onWorkerDied(worker, error));
      this.idle.push(worker);
    }
  }

  /** Starts the workers; each creates a session with the first provider that works. */
  static async create(model: string | Uint8Array, options: PoolOptions = {}): Promise<InferencePool> {
    const { tryOrder, skipped } = providerPlan(options.ep ?? 'auto');
    const count = Math.max(1, options.workers ?? 1);
    const threads = options.threads ?? Math.max(1, Math.floor(os.availableParallelism() / count));
    const workers: Worker[] = [];
    try {
      let providers = tryOrder;
      let first: Extract<WorkerMessage, { type: 'ready' }> | null = null;
      for (let i = 0; i < count; i++) {
        const worker = new Worker(new URL('./inferenceWorker.js', import.meta.url));
        workers.push(worker);
        const ready = await startWorker(worker, { type: 'init', model, providers, threads });
        // Later workers use the provider the first one settled on, instead of repeating failed probes.
        if (!first) {
          first = ready;
          providers = [ready.provider];
        }
      }
      return new InferencePool(workers, first!, skipped);
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  /** Runs the model once. The feeds' buffers are transferred to the worker: the caller must not reuse them. */
  run(feeds: Feeds, outputs?: string[]): Promise<Feeds> {
    if (this.closed) return Promise.reject(new Error('The inference pool is closed.'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, feeds, outputs, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.reject(new Error('The inference pool was closed.'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const worker = this.idle.pop()!;
      const pending = this.queue.shift()!;
      this.inFlight.set(worker, pending);
      const transfer = [...new Set(Object.values(pending.feeds).map((t) => t.data.buffer as ArrayBuffer))];
      const message: HostMessage = { type: 'run', id: pending.id, feeds: pending.feeds, outputs: pending.outputs };
      worker.postMessage(message, transfer);
    }
  }

  private onMessage(worker: Worker, message: WorkerMessage): void {
    const pending = this.inFlight.get(worker);
    if (!pending || (message.type !== 'result' && message.type !== 'error') || message.id !== pending.id) return;
    this.inFlight.delete(worker);
    this.idle.push(worker);
    if (message.type === 'result') pending.resolve(message.outputs);
    else pending.reject(message.outOfMemory ? new OutOfMemoryError(message.message) : new Error(`Inference failed: ${message.message}`));
    this.dispatch();
  }

  private onWorkerDied(worker: Worker, error: Error): void {
    const pending = this.inFlight.get(worker);
    this.inFlight.delete(worker);
    pending?.reject(new Error(`An inference worker stopped: ${error.message}`));
  }
}

function rank(name: ProviderName): number {
  return PROVIDER_NAMES.indexOf(name);
}

function startWorker(worker: Worker, init: HostMessage): Promise<Extract<WorkerMessage, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: WorkerMessage) => {
      if (message.type === 'ready') {
        cleanup();
        resolve(message);
      } else if (message.type === 'init-failed') {
        cleanup();
        const details = message.fallbacks.map((f) => `${f.provider}: ${f.error}`).join('; ');
        reject(new Error(`Could not load the model on any execution provider (${details}).`));
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new Error(`The inference worker failed to start: ${error.message}`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.postMessage(init);
  });
}
