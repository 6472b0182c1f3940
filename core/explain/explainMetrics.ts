/**
 * Faithfulness and sanity of explanation methods on the same images (issue 4): deletion and insertion AUC (RISE
 * protocol), average drop and increase in confidence (Grad-CAM++), and, where the subject box is known (a
 * `miru synth` dataset's truth.json), the pointing-game hit rate. Methods and models are compared image for
 * image, so differences come from the methods, not the sample.
 */
import path from 'node:path';
import type { PixelBox } from '../synth/renderIllustration.js';
import { MethodUnavailableError, type Explainer, type ExplainMethod, type ExplainRequest } from './explainer.js';
import { MissingGradientRulesError } from './gradientGraph.js';
import { parseTarget } from './explainTargets.js';
import { loadInputImage } from './inputImage.js';
import { confidenceChange, deletionInsertion, type FaithfulnessCase } from './faithfulness.js';
import { pointingGameHit, pointingGameSummary, type PointingGameSummary } from './pointingGame.js';

export interface MetricImage {
  path: string;
  width: number;
  height: number;
  /** The subject's box in original pixels, when known. */
  box?: PixelBox;
}

export interface MethodMetrics {
  method: ExplainMethod;
  /** The layer the maps were taken at ("input" for input-gradient and perturbation methods). */
  layer: string;
  images: number;
  /** Mean area under the deletion curve (lower is better: the score falls fast when salient pixels go). */
  deletionAuc: number;
  /** Mean area under the insertion curve (higher is better). */
  insertionAuc: number;
  /**
   * Mean percent drop of the score when the image is masked by its map (lower is better):
   * max(0, y - o) / (y - b) with b the score of the baseline image (every pixel removed), not / y as in
   * Grad-CAM++, whose scores are probabilities with b = 0. For a logit or an ordinal score b is the score's
   * "no evidence" level, so a masked score below it (o < b) makes the drop exceed 100%.
   */
  averageDrop: number;
  /** Percent of images whose masked score beats the original (higher is better). */
  increaseInConfidence: number;
  pointingGame: PointingGameSummary | null;
  meanMs: number;
}

export interface MetricOptions {
  /** Deletion/insertion steps (default 50). */
  steps?: number;
  /** Pointing-game tolerance in original pixels (default 15, as Zhang et al.). */
  tolerance?: number;
  batch?: number;
}

export interface MetricsReport {
  methods: MethodMetrics[];
  /** Methods the model cannot run (an operator without a gradient rule), with why; the others are still compared. */
  skipped: { method: ExplainMethod; reason: string }[];
}

export async function evaluateMethods(explainer: Explainer, images: MetricImage[], methods: ExplainMethod[], base: Omit<ExplainRequest, 'method'>, options: MetricOptions = {}): Promise<MetricsReport> {
  if (!images.length) throw new Error('no images to evaluate the methods on');
  const card = explainer.card;
  const target = parseTarget(base.target ?? 'score', card);
  const scorer = explainer.inputScorer(target);
  const inputs = await Promise.all(images.map((image) => loadInputImage(image.path, card)));
  // "No evidence" for average drop: the score of the baseline image (every pixel removed, as deletion ends),
  // whatever the score's units.
  const first = inputs[0]!;
  const plane = first.height * first.width;
  const baseline = Float32Array.from({ length: first.tensor.length }, (_, i) => first.baseline[first.layout === 'NCHW' ? Math.floor(i / plane) : i % 3]!);
  const reference = (await scorer([baseline]))[0]!;
  const results: MethodMetrics[] = [];
  const skipped: MetricsReport['skipped'] = [];
  methods: for (const method of methods) {
    const cases: FaithfulnessCase[] = [];
    const pointing = [];
    let totalMs = 0;
    let layer = 'input';
    for (const [i, input] of inputs.entries()) {
      let result;
      try {
        result = await explainer.explain(input, { ...base, method });
      } catch (error) {
        // One method the model cannot run (HiResCAM without a rule, say) must not cost the whole comparison.
        if (!(error instanceof MethodUnavailableError || error instanceof MissingGradientRulesError)) throw error;
        skipped.push({ method, reason: error.message });
        continue methods;
      }
      layer = result.layer;
      totalMs += result.elapsedMs;
      cases.push({ input, map: result.map, grid: result.grid });
      const image = images[i]!;
      if (image.box) pointing.push(pointingGameHit(result.map, result.grid, image.box, { width: image.width, height: image.height }, card.input, options.tolerance ?? 15));
    }
    const causal = await deletionInsertion(cases, scorer, { steps: options.steps ?? 50, batch: options.batch });
    const confidence = await confidenceChange(cases, scorer, { reference, batch: options.batch });
    results.push({
      method,
      layer,
      images: inputs.length,
      deletionAuc: causal.deletion.meanAuc,
      insertionAuc: causal.insertion.meanAuc,
      averageDrop: confidence.averageDrop,
      increaseInConfidence: confidence.increaseInConfidence,
      pointingGame: pointing.length ? pointingGameSummary(pointing) : null,
      meanMs: totalMs / inputs.length,
    });
  }
  return { methods: results, skipped };
}

/** Subject boxes from a synth dataset's truth.json, matched to library images by file name. */
export function boxesByFileName(truth: { images: { file: string; subjectBox: PixelBox }[] }): Map<string, PixelBox> {
  return new Map(truth.images.map((image) => [path.basename(image.file), image.subjectBox]));
}
