/**
 * npm run bench:score — end-to-end scoring throughput (image files on disk to scores in the database) against
 * bare `session.run` throughput on ready-made tensors, same batch size and provider, in the same run.
 * Models: the two bundled ones and a ConvNeXt-Tiny-size model at 448 px with random weights, generated here by
 * scripts/models/make_convnext_tiny.py with Debian's torch (/usr/bin/python3). Goal: end-to-end >= 0.9x bare.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openLibrary, cacheDirFor } from '../core/library/openLibrary.js';
import { indexLibrary } from '../core/library/indexLibrary.js';
import { generateSynthDataset } from '../core/synth/generateDataset.js';
import { addModel } from '../core/models/modelRegistry.js';
import { scoreLibrary } from '../core/models/scoreLibrary.js';
import { decodeLanes } from '../core/models/libraryInference.js';
import { preprocessImage } from '../core/models/preprocessImage.js';
import { mapConcurrent } from '../core/util/mapConcurrent.js';
import { InferencePool } from '../core/models/inferencePool.js';
import { providerPlan } from '../core/models/executionProviders.js';
import type { ModelCard } from '../core/models/modelCard.js';
import type { PresetName } from '../core/models/presets.js';
import { BENCH_DIR, REPO_ROOT, ensureConvnextTiny, heading, now, printTable } from './benchUtil.js';

interface Case {
  name: string;
  file: string;
  preset?: PresetName;
  /** Card overrides on top of the preset. */
  card?: Record<string, unknown>;
  images: number;
  batch: number;
}

async function main(): Promise<void> {
  const ep = (process.env.MIRU_BENCH_EP ?? 'auto') as 'auto';
  mkdirSync(BENCH_DIR, { recursive: true });
  const tiny = ensureConvnextTiny();
  const cases: Case[] = [
    { name: 'miru-convnext-s', file: path.join(REPO_ROOT, 'assets/models/miru-convnext-s.onnx'), images: 384, batch: 32 },
    { name: 'miru-vit-s', file: path.join(REPO_ROOT, 'assets/models/miru-vit-s.onnx'), images: 384, batch: 32 },
    // deepghs-aesthetic preprocessing (448 px stretch, 7 ordinal classes); the random model outputs logits.
    { name: 'convnext-tiny-448', file: tiny, preset: 'deepghs-aesthetic', card: { outputs: { score: { name: 'logits', kind: 'ordinal', activation: 'softmax' } } }, images: 128, batch: 8 },
  ];

  console.log(`providers tried by --ep ${ep}: ${providerPlan(ep).tryOrder.join(', ')}`);
  // MIRU_BENCH_MODELS=name,name runs a subset (e.g. while another model is still training).
  const only = process.env.MIRU_BENCH_MODELS?.split(',').map((n) => n.trim());
  const selected = only ? cases.filter((c) => only.includes(c.name)) : cases;
  const rows: string[][] = [['model', 'images', 'batch', 'ep', 'bare img/s', 'decode img/s', 'end-to-end img/s', 'ratio', 'goal 0.9x', 'of shared-CPU bound']];
  for (const c of selected) {
    const { db, files } = await benchLibrary(c.images);
    const { model } = await addModel(db, c.file, { name: c.name, preset: c.preset, cardFile: c.card ? await writeCard(c.card) : undefined });
    const bare = await bareThroughput(c.file, model.card, c.batch, Math.min(c.images, 4 * c.batch), ep);
    const decode = await decodeThroughput(files, model.card);
    const started = now();
    const summary = await scoreLibrary(db, c.name, { ep, batch: c.batch, force: true });
    const seconds = (now() - started) / 1000;
    db.close();
    const endToEnd = summary.scored / seconds;
    // Where decoding and inference share the same cores (the CPU provider), the best a pipeline can do is one
    // decode plus one inference per image of CPU time: 1 / (1/bare + 1/decode).
    const bound = summary.ep === 'cpu' ? 1 / (1 / bare + 1 / decode) : Math.min(bare, decode);
    rows.push([c.name, String(summary.scored), String(c.batch), summary.ep, bare.toFixed(1), decode.toFixed(1), endToEnd.toFixed(1), `${(endToEnd / bare).toFixed(2)}x`, endToEnd / bare >= 0.9 ? 'met' : 'MISSED', `${(endToEnd / bound).toFixed(2)}x`]);
  }
  heading('bench:score');
  printTable(rows);
  console.log('end-to-end = files on disk -> decode/preprocess (sharp) -> inference (worker) -> scores in SQLite, wall time of `miru score --force`');
  console.log('bare = InferencePool.run on ready-made random tensors, same provider and batch, after one warm-up batch');
  console.log('decode = preprocessImage alone over the same files with the pipeline\'s decode concurrency, no inference');
  console.log('shared-CPU bound = 1 / (1/bare + 1/decode) on the CPU provider (both stages use the same cores), min(bare, decode) on a GPU');
}

/** Files to tensors per second, as the scoring pipeline decodes them, without inference. */
async function decodeThroughput(files: string[], card: ModelCard): Promise<number> {
  await mapConcurrent(files.slice(0, 16), decodeLanes(), (file) => preprocessImage(file, card)); // warm-up
  const started = now();
  await mapConcurrent(files, decodeLanes(), (file) => preprocessImage(file, card));
  return files.length / ((now() - started) / 1000);
}

async function writeCard(card: Record<string, unknown>): Promise<string> {
  const file = path.join(BENCH_DIR, `card-${process.pid}.json`);
  await writeFile(file, JSON.stringify(card));
  return file;
}

/** A fresh library over a cached synthetic dataset of `count` images (512 px base size, PNG and JPEG). */
async function benchLibrary(count: number) {
  const data = path.join(BENCH_DIR, `score-data-${count}`);
  if (!existsSync(path.join(data, 'truth.json'))) {
    console.log(`Generating ${count} synthetic images ...`);
    await generateSynthDataset(data, { images: count, raters: 5, seed: 11, size: 512 });
  }
  const dbPath = path.join(BENCH_DIR, `score-bench-${count}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbPath}${suffix}`, { force: true });
  const db = openLibrary(dbPath);
  const images = path.join(data, 'images');
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
  return { db, files: readdirSync(images).map((name) => path.join(images, name)) };
}

async function bareThroughput(file: string, card: ModelCard, batch: number, images: number, ep: 'auto'): Promise<number> {
  const pool = await InferencePool.create(file, { ep });
  try {
    const [h, w] = card.input.size;
    const tensor = () => {
      const data = new Float32Array(batch * 3 * h * w);
      for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
      return { [card.input.name]: { type: 'float32' as const, data, dims: card.input.layout === 'NCHW' ? [batch, 3, h, w] : [batch, h, w, 3] } };
    };
    await pool.run(tensor()); // warm-up: first run allocates and optimises
    const batches = Math.max(1, Math.round(images / batch));
    const ready = Array.from({ length: batches }, tensor);
    const started = now();
    for (const feeds of ready) await pool.run(feeds);
    return (batches * batch) / ((now() - started) / 1000);
  } finally {
    await pool.close();
  }
}

main().catch((error: Error) => {
  console.error(`bench:score failed: ${error.message}`);
  process.exitCode = 1;
});
