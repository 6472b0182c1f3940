/**
 * Model cards: how to feed a model an image and how to read its outputs (DESIGN.md "Model cards").
 *
 * A card is resolved in layers, each overriding the one before: what the ONNX graph itself says (input name,
 * layout, fixed size, first output) <- a preset (presets.ts) <- the user's card JSON. The result is checked
 * against the graph before any work starts, and every contradiction becomes an error that names the field, the
 * model's tensor and what to change.
 */
import { PRESET_NAMES, isPresetName, presetOverrides, type PresetName } from './presets.js';

export type Layout = 'NCHW' | 'NHWC';
export type ChannelOrder = 'RGB' | 'BGR';
export type ResizeMode = 'stretch' | 'center-crop' | 'letterbox';
export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'lanczos3';
export type ScoreKind = 'scalar' | 'classes' | 'ordinal' | 'multilabel';
export type Activation = 'none' | 'softmax' | 'sigmoid';
export type Triple = [number, number, number];

export interface ModelCardInput {
  /** The graph input that takes the image batch. */
  name: string;
  layout: Layout;
  /** [height, width] of the tensor. */
  size: [number, number];
  channels: ChannelOrder;
  /**
   * stretch: resize to size ignoring aspect ratio; center-crop: resize so the image covers size / crop (shorter
   * side, torchvision's Resize(int)) and keep the centre; letterbox: pad to the target's aspect ratio with `pad`,
   * centred, then resize (the WD tagger recipe).
   */
  resize: ResizeMode;
  /**
   * center-crop only: the fraction of the resized image kept (timm's crop_pct). The shorter side is resized to
   * floor(size / crop) before the crop: 0.875 gives torchvision's ImageNet Resize(256) + CenterCrop(224).
   * Default 1 (resize the shorter side to the size itself, as CLIP does).
   */
  crop?: number;
  /** RGB 0-255: the letterbox padding and the colour transparent pixels are composited onto. */
  pad: Triple;
  interpolation: Interpolation;
  /** value = (p / scale - mean) / std for pixel p in 0-255, per channel in the card's channel order. */
  scale: number;
  mean: Triple;
  std: Triple;
}

export interface ScoreOutput {
  name: string;
  kind: ScoreKind;
  labels?: string[];
  /** ordinal: the value of each class in the expected score (default 0..K-1). */
  values?: number[];
  /** Applied to the raw output to get probabilities; default softmax for classes/ordinal, sigmoid for multilabel, none for scalar. */
  activation?: Activation;
  /** classes/multilabel: the label whose probability is the scalar score. */
  label?: string;
}

export interface EmbeddingOutput {
  name: string;
}

export interface SaliencySpec {
  /** A tensor name inside the graph (a split point, see `miru models inspect`). */
  layer: string;
  /** For token layers [N, L, C]: prefix tokens (CLS, registers) dropped before reshaping L - prefix into grid [h, w]. */
  tokens?: { prefix: number; grid: [number, number] };
}

export interface ModelCard {
  name: string;
  input: ModelCardInput;
  outputs: {
    score?: ScoreOutput;
    embedding?: EmbeddingOutput;
  };
  saliency?: SaliencySpec;
}

/**
 * A card as written by a person or a preset: every field optional. `null` removes an optional field that an
 * earlier layer set (e.g. `"outputs": {"score": null}` for an embedding-only model, `"labels": null`).
 */
export interface CardOverrides {
  name?: string;
  input?: Partial<ModelCardInput>;
  outputs?: {
    score?: ScoreOverrides | null;
    embedding?: Partial<EmbeddingOutput> | null;
  };
  saliency?: { layer?: string; tokens?: { prefix?: number; grid?: [number, number] } | null } | null;
}

export interface ScoreOverrides {
  name?: string;
  kind?: ScoreKind;
  labels?: string[] | null;
  values?: number[] | null;
  activation?: Activation | null;
  label?: string | null;
}

/** The parts of an ONNX model's description a card is checked against (a structural subset of onnx/ModelInfo). */
export interface ModelTensor {
  name: string;
  /** Fixed dims as numbers, symbolic ones as their names (or "?"). */
  shape: (number | string)[];
  /** Element type, e.g. "float32". */
  type: string;
}

export interface ModelIO {
  inputs: ModelTensor[];
  outputs: ModelTensor[];
  /** Inner tensors with their shapes where known (shape [] when unknown), used to check `saliency`. */
  layers?: { name: string; shape: (number | string)[] }[];
}

/** A card that cannot be used; `problems` holds one line per problem, each naming the field and what to do. */
export class ModelCardError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems with the model card:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ModelCardError';
  }
}

export const LAYOUTS: readonly Layout[] = ['NCHW', 'NHWC'];
export const CHANNEL_ORDERS: readonly ChannelOrder[] = ['RGB', 'BGR'];
export const RESIZE_MODES: readonly ResizeMode[] = ['stretch', 'center-crop', 'letterbox'];
export const INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'bilinear', 'bicubic', 'lanczos3'];
export const SCORE_KINDS: readonly ScoreKind[] = ['scalar', 'classes', 'ordinal', 'multilabel'];
export const ACTIVATIONS: readonly Activation[] = ['none', 'softmax', 'sigmoid'];

/**
 * What a card without a preset gets for the fields a graph cannot tell: plain 0-1 RGB, stretched, bilinear,
 * transparent pixels on white. Name, layout and size come from the graph.
 */
export const DEFAULT_INPUT: Omit<ModelCardInput, 'name' | 'layout' | 'size'> = {
  channels: 'RGB',
  resize: 'stretch',
  crop: 1,
  pad: [255, 255, 255],
  interpolation: 'bilinear',
  scale: 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
};

/** The activation a score output gets when its card names none. */
export function defaultActivation(kind: ScoreKind): Activation {
  return kind === 'multilabel' ? 'sigmoid' : kind === 'scalar' ? 'none' : 'softmax';
}

// ------------------------------------------------------------------------------------------------ parseCard

const INPUT_KEYS = ['name', 'layout', 'size', 'channels', 'resize', 'crop', 'pad', 'interpolation', 'scale', 'mean', 'std'] as const;
const SCORE_KEYS = ['name', 'kind', 'labels', 'values', 'activation', 'label'] as const;

/**
 * Checks the type and range of every field present in a card's JSON (already parsed) and returns it as
 * overrides. Unknown fields are refused (a typo would otherwise be ignored silently). Conveniences: `mean`,
 * `std` and `pad` may be one number for all three channels. Throws a ModelCardError whose lines read like
 * `card.json: input.std[1] must be a non-zero number (got 0)`.
 */
export function parseCard(json: unknown, source = 'card'): CardOverrides {
  const problems: string[] = [];
  const bad = (path: string, what: string, value: unknown) => problems.push(`${source}: ${path} must be ${what} (got ${show(value)})`);
  if (!isObject(json)) {
    throw new ModelCardError([`${source}: a card must be a JSON object like {"input": {...}, "outputs": {...}} (got ${show(json)})`]);
  }
  const card: CardOverrides = {};
  unknownKeys(json, ['name', 'input', 'outputs', 'saliency'], '', source, problems);

  if ('name' in json) {
    if (typeof json.name === 'string' && json.name.trim()) card.name = json.name;
    else bad('name', 'a non-empty string', json.name);
  }

  if ('input' in json) {
    const input = json.input;
    if (!isObject(input)) bad('input', 'an object', input);
    else {
      unknownKeys(input, INPUT_KEYS, 'input.', source, problems);
      const out: Partial<ModelCardInput> = {};
      if ('name' in input) {
        if (typeof input.name === 'string' && input.name) out.name = input.name;
        else bad('input.name', 'the name of a graph input (a non-empty string)', input.name);
      }
      pickEnum(input, 'layout', LAYOUTS, 'input.', out, bad);
      pickEnum(input, 'channels', CHANNEL_ORDERS, 'input.', out, bad);
      pickEnum(input, 'resize', RESIZE_MODES, 'input.', out, bad);
      pickEnum(input, 'interpolation', INTERPOLATIONS, 'input.', out, bad);
      if ('size' in input) {
        const size = input.size;
        if (!Array.isArray(size) || size.length !== 2) bad('input.size', '[height, width], two whole numbers', size);
        else {
          let ok = true;
          size.forEach((v, i) => {
            if (!isPositiveInt(v)) {
              ok = false;
              bad(`input.size[${i}]`, 'a whole number of pixels, at least 1', v);
            }
          });
          if (ok) out.size = [size[0] as number, size[1] as number];
        }
      }
      if ('crop' in input) {
        if (typeof input.crop === 'number' && input.crop > 0 && input.crop <= 1) out.crop = input.crop;
        else bad('input.crop', 'a fraction in (0, 1] (e.g. 0.875)', input.crop);
      }
      if ('scale' in input) {
        if (typeof input.scale === 'number' && Number.isFinite(input.scale) && input.scale > 0) out.scale = input.scale;
        else bad('input.scale', 'a positive number (255 for 0-1 inputs, 1 for 0-255 inputs)', input.scale);
      }
      const pad = triple(input, 'pad', 'input.', (v) => Number.isInteger(v) && v >= 0 && v <= 255, 'a whole number 0-255', bad);
      if (pad) out.pad = pad;
      const mean = triple(input, 'mean', 'input.', (v) => Number.isFinite(v), 'a finite number', bad);
      if (mean) out.mean = mean;
      const std = triple(input, 'std', 'input.', (v) => Number.isFinite(v) && v !== 0, 'a non-zero number', bad);
      if (std) out.std = std;
      card.input = out;
    }
  }

  if ('outputs' in json) {
    const outputs = json.outputs;
    if (!isObject(outputs)) bad('outputs', 'an object', outputs);
    else {
      unknownKeys(outputs, ['score', 'embedding'], 'outputs.', source, problems);
      card.outputs = {};
      if ('score' in outputs) {
        const score = outputs.score;
        if (score === null) card.outputs.score = null;
        else if (!isObject(score)) bad('outputs.score', 'an object like {"name": "output", "kind": "classes"} or null', score);
        else card.outputs.score = parseScore(score, source, problems, bad);
      }
      if ('embedding' in outputs) {
        const embedding = outputs.embedding;
        if (embedding === null) card.outputs.embedding = null;
        else if (!isObject(embedding)) bad('outputs.embedding', 'an object like {"name": "embedding"} or null', embedding);
        else {
          unknownKeys(embedding, ['name'], 'outputs.embedding.', source, problems);
          card.outputs.embedding = {};
          if ('name' in embedding) {
            if (typeof embedding.name === 'string' && embedding.name) card.outputs.embedding.name = embedding.name;
            else bad('outputs.embedding.name', 'the name of a graph output (a non-empty string)', embedding.name);
          }
        }
      }
    }
  }

  if ('saliency' in json) {
    const saliency = json.saliency;
    if (saliency === null) card.saliency = null;
    else if (!isObject(saliency)) bad('saliency', 'an object like {"layer": "<tensor name>"} or null', saliency);
    else {
      unknownKeys(saliency, ['layer', 'tokens'], 'saliency.', source, problems);
      card.saliency = {};
      if ('layer' in saliency) {
        if (typeof saliency.layer === 'string' && saliency.layer) card.saliency.layer = saliency.layer;
        else bad('saliency.layer', 'a tensor name (a non-empty string; `miru models inspect` lists them)', saliency.layer);
      }
      if ('tokens' in saliency) {
        const tokens = saliency.tokens;
        if (tokens === null) card.saliency.tokens = null;
        else if (!isObject(tokens)) bad('saliency.tokens', 'an object like {"prefix": 1, "grid": [14, 14]} or null', tokens);
        else {
          unknownKeys(tokens, ['prefix', 'grid'], 'saliency.tokens.', source, problems);
          const out: { prefix?: number; grid?: [number, number] } = {};
          if ('prefix' in tokens) {
            if (Number.isInteger(tokens.prefix) && (tokens.prefix as number) >= 0) out.prefix = tokens.prefix as number;
            else bad('saliency.tokens.prefix', 'a whole number of leading tokens (CLS, registers), 0 or more', tokens.prefix);
          }
          if ('grid' in tokens) {
            const grid = tokens.grid;
            if (!Array.isArray(grid) || grid.length !== 2) bad('saliency.tokens.grid', '[rows, columns], two whole numbers', grid);
            else {
              let ok = true;
              grid.forEach((v, i) => {
                if (!isPositiveInt(v)) {
                  ok = false;
                  bad(`saliency.tokens.grid[${i}]`, 'a whole number, at least 1', v);
                }
              });
              if (ok) out.grid = [grid[0] as number, grid[1] as number];
            }
          }
          card.saliency.tokens = out;
        }
      }
    }
  }

  if (problems.length) throw new ModelCardError(problems);
  return card;
}

function parseScore(score: Record<string, unknown>, source: string, problems: string[], bad: (path: string, what: string, value: unknown) => void): ScoreOverrides {
  unknownKeys(score, SCORE_KEYS, 'outputs.score.', source, problems);
  const out: ScoreOverrides = {};
  if ('name' in score) {
    if (typeof score.name === 'string' && score.name) out.name = score.name;
    else bad('outputs.score.name', 'the name of a graph output (a non-empty string)', score.name);
  }
  pickEnum(score, 'kind', SCORE_KINDS, 'outputs.score.', out, bad);
  if ('activation' in score && score.activation === null) out.activation = null;
  else pickEnum(score, 'activation', ACTIVATIONS, 'outputs.score.', out, bad);
  if ('labels' in score) {
    const labels = score.labels;
    if (labels === null) out.labels = null;
    else if (!Array.isArray(labels) || labels.length === 0) bad('outputs.score.labels', 'a non-empty list of label strings or null', labels);
    else {
      let ok = true;
      const seen = new Map<string, number>();
      labels.forEach((v, i) => {
        if (typeof v !== 'string' || !v) {
          ok = false;
          bad(`outputs.score.labels[${i}]`, 'a non-empty string', v);
        } else if (seen.has(v)) {
          ok = false;
          problems.push(`${source}: outputs.score.labels[${i}] repeats ${JSON.stringify(v)} (also at [${seen.get(v)}]); labels must be unique`);
        } else seen.set(v, i);
      });
      if (ok) out.labels = labels as string[];
    }
  }
  if ('values' in score) {
    const values = score.values;
    if (values === null) out.values = null;
    else if (!Array.isArray(values) || values.length === 0) bad('outputs.score.values', 'a non-empty list of numbers (one per class) or null', values);
    else {
      let ok = true;
      values.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          ok = false;
          bad(`outputs.score.values[${i}]`, 'a finite number', v);
        }
      });
      if (ok) out.values = values as number[];
    }
  }
  if ('label' in score) {
    if (score.label === null) out.label = null;
    else if (typeof score.label === 'string' && score.label) out.label = score.label;
    else bad('outputs.score.label', 'one of outputs.score.labels (a non-empty string) or null', score.label);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- resolveCard

export interface ResolveCardArgs {
  model: ModelIO;
  /** Used as the card's name when neither the card nor the preset names it. */
  modelName: string;
  preset?: PresetName;
  /** The user's card, parsed JSON (checked here with parseCard) or overrides already parsed. */
  card?: unknown;
  /** Where the card came from, e.g. its file path; named in every error about it. */
  cardSource?: string;
}

type Origin = string;

/**
 * Merges what the graph says <- preset <- card (the card wins; `input` and `outputs` merge field by field) and
 * checks the result against the model. Throws a ModelCardError listing every problem, each naming the tensor,
 * its shape and what to set, before any image is read.
 */
export function resolveCard(args: ResolveCardArgs): ModelCard {
  const { model } = args;
  const cardSource = args.cardSource ?? 'card';
  if (args.preset !== undefined && !isPresetName(args.preset)) {
    throw new ModelCardError([`unknown preset ${JSON.stringify(args.preset)}: choose one of ${PRESET_NAMES.join(', ')}, or describe the model with a card`]);
  }
  const layers: { origin: Origin; overrides: CardOverrides }[] = [];
  if (args.preset) layers.push({ origin: `preset ${args.preset}`, overrides: presetOverrides(args.preset, model) });
  if (args.card !== undefined && args.card !== null) layers.push({ origin: cardSource, overrides: parseCard(args.card, cardSource) });

  // Merge the layers, remembering which one set each field (named in contradictions).
  const input: Partial<ModelCardInput> = {};
  const inputOrigin: Partial<Record<keyof ModelCardInput, Origin>> = {};
  let name: string | undefined;
  let score: ScoreOverrides | null | undefined;
  let scoreOrigin: Origin | undefined;
  let embedding: Partial<EmbeddingOutput> | null | undefined;
  let embeddingOrigin: Origin | undefined;
  let saliency: CardOverrides['saliency'];
  let saliencyOrigin: Origin | undefined;
  for (const { origin, overrides } of layers) {
    if (overrides.name !== undefined) name = overrides.name;
    for (const [key, value] of Object.entries(overrides.input ?? {}) as [keyof ModelCardInput, unknown][]) {
      if (value === undefined) continue;
      (input as Record<string, unknown>)[key] = value;
      inputOrigin[key] = origin;
    }
    const outputs = overrides.outputs ?? {};
    if (outputs.score === null) score = null;
    else if (outputs.score) score = { ...(score ?? {}), ...outputs.score };
    if (outputs.score === null || outputs.score?.name !== undefined) scoreOrigin = origin;
    if (outputs.embedding === null) embedding = null;
    else if (outputs.embedding) embedding = { ...(embedding ?? {}), ...outputs.embedding };
    if (outputs.embedding === null || outputs.embedding?.name !== undefined) embeddingOrigin = origin;
    if (overrides.saliency === null) saliency = null;
    else if (overrides.saliency) {
      const tokens = overrides.saliency.tokens === null ? null : overrides.saliency.tokens ? { ...(saliency?.tokens ?? {}), ...overrides.saliency.tokens } : saliency?.tokens;
      saliency = { ...(saliency ?? {}), ...overrides.saliency, tokens };
    }
    if (overrides.saliency !== undefined) saliencyOrigin = origin;
  }

  const problems: string[] = [];
  const resolvedInput = resolveInput(model, input, inputOrigin, problems);
  const outputs: ModelCard['outputs'] = {};
  if (score !== null) {
    const resolved = resolveScore(model, score ?? {}, scoreOrigin, problems);
    if (resolved) outputs.score = resolved;
  }
  if (embedding) {
    const from = embeddingOrigin ?? 'card';
    if (!embedding.name) problems.push(`outputs.embedding (from ${from}) needs a name: one of the model's outputs ${listTensors(model.outputs)}`);
    else if (!model.outputs.some((o) => o.name === embedding.name)) {
      problems.push(`outputs.embedding.name ${JSON.stringify(embedding.name)} (from ${from}) is not an output of the model; its outputs are ${listTensors(model.outputs)}. Set outputs.embedding.name to one of them (or use \`miru embed --layer\` for an inner tensor)`);
    } else outputs.embedding = { name: embedding.name };
  }
  let resolvedSaliency: SaliencySpec | undefined;
  if (saliency) resolvedSaliency = resolveSaliency(model, saliency, saliencyOrigin ?? 'card', problems);

  if (problems.length || !resolvedInput) throw new ModelCardError(problems);
  const card: ModelCard = { name: name ?? args.modelName, input: resolvedInput, outputs };
  if (resolvedSaliency) card.saliency = resolvedSaliency;
  return card;
}

function resolveInput(model: ModelIO, input: Partial<ModelCardInput>, origin: Partial<Record<keyof ModelCardInput, Origin>>, problems: string[]): ModelCardInput | null {
  const from = (key: keyof ModelCardInput) => origin[key] ?? 'the model';
  // 1. Which graph input takes the image.
  let tensor: ModelTensor | undefined;
  if (input.name !== undefined) {
    tensor = model.inputs.find((t) => t.name === input.name);
    if (!tensor) {
      problems.push(`input.name ${JSON.stringify(input.name)} (from ${from('name')}) is not an input of the model; its inputs are ${listTensors(model.inputs)}. Set input.name to the image input`);
      return null;
    }
  } else if (model.inputs.length === 0) {
    problems.push('the model has no graph inputs, so there is nothing to feed an image to; check that the file is the whole model');
    return null;
  } else if (model.inputs.length === 1) {
    tensor = model.inputs[0];
  } else {
    const images = model.inputs.filter(looksLikeImage);
    if (images.length !== 1) {
      problems.push(`the model has ${model.inputs.length} inputs ${listTensors(model.inputs)} and ${images.length === 0 ? 'none' : 'more than one'} looks like an image batch; set input.name in a card to the one that takes images`);
      return null;
    }
    tensor = images[0];
  }
  if (!tensor) return null;
  const image = tensor;
  const others = model.inputs.filter((t) => t !== image);
  if (others.length) {
    problems.push(
      `the model has ${others.length === 1 ? 'an input' : 'inputs'} besides the image input ${image.name}: ${listTensors(others)}. Miru feeds only the image, ` +
        'so every other input needs a value inside the model: re-export it with those inputs as constants (initializers), or without them',
    );
  }
  const shape = tensor.shape;
  const described = `the model's input ${tensor.name} has shape ${formatShape(shape)}`;

  // 2. Element type and rank.
  const type = tensor.type.toLowerCase();
  if (type !== 'float32' && type !== 'float' && type !== 'tensor(float)') {
    problems.push(`${described} and element type ${tensor.type}; Miru feeds float32 images. Export the model with a float32 input (or add a Cast node in front of it)`);
  }
  if (shape.length !== 4) {
    problems.push(`${described} (rank ${shape.length}); Miru feeds images as rank-4 batches [N,C,H,W] (NCHW) or [N,H,W,C] (NHWC). Point input.name at the image input, or re-export the model with a batch dimension`);
    return null;
  }

  // 3. Layout: inferred from where the 3 channels sit, unless a preset or the card says.
  const inferred = inferLayout(shape);
  const layout = input.layout ?? inferred;
  if (!layout) {
    problems.push(`${described}, which does not show whether channels come first or last; set input.layout to NCHW or NHWC in a card`);
    return null;
  }
  const channelDim = shape[layout === 'NCHW' ? 1 : 3];
  if (isFixed(channelDim) && channelDim !== 3) {
    const other: Layout = layout === 'NCHW' ? 'NHWC' : 'NCHW';
    if (shape[other === 'NCHW' ? 1 : 3] === 3) {
      problems.push(`${described}, which is ${other}, but input.layout is ${layout} (from ${from('layout')}); set input.layout to ${other}`);
    } else {
      problems.push(`${described}: ${channelDim} channels at index ${layout === 'NCHW' ? 1 : 3} (${layout}); Miru feeds 3-channel colour images (RGB or BGR), so this model cannot be fed as it is`);
    }
    return null;
  }

  // 4. Size: the model's fixed height/width, or what a preset or card says for a symbolic one.
  const modelH = shape[layout === 'NCHW' ? 2 : 1];
  const modelW = shape[layout === 'NCHW' ? 3 : 2];
  let size = input.size;
  if (size) {
    const [h, w] = size;
    if ((isFixed(modelH) && modelH !== h) || (isFixed(modelW) && modelW !== w)) {
      const fixed = `${isFixed(modelH) ? modelH : 'any'}x${isFixed(modelW) ? modelW : 'any'}`;
      problems.push(
        `input.size [${h}, ${w}] (from ${from('size')}) does not match the model's input ${tensor.name} ${formatShape(shape)}, fixed at ${fixed} (height x width); ` +
          `set input.size to [${isFixed(modelH) ? modelH : h}, ${isFixed(modelW) ? modelW : w}] in a card, or use a model exported at ${h}x${w}`,
      );
    }
  } else if (isFixed(modelH) && isFixed(modelW)) {
    size = [modelH, modelW];
  } else {
    problems.push(`${described}, whose height and width are not fixed; set input.size [height, width] in a card (or choose a --preset that sets one)`);
  }
  if (!size) return null;

  const resize = input.resize ?? DEFAULT_INPUT.resize;
  return {
    name: tensor.name,
    layout,
    size,
    channels: input.channels ?? DEFAULT_INPUT.channels,
    resize,
    // The crop fraction means something only to center-crop: a preset's 0.875 must not linger in a card that
    // switched to stretch or letterbox, where it would read as if part of the image were cut.
    crop: resize === 'center-crop' ? (input.crop ?? DEFAULT_INPUT.crop) : DEFAULT_INPUT.crop,
    pad: input.pad ?? DEFAULT_INPUT.pad,
    interpolation: input.interpolation ?? DEFAULT_INPUT.interpolation,
    scale: input.scale ?? DEFAULT_INPUT.scale,
    mean: input.mean ?? DEFAULT_INPUT.mean,
    std: input.std ?? DEFAULT_INPUT.std,
  };
}

function resolveScore(model: ModelIO, score: ScoreOverrides, origin: Origin | undefined, problems: string[]): ScoreOutput | null {
  const from = origin ?? 'the model';
  const name = score.name ?? model.outputs[0]?.name;
  if (name === undefined) {
    problems.push('the model has no graph outputs, so there is no score to read; check that the file is the whole model');
    return null;
  }
  const tensor = model.outputs.find((o) => o.name === name);
  if (!tensor) {
    problems.push(`outputs.score.name ${JSON.stringify(name)} (from ${from}) is not an output of the model; its outputs are ${listTensors(model.outputs)}. Set outputs.score.name to one of them`);
    return null;
  }
  const shape = tensor.shape;
  const last = shape.length >= 2 ? shape[shape.length - 1] : 1;
  const width = isFixed(last) ? last : undefined; // values per image, when the graph fixes it
  const kind: ScoreKind = score.kind ?? (shape.length <= 1 || width === 1 ? 'scalar' : 'classes');
  const described = `output ${name} has shape ${formatShape(shape)}`;
  const out: ScoreOutput = { name, kind };

  if (kind === 'scalar') {
    if (width !== undefined && width > 1) {
      problems.push(`outputs.score.kind is scalar but ${described} (${width} values per image); set outputs.score.kind to classes, ordinal or multilabel, or point outputs.score.name at a one-value output`);
    }
    if (score.activation === 'softmax') problems.push('outputs.score.activation softmax makes no sense for a scalar output (it is always 1); use none or sigmoid');
    if (score.label) problems.push(`outputs.score.label ${JSON.stringify(score.label)} picks a class probability, but the score output is scalar; remove label or set kind to classes/multilabel`);
    out.activation = score.activation ?? 'none';
    return out;
  }

  if (width === 1 && kind !== 'multilabel') {
    problems.push(`outputs.score.kind is ${kind} but ${described} (one value per image); set outputs.score.kind to scalar`);
  }
  const labels = score.labels ?? undefined;
  if (labels && width !== undefined && labels.length !== width) {
    problems.push(`outputs.score.labels has ${labels.length} labels but ${described} (${width} values per image); give exactly ${width} labels`);
  }
  const classCount = width ?? labels?.length;
  if (score.values) {
    if (kind !== 'ordinal') problems.push(`outputs.score.values only applies to ordinal outputs (kind is ${kind}); remove it or set kind to ordinal`);
    else if (classCount !== undefined && score.values.length !== classCount) {
      problems.push(`outputs.score.values has ${score.values.length} values but the ordinal output ${name} has ${classCount} classes${width === undefined ? ' (from labels)' : ''}; give one value per class`);
    }
  }
  if (score.label) {
    if (kind === 'ordinal') problems.push(`outputs.score.label applies to classes and multilabel outputs; an ordinal score is the expected value over its classes, so remove label`);
    else if (!labels) problems.push(`outputs.score.label ${JSON.stringify(score.label)} needs outputs.score.labels to say which index it is`);
    else if (!labels.includes(score.label)) {
      problems.push(`outputs.score.label ${JSON.stringify(score.label)} is not one of outputs.score.labels (${previewList(labels)})`);
    }
  }
  if (labels) out.labels = labels;
  if (kind === 'ordinal') {
    const values = score.values ?? (classCount !== undefined ? Array.from({ length: classCount }, (_, i) => i) : undefined);
    if (values) out.values = values;
  }
  out.activation = score.activation ?? defaultActivation(kind);
  if (score.label) out.label = score.label;
  return out;
}

function resolveSaliency(model: ModelIO, saliency: NonNullable<CardOverrides['saliency']>, origin: Origin, problems: string[]): SaliencySpec | undefined {
  if (!saliency.layer) {
    problems.push(`saliency (from ${origin}) needs a layer: a tensor name from \`miru models inspect <model>\``);
    return undefined;
  }
  const out: SaliencySpec = { layer: saliency.layer };
  const tokens = saliency.tokens;
  if (tokens) {
    if (!tokens.grid) problems.push(`saliency.tokens (from ${origin}) needs grid [rows, columns]: the patch grid the tokens form`);
    else out.tokens = { prefix: tokens.prefix ?? 0, grid: tokens.grid };
  }
  const layers = model.layers;
  if (!layers) return out;
  const layer = layers.find((l) => l.name === saliency.layer);
  if (!layer) {
    // Graph outputs are valid targets too, but inspect lists inner tensors only.
    if (!model.outputs.some((o) => o.name === saliency.layer)) {
      problems.push(`saliency.layer ${JSON.stringify(saliency.layer)} (from ${origin}) is not a split point of the model; \`miru models inspect\` lists them (${previewList(layers.map((l) => l.name))})`);
    }
    return out;
  }
  const shape = layer.shape;
  if (shape.length === 3) {
    const count = shape[1];
    if (!out.tokens) {
      problems.push(`saliency.layer ${layer.name} is a token sequence ${formatShape(shape)}; set saliency.tokens {"prefix": <CLS and register tokens>, "grid": [rows, columns]} so Miru can reshape it into a map${isFixed(count) ? suggestGrid(count, 0) : ''}`);
    } else if (isFixed(count)) {
      const { prefix, grid } = out.tokens;
      if (prefix + grid[0] * grid[1] !== count) {
        problems.push(`saliency.tokens says ${prefix} prefix + ${grid[0]}x${grid[1]} grid = ${prefix + grid[0] * grid[1]} tokens, but layer ${layer.name} has shape ${formatShape(shape)} (${count} tokens)${suggestGrid(count, prefix)}`);
      }
    }
  } else if (shape.length === 4 && out.tokens) {
    problems.push(`saliency.layer ${layer.name} is a spatial map ${formatShape(shape)}, not a token sequence; remove saliency.tokens`);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------- helpers

function inferLayout(shape: (number | string)[]): Layout | undefined {
  const first = shape[1] === 3;
  const last = shape[3] === 3;
  if (first && !last) return 'NCHW';
  if (last && !first) return 'NHWC';
  if (first && last) return 'NCHW'; // a 3x3 image: channels-first is the common export
  return undefined;
}

function looksLikeImage(t: ModelTensor): boolean {
  return t.shape.length === 4 && (t.shape[1] === 3 || t.shape[3] === 3);
}

/** A dim the graph fixes (a positive whole number); names, "?", -1 and 0 accept any size. */
function isFixed(dim: number | string | undefined): dim is number {
  return typeof dim === 'number' && Number.isInteger(dim) && dim > 0;
}

export function formatShape(shape: (number | string)[]): string {
  return `[${shape.map((d) => (isFixed(d) ? String(d) : typeof d === 'string' && d ? d : '?')).join(',')}]`;
}

function listTensors(tensors: ModelTensor[]): string {
  if (tensors.length === 0) return '(none)';
  return tensors.map((t) => `${t.name} ${formatShape(t.shape)}`).join(', ');
}

function previewList(items: string[], max = 12): string {
  const shown = items.slice(0, max).map((s) => JSON.stringify(s)).join(', ');
  return items.length > max ? `${shown}, ... ${items.length - max} more` : shown;
}

function suggestGrid(count: number, prefix: number): string {
  for (const p of [prefix, 0, 1, 5]) {
    const n = count - p;
    const side = Math.round(Math.sqrt(n));
    if (n > 0 && side * side === n) return `; ${count} = ${p} prefix + ${side}x${side}, so set saliency.tokens to {"prefix": ${p}, "grid": [${side}, ${side}]}`;
  }
  return '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function unknownKeys(obj: Record<string, unknown>, known: readonly string[], prefix: string, source: string, problems: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) problems.push(`${source}: unknown field ${prefix}${key}; the fields of ${prefix ? prefix.slice(0, -1) : 'a card'} are ${known.join(', ')}`);
  }
}

function pickEnum<T extends string, K extends string>(
  obj: Record<string, unknown>,
  key: K,
  allowed: readonly T[],
  prefix: string,
  out: { [P in K]?: T | null },
  bad: (path: string, what: string, value: unknown) => void,
): void {
  if (!(key in obj)) return;
  const value = obj[key];
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) out[key] = value as T;
  else bad(`${prefix}${key}`, `one of ${allowed.join(', ')}`, value);
}

function triple(
  obj: Record<string, unknown>,
  key: string,
  prefix: string,
  valid: (v: number) => boolean,
  what: string,
  bad: (path: string, what: string, value: unknown) => void,
): Triple | undefined {
  if (!(key in obj)) return undefined;
  const value = obj[key];
  if (typeof value === 'number') {
    if (valid(value)) return [value, value, value];
    bad(`${prefix}${key}`, `${what} or a list of three`, value);
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 3) {
    bad(`${prefix}${key}`, `a list of three numbers, one per channel (or one number for all three)`, value);
    return undefined;
  }
  let ok = true;
  value.forEach((v, i) => {
    if (typeof v !== 'number' || !valid(v)) {
      ok = false;
      bad(`${prefix}${key}[${i}]`, what, v);
    }
  });
  return ok ? [value[0], value[1], value[2]] : undefined;
}
