/**
 * Long work started from the UI (issue 5): index, score, embed and explain runs as jobs with progress, an
 * estimate of the time left, per-file failures and cancellation. Jobs run one at a time in the order started
 * (they compete for the same cores and GPU); a job waiting its turn is `running` in phase `queued`. Each job is
 * recorded in the library's `jobs` table, so the history outlives the process. The core functions the jobs call
 * are resumable, so a cancelled or crashed job is continued by starting it again.
 */
import type { LibraryDb } from '../library/openLibrary.js';
import type { ProgressEvent, ProgressListener } from './progress.js';

export type JobStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface JobFailure {
  path: string;
  error: string;
}

/** A job as the API shows it (core/api's JobInfo). */
export interface JobSnapshot<K extends string = string> {
  id: number;
  kind: K;
  status: JobStatus;
  phase: string;
  done: number;
  total: number | null;
  startedAt: string;
  /** Estimated from the rate of the current phase; null until there is a rate and a total. */
  secondsLeft: number | null;
  error: string | null;
  failures: JobFailure[];
  summary: unknown;
}

export interface JobContext {
  signal: AbortSignal;
  onProgress: ProgressListener;
  /** Records a per-file failure as it happens (the result's `failures` are added at the end). */
  fail(failure: JobFailure): void;
}

export interface JobOutcome {
  summary: unknown;
  failures?: JobFailure[];
}

export type JobWork = (context: JobContext) => Promise<JobOutcome>;

export interface JobRunnerOptions {
  /** Records jobs in this library's `jobs` table (ids come from it). */
  db?: LibraryDb;
  /** Called with a fresh snapshot on every change worth showing (throttled progress, every status change). */
  onUpdate?: (job: JobSnapshot) => void;
  /** Minimum milliseconds between progress updates of one job (default 250). */
  throttleMs?: number;
  /** Failures kept per job (default 100); the summary counts all of them. */
  maxFailures?: number;
  now?: () => number;
}

interface Job {
  snapshot: JobSnapshot;
  params: unknown;
  work: JobWork;
  controller: AbortController;
  finished: Promise<void>;
  resolveFinished: () => void;
  /** The phase the work last reported (the snapshot shows 'cancelling' instead while it stops). */
  workPhase: string;
  phaseStartedAt: number;
  phaseStartDone: number;
  lastUpdate: number;
}

const QUEUED = 'queued';

export class JobRunner {
  private readonly jobs = new Map<number, Job>();
  private readonly queue: Job[] = [];
  private current: Job | null = null;
  private nextLocalId = 1;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: JobRunnerOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Queues a job and returns its first snapshot; it starts when the jobs before it have finished. */
  start(kind: string, params: unknown, work: JobWork): JobSnapshot {
    if (this.closed) throw new Error('The library is closing; no new jobs start.');
    const startedAt = new Date(this.now()).toISOString();
    const id = this.record(kind, params, startedAt);
    let resolveFinished!: () => void;
    const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
    const job: Job = {
      snapshot: { id, kind, status: 'running', phase: QUEUED, done: 0, total: null, startedAt, secondsLeft: null, error: null, failures: [], summary: null },
      params,
      work,
      controller: new AbortController(),
      finished,
      resolveFinished,
      workPhase: QUEUED,
      phaseStartedAt: this.now(),
      phaseStartDone: 0,
      lastUpdate: 0,
    };
    this.jobs.set(id, job);
    this.queue.push(job);
    this.update(job, true);
    this.pump();
    return this.snapshot(job);
  }

  /** Stops a job: a queued one at once, a running one after the work in flight (what it finished is kept). */
  cancel(id: number): JobSnapshot {
    const job = this.jobs.get(id);
    if (!job) throw new Error(`No job with id ${id} in this session.`);
    if (job.snapshot.status !== 'running') return this.snapshot(job);
    job.controller.abort();
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.finish(job, 'cancelled', null);
    } else {
      job.snapshot.phase = 'cancelling';
      this.update(job, true);
    }
    return this.snapshot(job);
  }

  get(id: number): JobSnapshot | undefined {
    const job = this.jobs.get(id);
    return job && this.snapshot(job);
  }

  /** This session's jobs, newest first. */
  list(): JobSnapshot[] {
    return [...this.jobs.values()].map((j) => this.snapshot(j)).sort((a, b) => b.id - a.id);
  }

  /** Resolves when the job has finished (any status). */
  async whenFinished(id: number): Promise<JobSnapshot> {
    const job = this.jobs.get(id);
    if (!job) throw new Error(`No job with id ${id} in this session.`);
    await job.finished;
    return this.snapshot(job);
  }

  /** Cancels every job and waits for the running one to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.queue]) this.cancel(job.snapshot.id);
    if (this.current) {
      this.cancel(this.current.snapshot.id);
      await this.current.finished;
    }
  }

  private pump(): void {
    if (this.current) return;
    const job = this.queue.shift();
    if (!job) return;
    this.current = job;
    void this.run(job).finally(() => {
      this.current = null;
      this.pump();
    });
  }

  private async run(job: Job): Promise<void> {
    const s = job.snapshot;
    s.phase = 'starting';
    job.phaseStartedAt = this.now();
    this.update(job, true);
    const context: JobContext = {
      signal: job.controller.signal,
      onProgress: (event) => this.progress(job, event),
      fail: (failure) => this.addFailure(job, failure),
    };
    try {
      const outcome = await job.work(context);
      for (const failure of outcome.failures ?? []) this.addFailure(job, failure);
      s.summary = outcome.summary ?? null;
      this.finish(job, job.controller.signal.aborted ? 'cancelled' : 'done', null);
    } catch (error) {
      if (job.controller.signal.aborted) this.finish(job, 'cancelled', null);
      else this.finish(job, 'failed', (error as Error).message ?? String(error));
    }
  }

  private progress(job: Job, event: ProgressEvent): void {
    const s = job.snapshot;
    if (s.status !== 'running') return;
    const now = this.now();
    const phaseChanged = event.phase !== job.workPhase;
    if (phaseChanged) {
      job.workPhase = event.phase;
      job.phaseStartedAt = now;
      job.phaseStartDone = event.done;
    }
    if (s.phase !== 'cancelling') s.phase = event.phase;
    s.done = event.done;
    s.total = event.total;
    const elapsed = (now - job.phaseStartedAt) / 1000;
    const progressed = event.done - job.phaseStartDone;
    s.secondsLeft = event.total !== null && progressed > 0 && elapsed > 0 ? Math.max(0, Math.round(((event.total - event.done) * elapsed) / progressed)) : null;
    const last = event.total !== null && event.done >= event.total;
    this.update(job, phaseChanged || last || now - job.lastUpdate >= (this.options.throttleMs ?? 250));
  }

  private addFailure(job: Job, failure: JobFailure): void {
    if (job.snapshot.failures.length < (this.options.maxFailures ?? 100)) job.snapshot.failures.push({ path: String(failure.path), error: String(failure.error) });
  }

  private finish(job: Job, status: Exclude<JobStatus, 'running'>, error: string | null): void {
    const s = job.snapshot;
    s.status = status;
    s.error = error;
    s.secondsLeft = status === 'done' ? 0 : null;
    if (status === 'done') s.phase = 'done';
    else if (status === 'cancelled') s.phase = 'cancelled';
    this.update(job, true);
    job.resolveFinished();
  }

  private update(job: Job, force: boolean): void {
    if (!force) return;
    job.lastUpdate = this.now();
    this.persist(job);
    try {
      this.options.onUpdate?.(this.snapshot(job));
    } catch {
      // A listener's failure must not stop the job.
    }
  }

  private snapshot(job: Job): JobSnapshot {
    const s = job.snapshot;
    return { ...s, failures: [...s.failures] };
  }

  private record(kind: string, params: unknown, startedAt: string): number {
    const db = this.options.db;
    if (!db) return this.nextLocalId++;
    return Number(
      db.prepare(`INSERT INTO jobs (kind, params, status, progress, created_at, updated_at) VALUES (?, ?, 'queued', 0, ?, ?)`).run(kind, JSON.stringify(params ?? null), startedAt, startedAt).lastInsertRowid,
    );
  }

  private persist(job: Job): void {
    const db = this.options.db;
    if (!db || !db.open) return;
    const s = job.snapshot;
    const status = s.status === 'running' && s.phase === QUEUED ? 'queued' : s.status;
    const progress = s.total ? Math.min(1, s.done / s.total) : status === 'done' ? 1 : 0;
    try {
      db.prepare('UPDATE jobs SET status = ?, progress = ?, error = ?, updated_at = ? WHERE id = ?').run(status, progress, s.error, new Date(this.now()).toISOString(), s.id);
    } catch {
      // The record is history; a busy or closed database must not fail the job itself.
    }
  }
}
