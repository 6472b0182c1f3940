/**
 * Explains one model's scores (issue 4). The Explainer owns the ONNX side: the derived models each method needs
 * (the model with its target appended; a backward graph for a layer or the input; the head after a layer), each
 * built once and run in worker threads on the chosen execution provider. The methods themselves are plain
 * arithmetic in camMethods.ts, forwardCams.ts, perturbationMethods.ts and numericGradients.ts.
 */
import { clone } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DataType, type ModelProto } from 'onnx-buf';
import { performance } from 'node:perf_hooks';
import type { ModelCard } from '../models/modelCard.js';
import { InferencePool } from '../models/inferencePool.js';
import { inferSplittingOnOutOfMemory } from '../models/libraryInference.js';
import type { ProviderChoice } from '../models/executionProviders.js';
import type { Feeds } from '../models/inferenceMessages.js';
import { loadOnnxModel, saveOnnxModel } from '../models/onnx/onnxModel.js';
import { indexGraph } from '../models/onnx/graphIndex.js';
import { computeDominators } from '../models/onnx/splitPoints.js';
import { splitAtTensor } from '../models/onnx/editGraph.js';
import { tensorValueInfo } from '../models/onnx/tensorTypes.js';
import { inspectModel } from '../models/onnx/inspectModel.js';
import { GraphBuilder } from './graphBuilder.js';
import { appendTargetNodes, formatTarget, parseTarget, type ExplainTarget } from './explainTargets.js';
import { buildGradientModel, defaultOpset, MissingGradientRulesError, withNamedOutputs, type GradientModel } from './gradientGraph.js';
import { pearson } from '../analysis/correlation.js';
import { SeededRandom } from '../synth/random.js';
import { probeInWorker } from './probeRunner.js';
import { layerLayout, layerSize, mapGrid, toActivationMap, fromActivationMap, type LayerLayout } from './layerMaps.js';
import { GRADIENT_CAMS, gradientCam, type GradientCam } from './camMethods.js';
import { channelSumsByDifferences, weightsFromSums } from './numericGradients.js';
import { ablationCam, eigenCam, scoreCam } from './forwardCams.js';
import { occlusion, rise, type OcclusionOptions, type RiseOptions } from './perturbationMethods.js';
import { reluMinMax, weightedSum } from './saliencyMaps.js';
import { ExplainSetupError, type InputImage, type InputScorer, type RawMap } from './explainTypes.js';
import { blackPixel } from './inputImage.js';

export const INPUT_GRADIENT_METHODS = ['gradients', 'integrated-gradients', 'smoothgrad'] as const;
export const FORWARD_CAMS = ['ablationcam', 'scorecam', 'eigencam'] as const;
export const PERTURBATION_METHODS = ['occlusion', 'rise'] as const;
export const EXPLAIN_METHODS = [...GRADIENT_CAMS, ...FORWARD_CAMS, ...PERTURBATION_METHODS, ...INPUT_GRADIENT_METHODS] as const;
export type ExplainMethod = (typeof EXPLAIN_METHODS)[number];

export function parseMethod(text: string): ExplainMethod {
  const method = text.trim().toLowerCase();
  if (!(EXPLAIN_METHODS as readonly string[]).includes(method)) throw new Error(`unknown method ${text}; methods: ${EXPLAIN_METHODS.join(', ')}`);
  return method as ExplainMethod;
}

/** Whether a method reads a layer (the CAM family) rather than the input. */
export const usesLayer = (method: ExplainMethod) => (GRADIENT_CAMS as readonly string[]).includes(method) || (FORWARD_CAMS as readonly string[]).includes(method);

/**
 * A method that needs gradients the model's backward graph cannot give (an operator without a rule): the method
 * is unavailable on this model, whatever the image; `missing` names the operators.
 */
export class MethodUnavailableError extends ExplainSetupError {
  constructor(message: string, readonly missing: MissingGradientRulesError) {
    super(message, { cause: missing });
  }
}

export interface MethodOptions {
  /** Images per perturbation/head batch (occlusion, RISE, Score-CAM, Ablation-CAM, numeric differences). */
  batch?: number;
  occlusion?: OcclusionOptions;
  rise?: RiseOptions;
  /** Integrated gradients: path steps (default 32) and baseline (an all-zero tensor as Captum's default, or black pixels). */
  steps?: number;
  baseline?: 'black' | 'zero';
  /** SmoothGrad: samples (default 25) and noise as a fraction of the input's value range (default 0.15). */
  samples?: number;
  noise?: number;
  seed?: number;
  /** Grad-CAM / XGrad-CAM weights by central differences even where every operator has a rule. */
  numeric?: boolean;
}

export interface ExplainRequest extends MethodOptions {
  method: ExplainMethod;
  /** A split-point tensor (CAM family); default: the card's saliency.layer, else the last spatial or token split point. */
  layer?: string;
  /** score (default), class:K, label:NAME or prob:K. */
  target?: string;
}

export interface SaliencyResult {
  method: ExplainMethod;
  /** The layer for CAM methods; "input" for input-gradient and perturbation methods. */
  layer: string;
  target: string;
  /** The target's value for the unmodified image. */
  score: number;
  grid: [number, number];
  /** Before ReLU and normalisation, row-major at grid resolution. */
  raw: Float32Array;
  /** The final 0-1 map at the same resolution. */
  map: Float32Array;
  elapsedMs: number;
  /** How gradients were obtained, for gradient methods. */
  gradients?: 'backward-graph' | 'central-differences';
  /** Said when the map shows nothing (all zeros after ReLU), so an empty overlay is not mistaken for a bug. */
  notice?: string;
}

export interface Derived {
  pool: InferencePool;
  outputs: string[];
}

export class Explainer {
  private readonly derived = new Map<string, Promise<Derived>>();
  private readonly layerShapes = new Map<string, Promise<number[]>>();
  private defaultLayerName: Promise<string> | null = null;
  /** Messages said once per explainer (a numeric fallback, say), for the CLI and the UI to show. */
  readonly notices: string[] = [];
  private providerUsed: string | null = null;
  private readonly fallbackReasons = new Set<string>();

  private constructor(
    private readonly model: ModelProto,
    private readonly bytes: Uint8Array,
    readonly card: ModelCard,
    private readonly ep: ProviderChoice,
  ) {}

  static open(bytes: Uint8Array, card: ModelCard, options: { ep?: ProviderChoice; sourceName?: string } = {}): Explainer {
    return new Explainer(loadOnnxModel(bytes, options.sourceName), bytes, card, options.ep ?? 'auto');
  }

  /** The execution provider the derived models run on (after any fallback), once one has started. */
  get provider(): string | null {
    return this.providerUsed;
  }

  get providerFallbacks(): string[] {
    return [...this.fallbackReasons];
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.derived.values());
    this.derived.clear();
    await Promise.all(all.map((d) => (d.status === 'fulfilled' ? d.value.pool.close() : undefined)));
  }

  /** The layer a CAM method uses when none is named: the card's, else the last spatial or token split point. */
  async defaultLayer(): Promise<string> {
    if (this.card.saliency?.layer) return this.card.saliency.layer;
    this.defaultLayerName ??= (async () => {
      const info = await inspectModel(this.bytes, { output: this.card.outputs.score?.name, saliency: this.card.saliency });
      const candidates = info.layers.filter((l) => l.kind === 'spatial' || l.kind === 'tokens');
      if (!candidates.length) throw new ExplainSetupError(`${this.card.name} has no spatial or token split point to explain at; name one with --layer (see miru models inspect)`);
      return candidates[candidates.length - 1]!.name;
    })();
    return this.defaultLayerName;
  }

  /** Checks that `layer` is a split point of the score output, with the valid ones near it in the error. */
  validateLayer(layer: string): void {
    const index = indexGraph(this.model.graph!);
    const output = this.scoreOutput();
    if (computeDominators(index).splitPointsFor(output).includes(layer)) return;
    splitAtTensor(this.model, layer, { output }); // throws SplitPointError listing valid layers near it
  }

  async layout(layer: string): Promise<LayerLayout> {
    return layerLayout(layer, await this.layerShape(layer), this.card.saliency, this.card.input.layout);
  }

  async explain(image: InputImage, request: ExplainRequest): Promise<SaliencyResult> {
    const started = performance.now();
    const target = parseTarget(request.target ?? 'score', this.card);
    const method = request.method;
    let layer = 'input';
    let raw: RawMap;
    let score: number;
    let gradients: SaliencyResult['gradients'];
    if (usesLayer(method)) {
      layer = request.layer ?? (await this.defaultLayer());
      this.validateLayer(layer);
      const layout = await this.layout(layer);
      if ((GRADIENT_CAMS as readonly string[]).includes(method)) {
        ({ raw, score, gradients } = await this.gradientCam(method as GradientCam, image, layer, layout, target, request));
      } else {
        const forward = await this.forward(image, target, layer);
        score = forward.score;
        const acts = toActivationMap(forward.layer!, layout, 0);
        if (method === 'eigencam') raw = eigenCam(acts);
        else if (method === 'scorecam') raw = await scoreCam(image, acts, this.inputScorer(target), { batch: request.batch });
        else {
          const head = this.layerScorer(layer, layout, target);
          raw = await ablationCam(acts, score, (maps) => head(maps.map((m) => fromActivationMap(m, forward.layer!, layout))), { batch: request.batch });
        }
      }
    } else if ((PERTURBATION_METHODS as readonly string[]).includes(method)) {
      score = (await this.forward(image, target)).score;
      const scorer = this.inputScorer(target);
      raw = method === 'rise' ? await rise(image, scorer, { ...request.rise, batch: request.batch ?? request.rise?.batch }) : await occlusion(image, scorer, { ...request.occlusion, batch: request.batch ?? request.occlusion?.batch });
    } else {
      ({ raw, score } = await this.inputGradientMap(method as (typeof INPUT_GRADIENT_METHODS)[number], image, target, request));
      gradients = 'backward-graph';
    }
    const map = reluMinMax(raw.raw);
    const notice = emptyMapNotice(raw.raw, map, layer);
    return {
      method,
      layer,
      target: formatTarget(target),
      score,
      grid: raw.grid,
      raw: raw.raw,
      map,
      elapsedMs: performance.now() - started,
      ...(gradients ? { gradients } : {}),
      ...(notice ? { notice } : {}),
    };
  }

  /** Scores batches of input tensors for a target (the forward model with the target appended). */
  inputScorer(targetSpec: ExplainTarget | string): InputScorer {
    const target = typeof targetSpec === 'string' ? parseTarget(targetSpec, this.card) : targetSpec;
    return async (tensors) => {
      if (!tensors.length) return new Float32Array(0);
      const derived = await this.forwardModel(target);
      return scoreSplittingOnOutOfMemory(derived, tensors, (batch) => this.inputFeeds(batch));
    };
  }

  /** The target's gradient with respect to the input tensor, in the card's layout (input-gradient methods' raw material). */
  async inputGradient(image: InputImage, targetText = 'score'): Promise<{ score: number; gradient: Float32Array }> {
    const { scores, grads } = await this.inputGradients([image.tensor], parseTarget(targetText, this.card), 1);
    return { score: scores[0]!, gradient: grads };
  }

  /**
   * Backward graph against central differences for the Grad-CAM channel weights at a layer: how well the two
   * agree (Pearson r, and the largest difference relative to the largest weight).
   */
  async checkGradients(image: InputImage, layerName: string | undefined, targetText = 'score'): Promise<{ layer: string; channels: number; pearson: number; maxRelativeDifference: number }> {
    const target = parseTarget(targetText, this.card);
    const layer = layerName ?? (await this.defaultLayer());
    this.validateLayer(layer);
    const layout = await this.layout(layer);
    let backward: Awaited<ReturnType<Explainer['backwardAt']>>;
    try {
      backward = await this.backwardAt(image, layer, layout, target);
    } catch (error) {
      if (!(error instanceof MissingGradientRulesError)) throw error;
      // The check compares the backward graph with differences; without the graph there is nothing to compare.
      throw new MethodUnavailableError(`checking gradients at ${layer} needs the backward graph, which cannot be built: ${error.message}. Choose a layer after the ${[...new Set(error.operators.map((o) => o.opType))].join(', ')} node (see miru models inspect), or drop the check (gradcam and xgradcam fall back to central differences)`, error);
    }
    const plane = backward.acts.height * backward.acts.width;
    const analytic = new Float64Array(backward.acts.channels);
    for (let k = 0; k < analytic.length; k++) {
      let s = 0;
      for (let i = k * plane; i < (k + 1) * plane; i++) s += backward.grads.data[i]!;
      analytic[k] = s;
    }
    const numeric = await channelSumsByDifferences(backward.layer, layout, this.layerScorer(layer, layout, target), 'shift');
    let maxAbs = 0;
    let maxDiff = 0;
    for (let k = 0; k < analytic.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(analytic[k]!));
      maxDiff = Math.max(maxDiff, Math.abs(analytic[k]! - numeric[k]!));
    }
    return { layer, channels: analytic.length, pearson: pearson(Array.from(analytic), Array.from(numeric)), maxRelativeDifference: maxAbs > 0 ? maxDiff / maxAbs : maxDiff };
  }

  // ------------------------------------------------------------------------------------------ gradient CAMs

  private async gradientCam(method: GradientCam, image: InputImage, layer: string, layout: LayerLayout, target: ExplainTarget, request: MethodOptions): Promise<{ raw: RawMap; score: number; gradients: SaliencyResult['gradients'] }> {
    const grid = mapGrid(layout);
    if (!request.numeric) {
      try {
        const backward = await this.backwardAt(image, layer, layout, target);
        return { raw: { grid, raw: gradientCam(method, backward.acts, backward.grads) }, score: backward.score, gradients: 'backward-graph' };
      } catch (error) {
        if (!(error instanceof MissingGradientRulesError)) throw error;
        if (method !== 'gradcam' && method !== 'xgradcam') {
          throw new MethodUnavailableError(`${method} needs the gradient at every position, but ${error.message}. Use gradcam or xgradcam (their channel weights fall back to central differences) or a forward-only method (ablationcam, scorecam, eigencam, occlusion, rise)`, error);
        }
        this.notice(`${error.message}; ${method} weights come from central differences through the head instead`);
      }
    }
    const forward = await this.forward(image, target, layer);
    const acts = toActivationMap(forward.layer!, layout, 0);
    const sums = await channelSumsByDifferences(forward.layer!, layout, this.layerScorer(layer, layout, target), method === 'gradcam' ? 'shift' : 'scale', request.batch);
    return { raw: { grid, raw: weightedSum(acts, weightsFromSums(method as 'gradcam' | 'xgradcam', sums, acts)) }, score: forward.score, gradients: 'central-differences' };
  }

  private async backwardAt(image: InputImage, layer: string, layout: LayerLayout, target: ExplainTarget) {
    const derived = await this.gradientModel([layer], target, 1);
    const out = await derived.pool.run(this.inputFeeds([image.tensor]));
    const [targetName, layerName, gradName] = derived.outputs as [string, string, string];
    const layerValues = out[layerName]!.data as Float32Array;
    const gradValues = out[gradName]!.data as Float32Array;
    return {
      score: (out[targetName]!.data as Float32Array)[0]!,
      layer: layerValues,
      acts: toActivationMap(layerValues, layout, 0),
      grads: toActivationMap(gradValues, layout, 0),
    };
  }

  // ------------------------------------------------------------------------------------- input gradients

  private async inputGradientMap(method: (typeof INPUT_GRADIENT_METHODS)[number], image: InputImage, target: ExplainTarget, request: MethodOptions): Promise<{ raw: RawMap; score: number }> {
    const grid: [number, number] = [image.height, image.width];
    const per = image.tensor.length;
    if (method === 'gradients') {
      const { scores, grads } = await this.inputGradients([image.tensor], target, 1);
      return { raw: { grid, raw: pixelReduce(image, grads.subarray(0, per), 'max-abs') }, score: scores[0]! };
    }
    if (method === 'smoothgrad') {
      const samples = request.samples ?? 25;
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of image.tensor) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      const sigma = (request.noise ?? 0.15) * (hi - lo);
      const random = new SeededRandom(request.seed ?? 0);
      const noisy = Array.from({ length: samples }, () => image.tensor.map((v) => v + random.normal(0, sigma)));
      const { grads } = await this.inputGradients(noisy, target, Math.min(samples, 8));
      const mean = new Float32Array(per);
      for (let s = 0; s < samples; s++) for (let i = 0; i < per; i++) mean[i] += grads[s * per + i]! / samples;
      const score = (await this.forward(image, target)).score;
      return { raw: { grid, raw: pixelReduce(image, mean, 'max-abs') }, score };
    }
    // Integrated gradients (Sundararajan et al.) with the midpoint rule: (x - x0) * mean_s grad(x0 + (s - 0.5)/m (x - x0)).
    const steps = request.steps ?? 32;
    const baseline = request.baseline === 'black' ? blackTensor(image, this.card) : new Float32Array(image.tensor.length);
    const path = Array.from({ length: steps }, (_, s) => {
      const alpha = (s + 0.5) / steps;
      return image.tensor.map((v, i) => baseline[i]! + alpha * (v - baseline[i]!));
    });
    const { grads } = await this.inputGradients(path, target, Math.min(steps, 8));
    const attribution = new Float32Array(per);
    for (let s = 0; s < steps; s++) for (let i = 0; i < per; i++) attribution[i] += grads[s * per + i]!;
    for (let i = 0; i < per; i++) attribution[i] = (attribution[i]! / steps) * (image.tensor[i]! - baseline[i]!);
    const score = (await this.forward(image, target)).score;
    return { raw: { grid, raw: pixelReduce(image, attribution, 'sum') }, score };
  }

  /** The target's gradient with respect to the input for each tensor, in fixed-size batches (the last padded). */
  private async inputGradients(tensors: Float32Array[], target: ExplainTarget, batch: number): Promise<{ scores: Float32Array; grads: Float32Array }> {
    const inputName = this.inputName();
    let derived: Derived;
    try {
      derived = await this.gradientModel([inputName], target, batch);
    } catch (error) {
      if (error instanceof MissingGradientRulesError) {
        throw new MethodUnavailableError(`input-gradient methods need a rule for every operator of the model, but ${error.message}. Use a CAM method at a layer after that operator, or a forward-only method (occlusion, rise)`, error);
      }
      throw error;
    }
    const per = tensors[0]!.length;
    const scores = new Float32Array(tensors.length);
    const grads = new Float32Array(tensors.length * per);
    for (let start = 0; start < tensors.length; start += batch) {
      const chunk = tensors.slice(start, start + batch);
      while (chunk.length < batch) chunk.push(chunk[chunk.length - 1]!); // the graph's batch is fixed
      const out = await derived.pool.run(this.inputFeeds(chunk));
      const [targetName, gradName] = derived.outputs as [string, string];
      const n = Math.min(batch, tensors.length - start);
      scores.set((out[targetName]!.data as Float32Array).subarray(0, n), start);
      grads.set((out[gradName]!.data as Float32Array).subarray(0, n * per), start * per);
    }
    return { scores, grads };
  }

  // ------------------------------------------------------------------------------------- derived models

  private async forward(image: InputImage, target: ExplainTarget, layer?: string): Promise<{ score: number; layer?: Float32Array }> {
    const derived = await this.forwardModel(target, layer);
    const out = await derived.pool.run(this.inputFeeds([image.tensor]));
    return { score: (out[derived.outputs[0]!]!.data as Float32Array)[0]!, ...(layer ? { layer: out[derived.outputs[1]!]!.data as Float32Array } : {}) };
  }

  /** Scores batches of one-image layer tensors through the head after `layer`. */
  private layerScorer(layer: string, layout: LayerLayout, target: ExplainTarget): (layers: Float32Array[]) => Promise<Float32Array> {
    return async (layers) => {
      if (!layers.length) return new Float32Array(0);
      const derived = await this.cached(`head|${layer}|${formatTarget(target)}`, async () => {
        const shape = await this.layerShape(layer);
        const { head } = splitAtTensor(this.model, layer, { output: this.scoreOutput(), shape: ['batch', ...shape.slice(1)] });
        return this.withTarget(head, target, [], { [layer]: { type: 'float32', data: new Float32Array(layerSize(layout)), dims: [1, ...shape.slice(1)] } });
      });
      const per = layerSize(layout);
      const shape = await this.layerShape(layer);
      return scoreSplittingOnOutOfMemory(derived, layers, (batch) => {
        const data = new Float32Array(batch.length * per);
        batch.forEach((l, i) => data.set(l, i * per));
        return { [layer]: { type: 'float32', data, dims: [batch.length, ...shape.slice(1)] } };
      });
    };
  }

  private forwardModel(target: ExplainTarget, layer?: string): Promise<Derived> {
    return this.cached(`forward|${formatTarget(target)}|${layer ?? ''}`, () => this.withTarget(this.model, target, layer ? [layer] : []));
  }

  private gradientModel(wrt: string[], target: ExplainTarget, batch: number): Promise<Derived> {
    return this.cached(`gradient|${wrt.join(',')}|${formatTarget(target)}|${batch}`, async () => {
      const built: GradientModel = await buildGradientModel({
        model: this.model,
        inputDims: this.inputDims(batch),
        wrt,
        targetReads: this.scoreOutput(),
        probe: probeInWorker,
        appendTarget: (b, shapeOf) => appendTargetNodes(b, this.card, target, shapeOf(this.scoreOutput())),
      });
      const pool = await this.startPool(built.bytes);
      const inputName = this.inputName();
      return { pool, outputs: [built.target, ...built.tensors.filter((t) => t.name !== inputName).map((t) => t.name), ...built.tensors.map((t) => t.gradient)] };
    });
  }

  /** `model` with the target appended; outputs [target, ...extra]. */
  private async withTarget(model: ModelProto, target: ExplainTarget, extra: string[], probeFeeds?: Feeds): Promise<Derived> {
    const copy = clone(ModelProtoSchema, model);
    const graph = copy.graph!;
    const scoreName = this.scoreOutput();
    const measured = await probeInWorker(saveOnnxModel(withNamedOutputs(copy, [scoreName])), probeFeeds ?? this.imageProbeFeeds(), [scoreName]);
    const b = new GraphBuilder(graph, defaultOpset(copy), 'miru_target');
    const targetName = appendTargetNodes(b, this.card, target, measured[scoreName]!.dims);
    graph.output.splice(0, graph.output.length, tensorValueInfo(targetName, DataType.FLOAT), ...extra.map((name) => tensorValueInfo(name, DataType.FLOAT)));
    const pool = await this.startPool(saveOnnxModel(copy));
    return { pool, outputs: [targetName, ...extra] };
  }

  private async startPool(bytes: Uint8Array): Promise<InferencePool> {
    const pool = await InferencePool.create(bytes, { ep: this.providerUsed ? (this.providerUsed as ProviderChoice) : this.ep });
    this.providerUsed ??= pool.provider;
    for (const reason of pool.fallbackReasons) this.fallbackReasons.add(reason);
    return pool;
  }

  private cached(key: string, make: () => Promise<Derived>): Promise<Derived> {
    let entry = this.derived.get(key);
    if (!entry) {
      entry = make();
      this.derived.set(key, entry);
      entry.catch(() => this.derived.delete(key)); // a failed build is retried (or reported) next time
    }
    return entry;
  }

  private layerShape(layer: string): Promise<number[]> {
    let shape = this.layerShapes.get(layer);
    if (!shape) {
      shape = (async () => {
        const out = await probeInWorker(saveOnnxModel(withNamedOutputs(this.model, [layer])), this.imageProbeFeeds(), [layer]);
        const measured = out[layer];
        if (!measured) throw new ExplainSetupError(`no tensor named ${layer} in ${this.card.name}'s graph`);
        return measured.dims;
      })();
      this.layerShapes.set(layer, shape);
    }
    return shape;
  }

  /** A zero image at batch 1, to measure shapes with. */
  private imageProbeFeeds(): Feeds {
    const dims = this.inputDims(1);
    return { [this.inputName()]: { type: 'float32', data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims } };
  }

  private inputFeeds(tensors: Float32Array[]): Feeds {
    const per = tensors[0]!.length;
    const data = new Float32Array(tensors.length * per);
    tensors.forEach((t, i) => data.set(t, i * per));
    return { [this.inputName()]: { type: 'float32', data, dims: this.inputDims(tensors.length) } };
  }

  private inputDims(batch: number): number[] {
    const [h, w] = this.card.input.size;
    return this.card.input.layout === 'NCHW' ? [batch, 3, h, w] : [batch, h, w, 3];
  }

  private inputName(): string {
    return this.card.input.name;
  }

  private scoreOutput(): string {
    const spec = this.card.outputs.score;
    if (!spec) throw new ExplainSetupError(`${this.card.name}'s card has no outputs.score, so there is nothing to explain`);
    return spec.name;
  }

  private notice(message: string): void {
    if (!this.notices.includes(message)) this.notices.push(message);
  }
}

/**
 * Why a final map is all zeros, if it is: no raw value above zero (the usual case: Ablation-CAM or Score-CAM
 * where every change lowers the target), or a constant raw map, which min-max cannot scale.
 */
export function emptyMapNotice(raw: Float32Array, map: Float32Array, layer: string): string | undefined {
  if (map.some((v) => v > 0)) return undefined;
  const where = layer === 'input' ? 'in the input' : `at layer ${layer}`;
  if (raw.every((v) => !(v > 0))) return `the map is empty after ReLU: nothing ${where} raises the target (every raw value is <= 0), so the overlay is a flat tint; raw keeps the signed values`;
  return `the map is flat: every raw value ${where} is the same, so it points nowhere`;
}

/** Per-pixel reduction over channels of an input-layout attribution. */
function pixelReduce(image: InputImage, values: Float32Array, mode: 'max-abs' | 'sum'): Float32Array {
  const plane = image.height * image.width;
  const out = new Float32Array(plane);
  for (let p = 0; p < plane; p++) {
    let acc = mode === 'sum' ? 0 : -Infinity;
    for (let c = 0; c < 3; c++) {
      const v = image.layout === 'NCHW' ? values[c * plane + p]! : values[p * 3 + c]!;
      acc = mode === 'sum' ? acc + v : Math.max(acc, Math.abs(v));
    }
    out[p] = acc;
  }
  return out;
}

/** The input tensor of an all-black image under the card's normalisation. */
function blackTensor(image: InputImage, card: ModelCard): Float32Array {
  const black = blackPixel(card);
  const plane = image.height * image.width;
  return Float32Array.from({ length: image.tensor.length }, (_, i) => black[image.layout === 'NCHW' ? Math.floor(i / plane) : i % 3]!);
}

/**
 * One target score per one-image tensor, in one run of `derived`; a batch the provider has no memory for is
 * halved (recursively), so perturbation and difference batches shrink to what fits instead of failing.
 */
export async function scoreSplittingOnOutOfMemory(derived: Derived, tensors: Float32Array[], feeds: (batch: Float32Array[]) => Feeds): Promise<Float32Array> {
  const output = derived.outputs[0]!;
  const results = await inferSplittingOnOutOfMemory(
    tensors.map((tensor) => ({ tensor })),
    (batch) => derived.pool.run(feeds(batch), [output]),
    () => {},
  );
  return Float32Array.from(results, (r) => {
    if (!r.outputs) throw new Error(r.error);
    return r.outputs[output]!.data[0]!;
  });
}
