import type { Command } from 'commander';
import { indexLibrary } from '../../library/indexLibrary.js';
import { cacheDirFor } from '../../library/openLibrary.js';
import { DEFAULT_MAX_PIXELS } from '../../library/probeImage.js';
import { throttleProgress } from '../../jobs/progress.js';
import { terminalProgress } from '../progressBar.js';
import { interruptible, openDb, positiveInt, printJson } from '../options.js';

export function registerIndex(program: Command): void {
  program
    .command('index')
    .description('Index image folders into a library (incremental: unchanged files are skipped, moved files keep their ratings and tags).')
    .argument('<folders...>', 'folders of images (jpeg, png, webp, gif, avif, tiff), scanned recursively')
    .requiredOption('--db <path>', 'library database file (created if missing)')
    .option('--max-pixels <n>', 'refuse images with more pixels than this (decompression-bomb guard)', positiveInt('--max-pixels'), DEFAULT_MAX_PIXELS)
    .option('--concurrency <n>', 'files decoded at once (default: number of cores)', positiveInt('--concurrency'))
    .option('--retry-errors', 'also re-read unchanged files that failed before')
    .option('--json', 'print one JSON summary instead of text')
    .action(async (folders: string[], opts: { db: string; maxPixels: number; concurrency?: number; retryErrors?: boolean; json?: boolean }) => {
      const db = openDb(opts.db, 'create');
      const bar = terminalProgress();
      // Ctrl-C stops taking new files; everything finished so far is already committed.
      const stop = interruptible(new Error('Interrupted; finished files are saved, run the same command to continue.'));
      try {
        const summary = await indexLibrary(db, folders, {
          cacheDir: cacheDirFor(opts.db),
          maxPixels: opts.maxPixels,
          concurrency: opts.concurrency,
          retryErrors: opts.retryErrors,
          onProgress: throttleProgress(bar.listener),
          signal: stop.signal,
        });
        bar.stop();
        if (opts.json) {
          printJson(summary);
          return;
        }
        console.log(
          `Indexed ${summary.indexed} usable images: ${summary.added} added, ${summary.updated} updated, ${summary.unchanged} unchanged, ` +
            `${summary.moved} moved, ${summary.missing} missing, ${summary.errors.length} errors.`,
        );
        for (const e of summary.errors.slice(0, 20)) console.log(`  error  ${e.path}: ${e.error}`);
        if (summary.errors.length > 20) console.log(`  ... and ${summary.errors.length - 20} more (use --json for the full list)`);
        for (const r of summary.refused.slice(0, 5)) console.log(`  refused ${r.path}: ${r.error}`);
        if (summary.refused.length > 5) console.log(`  ... and ${summary.refused.length - 5} more refused files`);
      } finally {
        stop.dispose();
        bar.stop();
        db.close();
      }
    });
}
