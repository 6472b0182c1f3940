import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { LibraryDb } from '../../library/openLibrary.js';
import { parseFilter, queryImages } from '../../library/queryImages.js';
import { getModel, readVerifiedModel, resolveModelFile } from '../../models/modelRegistry.js';
import type { ModelCard } from '../../models/modelCard.js';
import type { PresetName } from '../../models/presets.js';
import type { ProviderChoice } from '../../models/executionProviders.js';
import { readSynthTruth } from '../../synth/truthFile.js';
import type { PixelBox } from '../../synth/renderIllustration.js';
import { throttleProgress } from '../../jobs/progress.js';
import { EXPLAIN_METHODS, Explainer, MethodUnavailableError, parseMethod, type ExplainMethod, type ExplainRequest } from '../../explain/explainer.js';
import { explainLibrary } from '../../explain/explainLibrary.js';
import { evaluateMethods, boxesByFileName, type MetricImage } from '../../explain/explainMetrics.js';
import { loadInputImage } from '../../explain/inputImage.js';
import { renderOverlay, overlayFormatFor, COLORMAPS, type Colormap } from '../../explain/overlay.js';
import { imagePaths, resolveOneImage } from '../../analysis/neighbors.js';
import { terminalProgress } from '../progressBar.js';
import { collect, interruptible, openDb, positiveInt, positiveNumber, printJson, unitFraction } from '../options.js';

interface ExplainOpts {
  model: string;
  card?: string;
  preset?: PresetName;
  db?: string;
  method: string;
  layer?: string;
  target: string;
  out?: string;
  overlay?: string;
  opacity: number;
  colormap: Colormap;
  json?: boolean;
  ep: ProviderChoice;
  checkGradients?: boolean;
  numeric?: boolean;
  batch?: number;
  masks?: number;
  grid?: number;
  keep?: number;
  window?: number;
  stride?: number;
  steps?: number;
  baseline?: 'black' | 'zero';
  samples?: number;
  noise?: number;
  seed?: number;
  filter: string[];
  limit?: number;
  force?: boolean;
  metrics?: boolean;
  sample: number;
  truth?: string;
  metricSteps: number;
}

const fraction = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a number from 0 to 1 (got ${JSON.stringify(value)}).`);
  return n;
};

export function registerExplain(program: Command): void {
  program
    .command('explain [image]')
    .description(
      'Saliency maps: why does this image score what it does. With an image: one map (JSON, overlay PNG). With --db and no image: ' +
        'a resumable job over the library that stores maps for the UI. With --metrics: deletion/insertion AUC, average drop, ' +
        'and the pointing game (--truth) for one or more methods on a sample of the library.',
    )
    .requiredOption('--model <model>', 'a model file (.onnx; card from --card, --preset or <model>.card.json) or, with --db, a model added with `miru models add`')
    .option('--card <file>', 'card JSON for a model file')
    .option('--preset <name>', 'imagenet | clip | wd-tagger | deepghs-aesthetic, for a model file')
    .option('--db <path>', 'library database file')
    .requiredOption('--method <m>', `${EXPLAIN_METHODS.join(' | ')} (with --metrics: several, comma-separated)`)
    .option('--layer <tensor>', "a split-point tensor for CAM methods (default: the card's saliency.layer, else the last spatial or token split point)")
    .option('--target <t>', 'score | class:K | label:NAME | prob:K', 'score')
    .option('--out <file>', 'write the result JSON to a file')
    .option('--overlay <file>', 'one image: write the image with the map over it (.png, .jpg or .webp, by the extension)')
    .option('--opacity <x>', 'overlay opacity 0..1', fraction('--opacity'), 0.5)
    .option('--colormap <name>', `overlay colormap: ${Object.keys(COLORMAPS).join(' | ')}`, 'viridis')
    .option('--ep <provider>', 'execution provider: auto | cuda | webgpu | dml | coreml | cpu', 'auto')
    .option('--check-gradients', 'compare backward-graph Grad-CAM weights with central differences at the layer and report their agreement')
    .option('--numeric', 'gradcam / xgradcam: channel weights by central differences even where the backward graph exists')
    .option('--batch <n>', 'images per batch for perturbation, head and path runs', positiveInt('--batch'))
    .option('--masks <n>', 'RISE: number of masks (default 2000)', positiveInt('--masks'))
    .option('--grid <n>', 'RISE: mask grid size (default 7)', positiveInt('--grid'))
    .option('--keep <p>', 'RISE: probability a grid cell is kept, in (0, 1] (default 0.5)', unitFraction('--keep'))
    .option('--window <px>', 'occlusion: window side in input pixels (default 1/8 of the shorter side)', positiveInt('--window'))
    .option('--stride <px>', 'occlusion: stride in input pixels (default half the window)', positiveInt('--stride'))
    .option('--steps <n>', 'integrated-gradients: path steps (default 32)', positiveInt('--steps'))
    .option('--baseline <b>', 'integrated-gradients: zero (an all-zero tensor, default, as Captum) | black (black pixels)')
    .option('--samples <n>', 'smoothgrad: noisy samples (default 25)', positiveInt('--samples'))
    .option('--noise <x>', "smoothgrad: noise sd as a fraction of the input's range (default 0.15)", positiveNumber('--noise'))
    .option('--seed <n>', 'seed for RISE masks and SmoothGrad noise', positiveInt('--seed'))
    .option('--filter <expr>', 'library mode: repeatable image filter, as `miru list`', collect, [])
    .option('--limit <n>', 'library mode: at most this many images', positiveInt('--limit'))
    .option('--force', 'library mode: recompute maps already stored for this recipe')
    .option(
      '--metrics',
      'evaluate the method(s) on a sample of the library instead of storing maps; average drop is max(0, y - o) / (y - b) with b the score ' +
        'of the baseline image (every pixel removed), so it can exceed 100% when masking drops the score below b',
    )
    .option('--sample <n>', 'metrics: images to evaluate on', positiveInt('--sample'), 16)
    .option('--truth <file>', "metrics: a `miru synth` truth.json (or its folder): adds the pointing game on the subject boxes")
    .option('--metric-steps <n>', 'metrics: deletion/insertion steps', positiveInt('--metric-steps'), 50)
    .option('--json', 'print JSON')
    .action(async (image: string | undefined, opts: ExplainOpts) => {
      if (opts.baseline && opts.baseline !== 'black' && opts.baseline !== 'zero') throw new Error(`--baseline ${opts.baseline}: use black or zero`);
      if (!(opts.colormap in COLORMAPS)) throw new Error(`--colormap ${opts.colormap}: use ${Object.keys(COLORMAPS).join(', ')}`);
      const methods = opts.method.split(',').map(parseMethod);
      if (methods.length > 1 && !opts.metrics) throw new Error('--method takes one method, except with --metrics');
      const request = (method: ExplainMethod): ExplainRequest => ({
        method,
        layer: opts.layer,
        target: opts.target,
        batch: opts.batch,
        numeric: opts.numeric,
        rise: { masks: opts.masks, grid: opts.grid, keep: opts.keep, seed: opts.seed },
        occlusion: { window: opts.window, stride: opts.stride },
        steps: opts.steps,
        baseline: opts.baseline,
        samples: opts.samples,
        noise: opts.noise,
        seed: opts.seed,
      });
      // Overlays are drawn for one image; a job or a metrics run would drop the option without a word.
      if (opts.overlay && (!image || opts.metrics)) throw new Error('--overlay draws one map: give an image (miru explain <image> ... --overlay out.png); library maps are shown in the UI');
      if (opts.metrics) return runMetrics(opts, methods, request(methods[0]!));
      if (!image) return runLibrary(opts, request(methods[0]!));
      return runOne(image, opts, request(methods[0]!));
    });
}

async function openModel(opts: ExplainOpts, db: LibraryDb | null): Promise<{ explainer: Explainer; card: ModelCard; notices: string[] }> {
  const isFile = /\.onnx$/i.test(opts.model) || !db;
  if (isFile) {
    const resolved = await resolveModelFile(opts.model, { preset: opts.preset, cardFile: opts.card });
    // resolveModelFile falls back to a card guessed from the graph; a wrong guess gives a plausible wrong map.
    const guessed = !resolved.cardFile && !opts.preset;
    const sibling = `${path.basename(resolved.path, path.extname(resolved.path))}.card.json`;
    const notices = guessed ? [`no card for ${opts.model} (no --card, --preset or ${sibling}): assumed ${describeCard(resolved.card)}; give --card or --preset if that is wrong`] : [];
    return { explainer: Explainer.open(resolved.bytes, resolved.card, { ep: opts.ep, sourceName: resolved.path }), card: resolved.card, notices };
  }
  const model = getModel(db, opts.model);
  return { explainer: Explainer.open(await readVerifiedModel(model), model.card, { ep: opts.ep, sourceName: model.path }), card: model.card, notices: [] };
}

/** A card in the words `models add` uses. */
function describeCard(card: ModelCard): string {
  const { input, outputs } = card;
  const norm = input.mean.every((m) => m === 0) && input.std.every((s) => s === 1) ? `pixels / ${input.scale}` : `mean ${input.mean.join(',')} std ${input.std.join(',')}`;
  return `${input.layout} ${input.size.join('x')} ${input.channels} (${input.resize}, ${norm}), score: ${outputs.score?.name ?? '-'} ${outputs.score?.kind ?? ''}`.trim();
}

async function runOne(image: string, opts: ExplainOpts, request: ExplainRequest): Promise<void> {
  const db = opts.db ? openDb(opts.db, 'existing') : null;
  try {
    const overlayFormat = opts.overlay ? overlayFormatFor(opts.overlay) : undefined; // refuse a bad name before the work
    const { explainer, card, notices: modelNotices } = await openModel(opts, db);
    try {
      const file = await imageFile(image, db);
      const bytes = await readImage(file);
      const input = await loadInputImage(bytes, card, file);
      const result = await explainer.explain(input, request);
      let check;
      try {
        check = opts.checkGradients ? await explainer.checkGradients(input, result.layer === 'input' ? request.layer : result.layer, request.target) : undefined;
      } catch (error) {
        if (error instanceof MethodUnavailableError) throw new Error(`--check-gradients: ${error.message}`);
        throw error;
      }
      const notices = [...modelNotices, ...explainer.notices, ...(result.notice ? [result.notice] : [])];
      const json = {
        method: result.method,
        layer: result.layer,
        target: result.target,
        score: result.score,
        grid: result.grid,
        raw: Array.from(result.raw),
        map: Array.from(result.map),
        elapsedMs: Math.round(result.elapsedMs * 10) / 10,
        ep: explainer.provider,
        ...(result.gradients ? { gradients: result.gradients } : {}),
        ...(check ? { gradientCheck: check } : {}),
        ...(notices.length ? { notices } : {}),
        ...(explainer.providerFallbacks.length ? { fallbackReasons: explainer.providerFallbacks } : {}),
      };
      if (opts.out) await writeOutput(opts.out, `${JSON.stringify(json)}\n`);
      if (opts.overlay) await writeOutput(opts.overlay, await renderOverlay(bytes, result.map, result.grid, card.input, { opacity: opts.opacity, colormap: opts.colormap, format: overlayFormat }));
      if (opts.json) printJson(json);
      else {
        for (const notice of notices) console.error(`note: ${notice}`);
        console.log(`${result.method} on ${result.layer} for ${result.target} = ${result.score.toFixed(4)}: ${result.grid[0]}x${result.grid[1]} map in ${json.elapsedMs} ms on ${explainer.provider}${result.gradients ? ` (${result.gradients})` : ''}.`);
        if (check) console.log(`gradient check at ${check.layer}: ${check.channels} channel weights, Pearson ${check.pearson.toFixed(6)}, largest difference ${(check.maxRelativeDifference * 100).toFixed(3)}% of the largest weight.`);
        if (opts.out) console.log(`map: ${opts.out}`);
        if (opts.overlay) console.log(`overlay: ${opts.overlay}`);
      }
    } finally {
      await explainer.close();
    }
  } finally {
    db?.close();
  }
}

/**
 * The file to explain. With --db, a name that is no file is resolved as other commands resolve images
 * (relative path, content hash, id).
 */
async function imageFile(image: string, db: LibraryDb | null): Promise<string> {
  if (!db || (await fs.stat(image).then((s) => s.isFile(), () => false))) return image;
  const id = resolveOneImage(db, image);
  return imagePaths(db, [id]).get(id)!;
}

/** Writes an output file, creating its folder. */
async function writeOutput(file: string, data: string | Buffer): Promise<void> {
  try {
    await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await fs.writeFile(file, data);
  } catch (error) {
    throw new Error(`Cannot write ${file}: ${(error as Error).message}`);
  }
}

async function readImage(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`Cannot read image ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

async function runLibrary(opts: ExplainOpts, request: ExplainRequest): Promise<void> {
  if (!opts.db) throw new Error('Give an image to explain, or --db to explain the images of a library.');
  const db = openDb(opts.db, 'existing');
  const bar = terminalProgress();
  const stop = interruptible();
  try {
    const summary = await explainLibrary(db, opts.model, request, {
      filters: opts.filter.map(parseFilter),
      limit: opts.limit,
      force: opts.force,
      ep: opts.ep,
      onProgress: throttleProgress(bar.listener),
      signal: stop.signal,
    });
    bar.stop();
    if (opts.json) printJson(summary);
    else {
      for (const notice of summary.notices) console.error(`note: ${notice}`);
      console.log(`${summary.method} on ${summary.layer} for ${summary.target} with ${summary.model} (${summary.ep ?? 'no provider started'}): ${summary.explained} maps stored, ${summary.skipped} already stored, ${summary.failed} failed, ${summary.imagesPerSecond} images/s${summary.interrupted ? ' (interrupted; rerun to resume)' : ''}.`);
      for (const f of summary.failures.slice(0, 10)) console.log(`  failed ${f.path}: ${f.error}`);
    }
  } finally {
    stop.dispose();
    bar.stop();
    db.close();
  }
}

async function runMetrics(opts: ExplainOpts, methods: ExplainMethod[], base: ExplainRequest): Promise<void> {
  if (!opts.db) throw new Error('--metrics evaluates methods on a sample of a library: give --db');
  const db = openDb(opts.db, 'existing');
  try {
    const { explainer, notices } = await openModel(opts, db);
    try {
      let boxes: Map<string, PixelBox> | undefined;
      if (opts.truth) {
        const folder = opts.truth.endsWith('.json') ? path.dirname(opts.truth) : opts.truth;
        boxes = boxesByFileName(await readSynthTruth(folder));
      }
      const page = queryImages(db, { filters: [{ kind: 'status', status: 'ok' }, ...opts.filter.map(parseFilter)], limit: opts.sample });
      const images: MetricImage[] = page.items.map((row) => ({ path: row.path, width: row.width ?? 0, height: row.height ?? 0, box: boxes?.get(path.basename(row.path)) }));
      if (boxes && !images.some((i) => i.box)) throw new Error(`none of the sampled images is named in ${opts.truth}; is it the truth.json of this library's images?`);
      const { method: _first, ...shared } = base;
      const { methods: results, skipped } = await evaluateMethods(explainer, images, methods, shared, { steps: opts.metricSteps, batch: opts.batch });
      // The layer the CAM methods actually used (the default when --layer is not given); "input" when none is a CAM.
      const layer = results.find((r) => r.layer !== 'input')?.layer ?? 'input';
      const json = { model: opts.model, target: base.target ?? 'score', layer, ep: explainer.provider, images: images.length, methods: results, ...(skipped.length ? { skipped } : {}), ...(notices.length ? { notices } : {}) };
      if (opts.json) printJson(json);
      else {
        for (const notice of [...notices, ...explainer.notices]) console.error(`note: ${notice}`);
        console.log(`${images.length} images, target ${json.target}, layer ${layer}, ${explainer.provider}`);
        console.log('method                 deletion AUC  insertion AUC  avg drop %¹  increase %  pointing game²       ms/image');
        for (const r of results) {
          const pg = r.pointingGame ? `${(r.pointingGame.hitRate * 100).toFixed(1)}% (${r.pointingGame.hits}/${r.pointingGame.total}${r.pointingGame.flat ? `, ${r.pointingGame.flat} flat` : ''})` : '-';
          console.log(`${r.method.padEnd(22)} ${r.deletionAuc.toFixed(4).padStart(12)}  ${r.insertionAuc.toFixed(4).padStart(13)}  ${r.averageDrop.toFixed(2).padStart(11)}  ${r.increaseInConfidence.toFixed(1).padStart(10)}  ${pg.padStart(19)}  ${r.meanMs.toFixed(0).padStart(8)}`);
        }
        for (const s of skipped) console.log(`${s.method.padEnd(22)} skipped: ${s.reason}`);
        console.log('¹ max(0, y - o) / (y - b), b the score of the baseline image (every pixel removed): above 100% when masking drops the score below b.');
        if (results.some((r) => r.pointingGame)) console.log('² flat maps (all zero after ReLU) point nowhere and count as misses.');
      }
    } finally {
      await explainer.close();
    }
  } finally {
    db.close();
  }
}
