/**
 * Synchronous analysis work (seconds to minutes of linear algebra) moved off the host's main thread: a worker
 * thread runs one task and posts one reply, so `miru serve` and the desktop host keep answering the UI meanwhile,
 * and cancelling a job ends the worker. The worker script opens its own library connection (SQLite's WAL lets the
 * host read while it writes) through `serveWorkerTask`.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { openLibrary, type LibraryDb } from '../library/openLibrary.js';
import type { JobContext, JobOutcome } from './jobRunner.js';

/** What a task's worker posts back: its summary, or the message of the error that stopped it. */
export type WorkerReply<T> = { ok: true; summary: T } | { ok: false; error: string };

/** What every task's worker receives: the library to open (with the host's better-sqlite3 build) and its input. */
export interface WorkerTaskData<I> {
  dbPath: string;
  nativeBinding?: string;
  input: I;
}

/**
 * The body of a worker script: opens its own connection to the library, runs the task on it, posts the summary
 * or the error message back, and closes the connection.
 */
export function serveWorkerTask<I, T>(run: (db: LibraryDb, input: I) => T): void {
  const { dbPath, nativeBinding, input } = workerData as WorkerTaskData<I>;
  let reply: WorkerReply<T>;
  try {
    const db = openLibrary(dbPath, { nativeBinding, mustExist: true });
    try {
      reply = { ok: true, summary: run(db, input) };
    } finally {
      db.close();
    }
  } catch (error) {
    reply = { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
}

/**
 * Starts `script` (a `serveWorkerTask` script) with `data` and resolves with the summary it posts; rejects with its error, when it dies
 * without answering, or when `signal` aborts (the worker is terminated: nothing it had not committed is stored).
 * Resolves null when no worker thread can be started here, so the caller can run the task itself.
 */
export async function runInWorker<T, I = unknown>(script: URL, data: WorkerTaskData<I>, signal: AbortSignal, label: string): Promise<T | null> {
  let worker: Worker;
  try {
    worker = new Worker(script, { workerData: data });
  } catch {
    return null;
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      void worker.terminate();
      reject(new Error(`The ${label} job was cancelled; nothing of it was stored.`));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = (fn: () => void) => {
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    worker.once('message', (reply: WorkerReply<T>) => settle(() => (reply.ok ? resolve(reply.summary) : reject(new Error(reply.error)))));
    worker.once('error', (error) => settle(() => reject(new Error(`The ${label} worker failed: ${error.message}`))));
    worker.once('exit', (code) => settle(() => reject(new Error(`The ${label} worker stopped (exit code ${code}) before answering.`))));
  });
}

/** Where a worker-task job may run: a worker thread by default, with the host's better-sqlite3 build. */
export interface WorkerJobOptions {
  /** better-sqlite3's addon for the worker's connection (the Electron host's build). */
  nativeBinding?: string;
  /** Run in a worker thread (default true); false, or a library without a file, runs on the calling thread. */
  worker?: boolean;
}

/**
 * A job whose work is one synchronous task: in a worker thread running `script` (ended by cancelling), or on the
 * calling thread where none can start. Progress is its start and its end (the task reports nothing between).
 */
export function workerTaskJob<I, T>(
  db: LibraryDb,
  script: URL,
  label: string,
  input: I,
  run: (db: LibraryDb, input: I) => T,
  options: WorkerJobOptions = {},
): (ctx: JobContext) => Promise<JobOutcome> {
  return async (ctx) => {
    ctx.onProgress({ job: label, phase: label, done: 0, total: 1 });
    const inWorker = options.worker !== false && !db.memory ? await runInWorker<T, I>(script, { dbPath: db.name, nativeBinding: options.nativeBinding, input }, ctx.signal, label) : null;
    // No worker threads here: run on this thread, blocking it for the duration.
    const summary = inWorker ?? run(db, input);
    ctx.onProgress({ job: label, phase: label, done: 1, total: 1 });
    return { summary };
  };
}
