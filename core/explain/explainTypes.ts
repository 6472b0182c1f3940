/**
 * The shapes the explanation methods share (issue 4). Methods see tensors and scoring functions, never sessions:
 * the orchestrator (explainImage.ts) owns the ONNX Runtime side, so each method is plain arithmetic that a unit
 * test can drive with a closed-form scorer.
 */

/**
 * A problem with the model, layer, method or target rather than with an image (a layer of the wrong shape, an
 * operator without a gradient rule, a class out of range): every image would fail the same way, so jobs stop at
 * the first one instead of reporting the same error per image.
 */
export class ExplainSetupError extends Error {}

/** One image's input tensor exactly as the model takes it (the card's layout), and its geometry. */
export interface InputImage {
  /** 3*height*width floats: C,H,W for NCHW, H,W,C for NHWC. */
  tensor: Float32Array;
  layout: 'NCHW' | 'NHWC';
  height: number;
  width: number;
  /**
   * What perturbation methods move a removed pixel to, per tensor channel: 0 in tensor space, as RISE, Score-CAM
   * (pytorch-grad-cam), Captum's occlusion and the deletion metric do on normalised tensors. For a mean/std card
   * that is the mean colour (mid-grey for mean 0.5), for a 0..1 card black: "no information" in the model's terms.
   */
  baseline: [number, number, number];
}

/** Scores a batch of input tensors (each shaped like InputImage.tensor) for the chosen target; one value each. */
export type InputScorer = (tensors: Float32Array[]) => Promise<Float32Array>;

/** One image's activations at a layer as a channel-major C x h x w map (token layers already regridded). */
export interface ActivationMap {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** Scores a batch of modified activation maps (each shaped like ActivationMap.data) through the model's head. */
export type ActivationScorer = (maps: Float32Array[]) => Promise<Float32Array>;

/** A saliency map before ReLU and normalisation, row-major, at `grid` resolution. */
export interface RawMap {
  grid: [number, number];
  raw: Float32Array;
}
