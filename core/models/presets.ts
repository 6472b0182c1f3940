/**
 * Presets: the preprocessing and output reading of the model families Miru's users already have, written down
 * from each family's own inference code so that a model is fed exactly as it was trained and evaluated. A card
 * overrides any field (modelCard.ts). The sources are cited per preset; the reference test
 * (test/fixtures/preprocess/makeReference.py) re-implements each recipe with PIL + numpy independently.
 *
 * Two choices apply to all presets:
 * - Transparent pixels are composited onto white (pad [255, 255, 255]). WD taggers and deepghs do exactly that;
 *   torchvision/CLIP pipelines call PIL's convert('RGB'), which drops alpha and exposes whatever colour the
 *   transparent pixels happen to store (often black, sometimes garbage), which no card can reproduce; white is
 *   how illustrations with transparency are meant to be seen.
 * - Embedded ICC profiles are ignored, as PIL ignores them: models were trained on the stored pixel values.
 */
import type { CardOverrides, ModelIO } from './modelCard.js';

export const PRESET_NAMES = ['imagenet', 'clip', 'wd-tagger', 'deepghs-aesthetic'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface Preset {
  name: PresetName;
  /** One line for `miru models add --help` and the docs. */
  summary: string;
  /** The card fields the preset sets; some (output names) are read from the model. */
  overrides(model: ModelIO): CardOverrides;
}

const WHITE: [number, number, number] = [255, 255, 255];

/** Aesthetic classes of deepghs/anime_aesthetic, worst to best (imgutils/metrics/dbaesthetic.py _LABELS). */
export const DEEPGHS_AESTHETIC_LABELS = ['worst', 'low', 'normal', 'good', 'great', 'best', 'masterpiece'];

export const PRESETS: Record<PresetName, Preset> = {
  /**
   * torchvision's ImageNet classification recipe (the IMAGENET1K_V1 weights' transforms, and timm's default
   * crop_pct 0.875): Resize(256) of the shorter side with BILINEAR, CenterCrop(224), ToTensor (/255), Normalize
   * with the ImageNet mean/std; NCHW. torchvision resizes PIL images with PIL, which always antialiases when
   * shrinking (the same as antialias=True on tensors). 256 = floor(224 / 0.875), hence crop 0.875. Models
   * trained with other recipes override in a card: e.g. IMAGENET1K_V2 weights resize to 232 (crop 0.9655), many
   * timm models use bicubic. Score: the first output, classes with softmax (inferred from its shape).
   */
  imagenet: {
    name: 'imagenet',
    summary: 'torchvision/timm ImageNet: shorter side to 256, centre 224 crop, bilinear, ImageNet mean/std, NCHW',
    overrides: () => ({
      input: {
        layout: 'NCHW',
        size: [224, 224],
        channels: 'RGB',
        resize: 'center-crop',
        crop: 0.875,
        pad: WHITE,
        interpolation: 'bilinear',
        scale: 255,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
    }),
  },

  /**
   * OpenAI CLIP's image transform (clip/clip.py _transform, also open_clip's for OpenAI weights): Resize(224,
   * BICUBIC) of the shorter side, CenterCrop(224) (torchvision: offset round((excess) / 2)), convert RGB,
   * ToTensor (/255), Normalize with CLIP's mean/std; NCHW. Hugging Face's CLIPImageProcessor does the same
   * resize and crop (its crop offset floors, so it may sit one pixel off for odd excesses). An image tower has
   * no score: the embedding is the output `image_embeds` (Hugging Face Optimum exports) or else the first
   * output. SigLIP towers differ: stretch to size, bicubic, mean/std 0.5 - override those in a card.
   */
  clip: {
    name: 'clip',
    summary: 'OpenAI CLIP image tower: shorter side to 224 bicubic, centre crop, CLIP mean/std, NCHW; embedding output',
    overrides: (model) => ({
      input: {
        layout: 'NCHW',
        size: [224, 224],
        channels: 'RGB',
        resize: 'center-crop',
        crop: 1,
        pad: WHITE,
        interpolation: 'bicubic',
        scale: 255,
        mean: [0.48145466, 0.4578275, 0.40821073],
        std: [0.26862954, 0.26130258, 0.27577711],
      },
      outputs: {
        score: null,
        embedding: { name: (model.outputs.find((o) => o.name === 'image_embeds') ?? model.outputs[0])?.name },
      },
    }),
  },

  /**
   * SmilingWolf's WD taggers v2/v3 (ConvNeXt, SwinV2, ViT, EVA02; the wd-tagger Space's prepare_image): alpha
   * composited onto white, pasted centred (offset floor) onto a white square canvas of the long side, resized
   * to 448 with BICUBIC (only when the canvas is not already 448), RGB turned to BGR, float32 0-255 unnormalised
   * (scale 1, mean 0, std 1), NHWC [N,448,448,3]. The graphs end in a sigmoid (v2's output is even named
   * predictions_sigmoid), so the outputs are already probabilities: activation none. Tag names live in the
   * model's selected_tags.csv, not in the graph; give them as outputs.score.labels in a card to see tag names.
   */
  'wd-tagger': {
    name: 'wd-tagger',
    summary: 'WD tagger v2/v3: white letterbox to square, bicubic 448, BGR 0-255, NHWC; multilabel, sigmoid in the graph',
    overrides: (model) => ({
      input: {
        layout: 'NHWC',
        size: [448, 448],
        channels: 'BGR',
        resize: 'letterbox',
        pad: WHITE,
        interpolation: 'bicubic',
        scale: 1,
        mean: [0, 0, 0],
        std: [1, 1, 1],
      },
      outputs: { score: { name: model.outputs[0]?.name, kind: 'multilabel', activation: 'none' } },
    }),
  },

  /**
   * deepghs/anime_aesthetic through imgutils (imgutils/generic/classify.py ClassifyModel + metrics/dbaesthetic.py):
   * load_image(force_background='white', mode='RGB'), image.resize((w, h), BILINEAR) to the model's size (448
   * for the default swinv2pv3_v0_448_ls0.2_x), /255, (x - 0.5) / 0.5, NCHW; 7 ordinal classes worst..masterpiece,
   * score = sum(i * p_i). Assumption, with its evidence: the graph already outputs probabilities (deepghs export
   * their classifiers with the softmax inside). imgutils uses the 'output' tensor directly as the class scores
   * (predict_score) and sums scores[label] * i without any softmax, and its documented confidences sum to 1. So
   * the activation is none: a second softmax would squash the probabilities towards uniform and pull every
   * score towards 3. A re-export without the softmax needs {"outputs": {"score": {"activation": "softmax"}}}.
   */
  'deepghs-aesthetic': {
    name: 'deepghs-aesthetic',
    summary: 'deepghs anime_aesthetic: bilinear stretch to 448, mean/std 0.5, NCHW; 7 ordinal classes, score = sum(i * p_i)',
    overrides: (model) => ({
      input: {
        layout: 'NCHW',
        size: [448, 448],
        channels: 'RGB',
        resize: 'stretch',
        pad: WHITE,
        interpolation: 'bilinear',
        scale: 255,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      },
      outputs: {
        score: {
          name: model.outputs[0]?.name,
          kind: 'ordinal',
          labels: [...DEEPGHS_AESTHETIC_LABELS],
          values: DEEPGHS_AESTHETIC_LABELS.map((_, i) => i),
          activation: 'none',
        },
      },
    }),
  },
};

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/** The card fields a preset sets for this model. */
export function presetOverrides(name: PresetName, model: ModelIO): CardOverrides {
  return PRESETS[name].overrides(model);
}
