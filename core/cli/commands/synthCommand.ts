import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { generateSynthDataset, defaultSynthOptions } from '../../synth/generateDataset.js';
import { throttleProgress } from '../../jobs/progress.js';
import { terminalProgress } from '../progressBar.js';
import { wholeNumber, printJson } from '../options.js';

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description('Write a synthetic illustration dataset with known ground truth and simulated raters.')
    .argument('<outDir>', 'output folder (images/, ratings.csv, truth.json)')
    .option('--images <n>', 'number of images', wholeNumber('--images'), defaultSynthOptions.images)
    .option('--raters <n>', 'number of simulated raters', wholeNumber('--raters'), defaultSynthOptions.raters)
    .option('--seed <n>', 'random seed (same seed, same dataset)', wholeNumber('--seed'), defaultSynthOptions.seed)
    .option('--size <px>', 'base image size in pixels', wholeNumber('--size'), defaultSynthOptions.size)
    .option('--classes <n>', 'ordinal scale: 5 (1-5) or 7 (1-7)', (v: string) => {
      if (v !== '5' && v !== '7') throw new InvalidArgumentError('--classes must be 5 or 7.');
      return Number(v) as 5 | 7;
    }, defaultSynthOptions.classes)
    .option('--json', 'print a JSON summary')
    .action(async (outDir: string, opts: { images: number; raters: number; seed: number; size: number; classes: 5 | 7; json?: boolean }) => {
      const bar = terminalProgress();
      try {
        const summary = await generateSynthDataset(outDir, { ...opts, onProgress: throttleProgress(bar.listener) });
        bar.stop();
        if (opts.json) printJson(summary);
        else
          console.log(
            `Wrote ${summary.images} images and ${summary.ratings} ratings by ${summary.raters} raters ` +
              `(${summary.groups} preference groups, ${summary.spammers} spammers, ${summary.flipped} flipped) to ${summary.outDir}.`,
          );
      } finally {
        bar.stop();
      }
    });
}
