// `npm run demo`: builds a demo library from bundled (generated) data and shows what Miru knows about it.
// Steps: synthesise an illustration dataset with simulated raters, index it, import its ratings, score it with
// the two bundled models, print a summary and a few queries, then open the workbench on it: the desktop app
// where Electron is installed, else the browser host (`miru serve --open`). MIRU_DEMO_NO_WORKBENCH=1 stops after
// the summary.
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateSynthDataset } from '../core/synth/generateDataset.js';
import { openLibrary, cacheDirFor } from '../core/library/openLibrary.js';
import { indexLibrary } from '../core/library/indexLibrary.js';
import { importRatings } from '../core/library/ratingsImport.js';
import { libraryInfo } from '../core/library/libraryInfo.js';
import { queryImages, parseFilter, parseSort } from '../core/library/queryImages.js';
import { throttleProgress } from '../core/jobs/progress.js';
import { addModel } from '../core/models/modelRegistry.js';
import { scoreLibrary } from '../core/models/scoreLibrary.js';
import { spearman } from '../core/analysis/correlation.js';
import { terminalProgress } from '../core/cli/progressBar.js';
import type { LibraryDb } from '../core/library/openLibrary.js';
import type { ProgressListener } from '../core/jobs/progress.js';
import { embedLibrary } from '../core/models/embedLibrary.js';
import { projectEmbeddingRun } from '../core/analysis/projections.js';
import { findDuplicates, outlierScores } from '../core/analysis/neighbors.js';
import { knnCacheDir } from '../core/analysis/knnIndex.js';
import { analyzeRaters } from '../core/analysis/raterAnalysis.js';
import { findLibraryIssues } from '../core/analysis/libraryIssues.js';
import { runProbeReport } from '../core/api/probesApi.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const demoDir = path.join(root, '.miru-demo');
const dataset = path.join(demoDir, 'dataset');
const dbPath = path.join(demoDir, 'demo.db');
const BUNDLED_MODELS = ['miru-convnext-s', 'miru-vit-s'];
const options = { images: 300, raters: 40, seed: 7, size: 384, classes: 5 as const };

async function main(): Promise<void> {
  const started = Date.now();
  const bar = terminalProgress();
  const progress = throttleProgress(bar.listener);

  const truthFile = path.join(dataset, 'truth.json');
  const upToDate = existsSync(truthFile) && JSON.stringify((JSON.parse(readFileSync(truthFile, 'utf8')) as { options: unknown }).options) === JSON.stringify(options);
  if (!upToDate) {
    console.log(`Generating a synthetic dataset (${options.images} images, ${options.raters} raters) in ${dataset} ...`);
    const synth = await generateSynthDataset(dataset, { ...options, onProgress: progress });
    bar.stop();
    console.log(`  ${synth.ratings} ratings, ${synth.groups} preference groups, ${synth.spammers} spammers, ${synth.flipped} flipped ratings`);
  }

  const db = openLibrary(dbPath);
  try {
    console.log(`Indexing ${path.join(dataset, 'images')} into ${dbPath} ...`);
    const index = await indexLibrary(db, [path.join(dataset, 'images')], { cacheDir: cacheDirFor(dbPath), onProgress: progress });
    bar.stop();
    console.log(`  ${index.indexed} images usable: ${index.added} added, ${index.unchanged} unchanged, ${index.errors.length} errors`);
    const ratings = await importRatings(db, path.join(dataset, 'ratings.csv'), { scale: { min: 1, max: options.classes } });
    console.log(`  ratings: ${ratings.imported} imported, ${ratings.unchanged} already there, ${ratings.rejected.length} rejected`);

    const info = libraryInfo(db);
    console.log(`\nLibrary: ${info.images} images, ${info.ratings} ratings by ${info.raters} raters (scale ${info.ratingScale}).`);
    const show = (title: string, filters: string[], sort: string) => {
      console.log(`\n${title}  (miru list --db ${path.relative(process.cwd(), dbPath)} ${filters.map((f) => `--filter "${f}" `).join('')}--sort ${sort})`);
      for (const item of queryImages(db, { filters: filters.map(parseFilter), sort: parseSort(sort), limit: 5 }).items) {
        const s = item.stats;
        console.log(
          `  ${item.relPath.padEnd(16)} mean rating ${item.ratingMean?.toFixed(2) ?? '-'} (${item.ratingCount} raters)  ` +
            `saturation ${s.saturation?.toFixed(2)}  contrast ${s.contrast?.toFixed(2)}  sharpness ${s.sharpness?.toFixed(0)}`,
        );
      }
    };
    for (const name of BUNDLED_MODELS) {
      await addModel(db, path.join(root, 'assets/models', `${name}.onnx`));
      const scored = await scoreLibrary(db, name, { onProgress: progress });
      bar.stop();
      const pairs = db
        .prepare<[number], { score: number; rating: number }>(
          `SELECT s.score, i.rating_mean AS rating FROM scores s JOIN images i ON i.id = s.image_id WHERE s.run_id = ? AND i.rating_count > 0`,
        )
        .all(scored.run);
      console.log(
        `  ${name}: ${scored.scored} scored, ${scored.skipped} already scored, on ${scored.ep} at ${scored.imagesPerSecond} images/s; ` +
          `Spearman with mean human rating ${spearman(pairs.map((p) => p.score), pairs.map((p) => p.rating)).toFixed(3)}`,
      );
    }
    await analyse(db, progress, () => bar.stop());
    show('Highest rated, at least 3 ratings:', ['ratingCount>=3'], '-ratingMean');
    show('Most saturated:', [], '-saturation');
    show('Blurriest:', [], 'sharpness');
    console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. Try: npx miru info --db ${path.relative(process.cwd(), dbPath)}`);
  } finally {
    db.close();
  }
  if (process.env.MIRU_DEMO_NO_WORKBENCH !== '1') await openWorkbench();
}

/**
 * What the workbench's analysis views show: embeddings of both bundled models, a UMAP map of each, outlier
 * scores, duplicate groups, label and odd-image issues, a probe report comparing the two backbones, and the rater
 * analysis with its clusters saved as rater groups.
 */
async function analyse(db: LibraryDb, progress: ProgressListener, done: () => void): Promise<void> {
  const cacheDir = knnCacheDir(cacheDirFor(dbPath));
  for (const name of BUNDLED_MODELS) {
    const embedded = await embedLibrary(db, name, { onProgress: progress });
    done();
    const map = await projectEmbeddingRun(db, embedded.run, { method: 'umap', knn: { cacheDir } });
    console.log(`  ${name}: ${embedded.embedded + embedded.skipped} embeddings of ${embedded.dimension} values; a UMAP map of ${map.imageIds.length} points (analysis ${map.analysisId})`);
  }
  const outliers = await outlierScores(db, BUNDLED_MODELS[0]!, 10, { cacheDir });
  const duplicates = await findDuplicates(db, BUNDLED_MODELS[0]!, { cacheDir });
  console.log(`  outlier scores for ${outliers.images.length} images; ${duplicates.exact.length} exact and ${duplicates.near.length} near-duplicate groups`);
  const issues = findLibraryIssues(db, { embedding: BUNDLED_MODELS[0]! });
  const odd = Object.values(issues.counts.imageIssues ?? {}).reduce((a, b) => a + b, 0);
  console.log(`  ${issues.counts.labelIssues} likely label issues among ${issues.counts.labelled} rated images; ${odd} odd-image flags`);
  const probe = runProbeReport(db, { embeddings: [...BUNDLED_MODELS], learningCurve: [50, 100, 200] });
  console.log(`  probe report on ${probe.images} images: best ${probe.best ?? 'n/a'}, Spearman ${probe.spearman?.toFixed(3) ?? 'n/a'}`);
  const raters = await analyzeRaters(db, { clusters: 'auto', saveGroups: true });
  const alpha = raters.alpha.interval === null ? 'n/a' : raters.alpha.interval.toFixed(3);
  console.log(`  raters: Krippendorff's alpha (interval) ${alpha}, ${raters.clusters.length} clusters, ${raters.spammers.raters.length} likely spammers`);
}

/** The desktop app when it can start (it says why not otherwise), else the same UI in the browser until Ctrl-C. */
async function openWorkbench(): Promise<void> {
  const miru = path.join(root, 'bin/miru.js');
  console.log('\nOpening the workbench ...');
  const app = spawnSync(process.execPath, [miru, 'app', '--db', dbPath], { stdio: 'inherit' });
  if (app.status === 0) return;
  console.log('\nOpening it in the browser instead (miru serve --open):');
  const serve = spawn(process.execPath, [miru, 'serve', '--db', dbPath, '--open'], { stdio: 'inherit' });
  // Ctrl-C reaches the child through the terminal; the demo ends when the server does.
  process.on('SIGINT', () => {});
  await new Promise<void>((resolve) => serve.on('exit', () => resolve()));
}

main().catch((error: Error) => {
  console.error(`demo failed: ${error.message}`);
  process.exitCode = 1;
});
