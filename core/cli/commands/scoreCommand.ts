import type { Command } from 'commander';
import { scoreLibrary } from '../../models/scoreLibrary.js';
import { embedLibrary, type EmbeddingPool } from '../../models/embedLibrary.js';
import type { ProviderChoice } from '../../models/executionProviders.js';
import { throttleProgress } from '../../jobs/progress.js';
import { terminalProgress } from '../progressBar.js';
import { interruptible, openDb, positiveInt, printJson, reportInterrupted } from '../options.js';

const EP_HELP = 'execution provider: auto | cuda | webgpu | dml | coreml | cpu';


/** What the run did not try this time, and how to include it. */
function printPriorNotes(summary: { failedBefore: number; unreadable: number }): void {
  if (summary.failedBefore) console.log(`  ${summary.failedBefore} image(s) failed in an earlier attempt and were not retried; add --retry-failed to try them again.`);
  if (summary.unreadable) console.log(`  ${summary.unreadable} library image(s) could not be read when indexed and are in no run (\`miru list --filter status=error\` lists them).`);
}

export function registerScore(program: Command): void {
  program
    .command('score')
    .description('Score every image with a model (resumable: a rerun scores only what is missing).')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--model <name>', 'a model added with `miru models add`')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--batch <n>', 'images per inference batch (halves itself on out-of-memory)', positiveInt('--batch'), 16)
    .option('--force', 'rescore images already scored by this run')
    .option('--retry-failed', 'try again the images that failed in this run before (e.g. after a provider problem)')
    .option('--json', 'print {"run", "scored", "skipped", "failed", "ep", "imagesPerSecond", ...}')
    .action(async (opts: { db: string; model: string; ep: ProviderChoice; batch: number; force?: boolean; retryFailed?: boolean; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      const bar = terminalProgress();
      const stop = interruptible();
      try {
        const summary = await scoreLibrary(db, opts.model, { ep: opts.ep, batch: opts.batch, force: opts.force, retryFailed: opts.retryFailed, onProgress: throttleProgress(bar.listener), signal: stop.signal });
        bar.stop();
        if (opts.json) printJson(summary);
        else {
          console.log(`Run ${summary.run} (${summary.status}) on ${summary.ep}: ${summary.scored} scored, ${summary.skipped} already done, ${summary.failed} failed, ${summary.imagesPerSecond} images/s.`);
          for (const reason of summary.fallbackReasons) console.log(`  not used: ${reason}`);
          for (const f of summary.failures.slice(0, 10)) console.log(`  failed ${f.path}: ${f.error}`);
          printPriorNotes(summary);
        }
        reportInterrupted(stop.signal);
      } finally {
        stop.dispose();
        bar.stop();
        db.close();
      }
    });
  program
    .command('embed')
    .description('Store an embedding vector per image from a model output or any inner tensor.')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--model <name>', 'a model added with `miru models add`')
    .option('--output <name>', 'graph output holding the embedding (default: the card\'s outputs.embedding)')
    .option('--layer <tensor>', 'any inner tensor (see `miru models inspect`), exposed as an extra output')
    .option('--pool <mode>', 'mean | cls | none: how maps and token sequences become vectors', 'mean')
    .option('--normalize', 'scale vectors to unit length')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--batch <n>', 'images per inference batch', positiveInt('--batch'), 16)
    .option('--force', 'recompute vectors already stored by this run')
    .option('--retry-failed', 'try again the images that failed in this run before')
    .option('--json', 'print JSON')
    .action(async (opts: { db: string; model: string; output?: string; layer?: string; pool: EmbeddingPool; normalize?: boolean; ep: ProviderChoice; batch: number; force?: boolean; retryFailed?: boolean; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      const bar = terminalProgress();
      const stop = interruptible();
      try {
        const summary = await embedLibrary(db, opts.model, { ...opts, onProgress: throttleProgress(bar.listener), signal: stop.signal });
        bar.stop();
        if (opts.json) printJson(summary);
        else {
          const vectors = summary.dimension === null ? `${summary.embedded} vectors` : `${summary.embedded} vectors of ${summary.dimension} values`;
          console.log(`Run ${summary.run} (${summary.status}) on ${summary.ep}: ${vectors}, ${summary.skipped} already done, ${summary.failed} failed, ${summary.imagesPerSecond} images/s.`);
          for (const f of summary.failures.slice(0, 10)) console.log(`  failed ${f.path}: ${f.error}`);
          printPriorNotes(summary);
        }
        reportInterrupted(stop.signal);
      } finally {
        stop.dispose();
        bar.stop();
        db.close();
      }
    });
}
