/**
 * npm run bench:explain — what an explanation costs relative to one forward pass of the same model on the same
 * provider, measured in the same run: Grad-CAM on a backward graph (goal: at most 3x a forward pass), Grad-CAM
 * with central-difference weights (the numeric fallback), Score-CAM and RISE with 2,000 masks.
 * Models: the two bundled ones and a ConvNeXt-Tiny-size model at 448 px with random weights, generated here by
 * scripts/models/make_convnext_tiny.py with Debian's torch. MIRU_BENCH_MODELS=name,name runs a subset;
 * MIRU_BENCH_RISE_MASKS lowers the mask count for a quick look (the goal figures use 2000).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveModelFile } from '../core/models/modelRegistry.js';
import { Explainer, type ExplainRequest } from '../core/explain/explainer.js';
import { loadInputImage } from '../core/explain/inputImage.js';
import { generateSynthDataset } from '../core/synth/generateDataset.js';
import type { ProviderChoice } from '../core/models/executionProviders.js';
import { BENCH_DIR, REPO_ROOT, ensureConvnextTiny, heading, median, now, printTable } from './benchUtil.js';

interface Case {
  name: string;
  file: string;
  preset?: 'deepghs-aesthetic';
  card?: string;
  /** Timed repeats of the cheap measurements (forward, backward Grad-CAM). */
  repeats: number;
}

async function main(): Promise<void> {
  const ep = (process.env.MIRU_BENCH_EP ?? 'auto') as ProviderChoice;
  const masks = Number(process.env.MIRU_BENCH_RISE_MASKS ?? 2000);
  mkdirSync(BENCH_DIR, { recursive: true });
  const tiny = ensureConvnextTiny();
  const tinyCard = path.join(BENCH_DIR, 'convnext-tiny-448.card.json');
  // deepghs-aesthetic preprocessing (448 px stretch); the random model's 'logits' read as 7 ordinal classes.
  if (!existsSync(tinyCard)) {
    writeFileSync(tinyCard, JSON.stringify({ name: 'convnext-tiny-448', outputs: { score: { name: 'logits', kind: 'ordinal', activation: 'softmax' } } }));
  }
  const cases: Case[] = [
    { name: 'miru-convnext-s', file: path.join(REPO_ROOT, 'assets/models/miru-convnext-s.onnx'), repeats: 20 },
    { name: 'miru-vit-s', file: path.join(REPO_ROOT, 'assets/models/miru-vit-s.onnx'), repeats: 20 },
    { name: 'convnext-tiny-448', file: tiny, preset: 'deepghs-aesthetic', card: tinyCard, repeats: 5 },
  ];
  const only = process.env.MIRU_BENCH_MODELS?.split(',').map((n) => n.trim());
  const selected = only ? cases.filter((c) => only.includes(c.name)) : cases;

  const data = path.join(BENCH_DIR, 'explain-data');
  if (!existsSync(path.join(data, 'truth.json'))) await generateSynthDataset(data, { images: 4, raters: 3, seed: 21, size: 512 });
  const imageFile = path.join(data, 'images', readFileSync(path.join(data, 'truth.json'), 'utf8').match(/"file":\s*"([^"]+)"/)![1]!);

  const rows: string[][] = [['model', 'layer', 'ep', 'forward ms', 'Grad-CAM ms', 'ratio', 'goal <= 3x', 'numeric Grad-CAM ms', 'ratio', 'Score-CAM ms', 'ratio', `RISE ${masks} ms`, 'ratio', 'first Grad-CAM (build) ms']];
  for (const c of selected) {
    const { bytes, card } = await resolveModelFile(c.file, { preset: c.preset, cardFile: c.card, name: c.name });
    const explainer = Explainer.open(bytes, card, { ep });
    try {
      const image = await loadInputImage(imageFile, card);
      const layer = await explainer.defaultLayer();
      const scorer = explainer.inputScorer('score');
      const time = async (repeats: number, run: () => Promise<unknown>) => {
        const times: number[] = [];
        for (let i = 0; i < repeats; i++) {
          const started = now();
          await run();
          times.push(now() - started);
        }
        return median(times);
      };
      await scorer([image.tensor]); // warm-up: session creation and the first run's allocations
      const forward = await time(c.repeats, () => scorer([image.tensor]));
      const request: ExplainRequest = { method: 'gradcam', layer };
      const build = await time(1, () => explainer.explain(image, request)); // builds and warms the backward graph
      const gradcam = await time(c.repeats, () => explainer.explain(image, request));
      await explainer.explain(image, { ...request, numeric: true });
      const numeric = await time(Math.max(1, Math.round(c.repeats / 5)), () => explainer.explain(image, { ...request, numeric: true }));
      await explainer.explain(image, { method: 'eigencam', layer }); // forward model with the layer output, warmed
      const scorecam = await time(1, () => explainer.explain(image, { method: 'scorecam', layer, batch: 16 }));
      const rise = await time(1, () => explainer.explain(image, { method: 'rise', rise: { masks }, batch: 16 }));
      const ratio = (ms: number) => `${(ms / forward).toFixed(1)}x`;
      rows.push([c.name, layer, explainer.provider ?? '-', forward.toFixed(1), gradcam.toFixed(1), ratio(gradcam), gradcam / forward <= 3 ? 'met' : 'MISSED', numeric.toFixed(1), ratio(numeric), scorecam.toFixed(0), ratio(scorecam), rise.toFixed(0), ratio(rise), build.toFixed(0)]);
      console.log(`${c.name}: done`);
    } finally {
      await explainer.close();
    }
  }
  heading('bench:explain');
  printTable(rows);
  console.log('forward = the model with its score target, one image, in the worker pool (median of repeats, after a warm-up)');
  console.log('Grad-CAM = one explain() call on the backward graph: forward to the layer and the head, backward through the head, CAM arithmetic');
  console.log('numeric = the same map with channel weights from central differences through the head (2 head runs per channel, batched)');
  console.log('first Grad-CAM = building the backward graph (one probe run) and starting its session; paid once per model, layer and target');
}

main().catch((error: Error) => {
  console.error(`bench:explain failed: ${error.message}`);
  process.exitCode = 1;
});
