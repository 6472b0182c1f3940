// Progress events shared by every long-running core function. The CLI draws them as a progress bar on a
// terminal; the API (a later issue) forwards the same objects to the UI.

export interface ProgressEvent {
  /** Which job emits this, e.g. "index", "ratings-import", "synth". */
  job: string;
  /** The current step inside the job, e.g. "scan", "read", "write". */
  phase: string;
  /** Units finished so far in this phase. */
  done: number;
  /** Units expected in this phase, or null while unknown (e.g. still walking folders). */
  total: number | null;
  /** Optional human-readable detail such as the file being worked on. */
  message?: string;
}

export type ProgressListener = (event: ProgressEvent) => void;

/**
 * Limits how often a listener is called: long jobs report per item, but a UI or terminal needs at most a few
 * updates per second. The last event of a phase (done === total) is always delivered.
 */
export function throttleProgress(listener: ProgressListener, intervalMs = 100): ProgressListener {
  let last = 0;
  return (event) => {
    const now = Date.now();
    if (now - last >= intervalMs || (event.total !== null && event.done >= event.total)) {
      last = now;
      listener(event);
    }
  };
}
