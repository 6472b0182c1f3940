import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressListener } from '../jobs/progress.js';

/**
 * A progress listener that draws a bar on stderr when stderr is a terminal, and does nothing otherwise,
 * so that `--json` output on stdout and logs in CI stay clean.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): { listener: ProgressListener; stop: () => void } {
  if (!stream.isTTY) return { listener: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream, format: '{phase} [{bar}] {value}/{total} {message}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let phase = '';
  const listener = (event: ProgressEvent) => {
    const total = event.total ?? 0;
    const payload = { phase: event.phase.padEnd(8), message: event.message ?? '' };
    if (!started || event.phase !== phase) {
      if (started) bar.stop();
      bar.start(total, event.done, payload);
      started = true;
      phase = event.phase;
    } else {
      bar.setTotal(total);
      bar.update(event.done, payload);
    }
  };
  return { listener, stop: () => started && bar.stop() };
}
