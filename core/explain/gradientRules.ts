/**
 * Vector-Jacobian rules, one per ONNX operator, written as ONNX nodes (issue 4, "Gradients for ONNX models").
 * Given the gradient of the target with respect to a node's outputs, a rule emits the nodes that compute the
 * gradient with respect to the node's inputs. Only inputs on a path from the tensor being differentiated get
 * one: weights are constants here, so no rule computes a weight gradient (a model whose weights depend on the
 * input, e.g. a dynamic conv kernel, is reported as lacking a rule).
 *
 * Shapes are concrete: the backward graph is built for one input size and batch (gradientGraph.ts probes every
 * tensor once), which turns broadcasting, padding and slicing into plain constants instead of shape arithmetic.
 */
import type { NodeProto } from 'onnx-buf';
import type { GraphBuilder } from './graphBuilder.js';

export interface RuleContext {
  readonly b: GraphBuilder;
  readonly node: NodeProto;
  readonly opset: number;
  /** Concrete shape of any tensor the node reads or writes. */
  shape(name: string): number[];
  /** Values of an integer tensor (axes, pads, indices...), or undefined when it is not known at build time. */
  ints(name: string): number[] | undefined;
  /** Whether input `position` needs a gradient (it lies on a path from the differentiated tensor). */
  needs(position: number): boolean;
}

/** Gradient per input position; undefined where none is needed (or the input is not differentiable). */
export type InputGradients = (string | undefined)[];

/** outputGrads[j] is the gradient for output j, or undefined where nothing downstream depends on that output. */
export type GradientRule = (ctx: RuleContext, outputGrads: (string | undefined)[]) => InputGradients;

/** A rule cannot handle this node's configuration (e.g. a reflect Pad wider than its axis); reported like a missing rule. */
export class UnsupportedNodeError extends Error {}

// ------------------------------------------------------------------------------------------------- helpers

function attr(node: NodeProto, name: string) {
  return node.attribute.find((a) => a.name === name);
}
function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a ? Number(a.i) : fallback;
}
function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? a.ints.map(Number) : undefined;
}
function floatAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a ? a.f : fallback;
}
function stringAttr(node: NodeProto, name: string, fallback: string): string {
  const a = attr(node, name);
  return a ? new TextDecoder().decode(a.s) : fallback;
}
const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function requireInts(ctx: RuleContext, position: number, what: string): number[] {
  const name = ctx.node.input[position];
  const values = name ? ctx.ints(name) : undefined;
  if (!values) throw new UnsupportedNodeError(`${ctx.node.opType} ${ctx.node.name}: its ${what} (input ${position}) is not known when the backward graph is built`);
  return values;
}

/** Sums a broadcast gradient back to the shape of the input that was broadcast (numpy rules). */
export function unbroadcast(b: GraphBuilder, grad: string, gradShape: readonly number[], target: readonly number[]): string {
  if (sameShape(gradShape, target)) return grad;
  const extra = gradShape.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < gradShape.length; i++) {
    if (i < extra || (target[i - extra] === 1 && gradShape[i] !== 1)) axes.push(i);
  }
  return b.reshape(b.sumKeep(grad, axes), target);
}

/** Gradient of a reduction: the output gradient spread back over the reduced axes (and scaled, for a mean). */
function spreadReduced(ctx: RuleContext, grad: string, input: string, axes: number[], factor: number): string {
  const inShape = ctx.shape(input);
  const kept = inShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return ctx.b.scale(ctx.b.expand(ctx.b.reshape(grad, kept), inShape), factor);
}

/** Reduction axes of ReduceMean/ReduceSum/ReduceL2, from the attribute (older opsets) or the second input. */
function reductionAxes(ctx: RuleContext): number[] {
  const rank = ctx.shape(ctx.node.input[0]!).length;
  let axes = intsAttr(ctx.node, 'axes');
  if (axes === undefined && ctx.node.input[1]) axes = requireInts(ctx, 1, 'axes');
  if (axes === undefined || axes.length === 0) {
    if (intAttr(ctx.node, 'noop_with_empty_axes', 0) === 1) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normAxis(a, rank));
}

const swapLast = (rank: number) => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

// ----------------------------------------------------------------------------------------------- the rules

const elementwiseBinary = (f: (ctx: RuleContext, g: string, a: string, bIn: string, y: string) => [string | undefined, string | undefined]): GradientRule =>
  (ctx, [g]) => {
    const [a, bIn] = ctx.node.input as [string, string];
    const y = ctx.node.output[0]!;
    const [ga, gb] = f(ctx, g!, a, bIn, y);
    const outShape = ctx.shape(y);
    return [
      ctx.needs(0) && ga ? unbroadcast(ctx.b, ga, outShape, ctx.shape(a)) : undefined,
      ctx.needs(1) && gb ? unbroadcast(ctx.b, gb, outShape, ctx.shape(bIn)) : undefined,
    ];
  };

/** Unary rules: gradient of the single input from g, the input x and the output y. */
const unary = (f: (b: GraphBuilder, g: string, x: string, y: string, node: NodeProto) => string): GradientRule =>
  (ctx, [g]) => [f(ctx.b, g!, ctx.node.input[0]!, ctx.node.output[0]!, ctx.node)];

const passThrough: GradientRule = (ctx, [g]) => [ctx.b.reshape(g!, ctx.shape(ctx.node.input[0]!))];

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** d/dx of x * Phi(x) (exact GELU): Phi(x) + x * phi(x). */
function geluExactDerivative(b: GraphBuilder, x: string): string {
  const cdf = b.scale(b.add(b.node('Erf', [b.scale(x, Math.SQRT1_2)]), b.floats(1)), 0.5);
  const pdf = b.scale(b.node('Exp', [b.scale(b.mul(x, x), -0.5)]), INV_SQRT_2PI);
  return b.add(cdf, b.mul(x, pdf));
}

/** d/dx of 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GELU, tanh approximation). */
function geluTanhDerivative(b: GraphBuilder, x: string): string {
  const x2 = b.mul(x, x);
  const inner = b.scale(b.add(x, b.scale(b.mul(x2, x), 0.044715)), SQRT_2_OVER_PI);
  const t = b.node('Tanh', [inner]);
  const dInner = b.scale(b.add(b.floats(1), b.scale(x2, 3 * 0.044715)), SQRT_2_OVER_PI);
  const sech2 = b.sub(b.floats(1), b.mul(t, t));
  return b.add(b.scale(b.add(b.floats(1), t), 0.5), b.mul(b.scale(x, 0.5), b.mul(sech2, dInner)));
}

function convRule(ctx: RuleContext, g: string, transposeOfConv: boolean): InputGradients {
  if (transposeOfConv) throw new UnsupportedNodeError('ConvTranspose on the differentiated path has no rule');
  const { b, node } = ctx;
  if (ctx.needs(1) || ctx.needs(2)) throw new UnsupportedNodeError(`Conv ${node.name}: its weights depend on the input, which no rule covers`);
  const [x, w] = node.input as [string, string];
  const xShape = ctx.shape(x);
  const wShape = ctx.shape(w);
  const yShape = ctx.shape(node.output[0]!);
  const spatial = xShape.length - 2;
  const kernel = intsAttr(node, 'kernel_shape') ?? wShape.slice(2);
  const strides = intsAttr(node, 'strides') ?? Array(spatial).fill(1);
  const dilations = intsAttr(node, 'dilations') ?? Array(spatial).fill(1);
  const group = intAttr(node, 'group', 1);
  const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
  let pads = intsAttr(node, 'pads') ?? Array(2 * spatial).fill(0);
  if (autoPad === 'VALID') pads = Array(2 * spatial).fill(0);
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = Array(2 * spatial).fill(0);
    for (let i = 0; i < spatial; i++) {
      const total = Math.max(0, (yShape[i + 2]! - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - xShape[i + 2]!);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + spatial] = total - pads[i]!;
    }
  }
  // ConvTranspose with the same kernel is the adjoint of Conv; output_padding restores the rows and columns a
  // strided conv never read, so the gradient has exactly the input's size.
  const outputPadding = Array.from({ length: spatial }, (_, i) => {
    const full = (yShape[i + 2]! - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - pads[i]! - pads[i + spatial]!;
    return xShape[i + 2]! - full;
  });
  if (outputPadding.some((p, i) => p < 0 || p >= Math.max(strides[i]!, dilations[i]!))) {
    throw new UnsupportedNodeError(`Conv ${node.name}: its input size cannot be restored by a transposed convolution`);
  }
  return [b.node('ConvTranspose', [g, w], { group, strides, dilations, pads, output_padding: outputPadding, kernel_shape: kernel })];
}

function matmulRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  const [a, m] = node.input as [string, string];
  const aShape = ctx.shape(a);
  const mShape = ctx.shape(m);
  const yShape = ctx.shape(node.output[0]!);
  if (aShape.length >= 2 && mShape.length >= 2) return matrixProductGradients(ctx, g, a, m, aShape, mShape, yShape);
  // Vector operands (numpy semantics): lift them to 1 x k and k x 1 matrices, use the matrix rule, drop the axis.
  const a2Shape = aShape.length === 1 ? [1, aShape[0]!] : aShape;
  const m2Shape = mShape.length === 1 ? [mShape[0]!, 1] : mShape;
  const batch = aShape.length === 1 ? yShape.slice(0, yShape.length - (mShape.length === 1 ? 0 : 1)) : yShape.slice(0, -1);
  const y2Shape = [...batch, a2Shape[a2Shape.length - 2]!, m2Shape[m2Shape.length - 1]!];
  const [ga, gm] = matrixProductGradients(ctx, b.reshape(g, y2Shape), aShape.length === 1 ? b.reshape(a, a2Shape) : a, mShape.length === 1 ? b.reshape(m, m2Shape) : m, a2Shape, m2Shape, y2Shape);
  return [ga && b.reshape(ga, aShape), gm && b.reshape(gm, mShape)];
}

/** dA = g B^T and dB = A^T g for batched matrices, summed over broadcast batch axes. */
function matrixProductGradients(ctx: RuleContext, g: string, a: string, m: string, aShape: number[], mShape: number[], yShape: number[]): InputGradients {
  const { b } = ctx;
  const ga = ctx.needs(0) ? unbroadcast(b, b.node('MatMul', [g, b.transpose(m, swapLast(mShape.length))]), [...yShape.slice(0, -1), aShape[aShape.length - 1]!], aShape) : undefined;
  const gm = ctx.needs(1) ? unbroadcast(b, b.node('MatMul', [b.transpose(a, swapLast(aShape.length)), g]), [...yShape.slice(0, -2), mShape[mShape.length - 2]!, yShape[yShape.length - 1]!], mShape) : undefined;
  return [ga, gm];
}

function gemmRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  const [a, m, c] = node.input as [string, string, string | undefined];
  const alpha = floatAttr(node, 'alpha', 1);
  const beta = floatAttr(node, 'beta', 1);
  const transA = intAttr(node, 'transA', 0) === 1;
  const transB = intAttr(node, 'transB', 0) === 1;
  // Y = alpha * A' B' + beta * C with A' = transA ? A^T : A and B' likewise.
  const bPrime = transB ? b.transpose(m, [1, 0]) : m;
  const aPrime = transA ? b.transpose(a, [1, 0]) : a;
  let ga: string | undefined;
  let gm: string | undefined;
  if (ctx.needs(0)) {
    const gaPrime = b.scale(b.node('MatMul', [g, b.transpose(bPrime, [1, 0])]), alpha);
    ga = transA ? b.transpose(gaPrime, [1, 0]) : gaPrime;
  }
  if (ctx.needs(1)) {
    const gbPrime = b.scale(b.node('MatMul', [b.transpose(aPrime, [1, 0]), g]), alpha);
    gm = transB ? b.transpose(gbPrime, [1, 0]) : gbPrime;
  }
  const gc = c && ctx.needs(2) ? unbroadcast(b, b.scale(g, beta), ctx.shape(node.output[0]!), ctx.shape(c)) : undefined;
  return [ga, gm, gc];
}

function layerNormRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  if (ctx.needs(1) || ctx.needs(2)) throw new UnsupportedNodeError(`LayerNormalization ${node.name}: its scale or bias depends on the input`);
  const [x, scale] = node.input as [string, string];
  const shape = ctx.shape(x);
  const axis = normAxis(intAttr(node, 'axis', -1), shape.length);
  const epsilon = floatAttr(node, 'epsilon', 1e-5);
  const axes = Array.from({ length: shape.length - axis }, (_, i) => axis + i);
  const n = product(axes.map((i) => shape[i]!));
  const mean = (t: string) => b.scale(b.sumKeep(t, axes), 1 / n);
  // xhat = (x - mu) * rstd; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * scale.
  const centred = b.sub(x, mean(x));
  const rstd = b.node('Reciprocal', [b.node('Sqrt', [b.add(mean(b.mul(centred, centred)), b.floats(epsilon))])]);
  const xhat = b.mul(centred, rstd);
  const dxhat = b.mul(g, scale);
  return [b.mul(rstd, b.sub(b.sub(dxhat, mean(dxhat)), b.mul(xhat, mean(b.mul(dxhat, xhat)))))];
}

function batchNormRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  if (intAttr(node, 'training_mode', 0) === 1) throw new UnsupportedNodeError(`BatchNormalization ${node.name} runs in training mode`);
  if ([1, 2, 3, 4].some((p) => ctx.needs(p))) throw new UnsupportedNodeError(`BatchNormalization ${node.name}: its statistics depend on the input`);
  const [x, scale, , , variance] = node.input as [string, string, string, string, string];
  const rank = ctx.shape(x).length;
  const channels = ctx.shape(scale)[0]!;
  const factor = b.div(scale, b.node('Sqrt', [b.add(variance, b.floats(floatAttr(node, 'epsilon', 1e-5)))]));
  return [b.mul(g, b.reshape(factor, [channels, ...Array(rank - 2).fill(1)]))];
}

function softmaxRule(ctx: RuleContext, g: string, log: boolean): InputGradients {
  const { b, node } = ctx;
  const y = node.output[0]!;
  const rank = ctx.shape(y).length;
  if (ctx.opset < 13) throw new UnsupportedNodeError(`${node.opType} before opset 13 flattens to 2-D; re-export the model at opset 13 or later`);
  const axis = normAxis(intAttr(node, 'axis', -1), rank);
  if (log) return [b.sub(g, b.mul(b.node('Exp', [y]), b.sumKeep(g, [axis])))];
  return [b.mul(y, b.sub(g, b.sumKeep(b.mul(g, y), [axis])))];
}

function sliceRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  const inShape = ctx.shape(node.input[0]!);
  const outShape = ctx.shape(node.output[0]!);
  const rank = inShape.length;
  const starts = requireInts(ctx, 1, 'starts');
  const axes = node.input[3] ? requireInts(ctx, 3, 'axes') : starts.map((_, i) => i);
  const steps = node.input[4] ? requireInts(ctx, 4, 'steps') : starts.map(() => 1);
  // The adjoint puts each gradient value back where Slice took it from: per axis, spread the values `step` apart
  // (interleave step - 1 zeros via a padded extra axis), then pad (or crop) to the input's extent. A negative step
  // took the values in descending order: reversing the gradient along the axis makes it the ascending slice that
  // starts at the last index taken.
  let grad = g;
  const shape = [...outShape];
  axes.forEach((rawAxis, i) => {
    const axis = normAxis(rawAxis, rank);
    const dim = inShape[axis]!;
    const count = shape[axis]!;
    let step = steps[i]!;
    let start: number;
    if (step > 0) start = Math.min(Math.max(starts[i]! < 0 ? starts[i]! + dim : starts[i]!, 0), dim);
    else {
      // ONNX clamps a negative step's start to [0, dim - 1].
      const first = Math.min(Math.max(starts[i]! < 0 ? starts[i]! + dim : starts[i]!, 0), dim - 1);
      start = count > 0 ? first + (count - 1) * step : 0;
      step = -step;
      if (count > 1) grad = reverseAxis(b, grad, axis);
    }
    if (step > 1 && count > 0) {
      const lifted = [...shape.slice(0, axis + 1), 1, ...shape.slice(axis + 1)];
      const pads = new Array<number>(2 * (rank + 1)).fill(0);
      pads[axis + 1 + rank + 1] = step - 1;
      grad = b.node('Pad', [b.reshape(grad, lifted), b.ints(pads)], { mode: 'constant' });
      shape[axis] = count * step;
      grad = b.reshape(grad, shape);
    }
    const spread = shape[axis]!;
    const after = dim - start - spread;
    // A negative pad crops: the zeros interleaved after the last taken element may reach past the input's end.
    grad = padAxis(b, grad, rank, axis, start, after);
    shape[axis] = dim;
  });
  return [grad];
}

/** `t` in reverse order along `axis` (a Slice with step -1 over the whole axis). */
function reverseAxis(b: GraphBuilder, t: string, axis: number): string {
  return b.node('Slice', [t, b.ints([-1]), b.ints([Number.MIN_SAFE_INTEGER]), b.ints([axis]), b.ints([-1])]);
}

/** Zeros before and after `t` along one axis (negative counts crop). */
function padAxis(b: GraphBuilder, t: string, rank: number, axis: number, before: number, after: number): string {
  if (before === 0 && after === 0) return t;
  const pads = new Array<number>(2 * rank).fill(0);
  pads[axis] = before;
  pads[axis + rank] = after;
  return b.node('Pad', [t, b.ints(pads)], { mode: 'constant' });
}

/** `t[from:to]` along one axis. */
function sliceAxis(b: GraphBuilder, t: string, axis: number, from: number, to: number): string {
  return b.node('Slice', [t, b.ints([from]), b.ints([to]), b.ints([axis])]);
}

function padRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  const mode = stringAttr(node, 'mode', 'constant');
  const x = node.input[0]!;
  const inShape = ctx.shape(x);
  const rank = inShape.length;
  const pads = node.input[1] ? requireInts(ctx, 1, 'pads') : (intsAttr(node, 'pads') ?? []);
  const axes = node.input[3] ? requireInts(ctx, 3, 'axes').map((a) => normAxis(a, rank)) : Array.from({ length: rank }, (_, i) => i);
  const before = (i: number) => pads[i]!;
  const after = (i: number) => pads[i + axes.length]!;
  if (mode === 'constant') {
    // The adjoint of padding is cropping the same amounts, and of cropping (negative pads) padding with zeros.
    const full = new Array<number>(2 * rank).fill(0);
    axes.forEach((axis, i) => {
      full[axis] = -before(i);
      full[axis + rank] = -after(i);
    });
    return [b.node('Pad', [g, b.ints(full)], { mode: 'constant' })];
  }
  if (mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') throw new UnsupportedNodeError(`Pad ${node.name}: mode ${mode} has no rule`);
  if (pads.some((p) => p < 0)) throw new UnsupportedNodeError(`Pad ${node.name}: negative pads (cropping) in ${mode} mode have no rule`);
  // Padding an axis at a time gives the same result as all at once (corners are padded twice either way), so the
  // adjoint undoes one axis at a time: the interior's gradient plus each border's, folded back onto the input
  // positions the border copied.
  let grad = g;
  axes.forEach((axis, i) => {
    const n = inShape[axis]!;
    const [p0, p1] = [before(i), after(i)];
    if (p0 === 0 && p1 === 0) return;
    const limit = mode === 'reflect' ? n - 1 : mode === 'wrap' ? n : Infinity;
    if (p0 > limit || p1 > limit) throw new UnsupportedNodeError(`Pad ${node.name}: ${mode} pads of ${Math.max(p0, p1)} on an axis of ${n} have no rule (at most ${limit})`);
    const terms = [sliceAxis(b, grad, axis, p0, p0 + n)];
    if (p0 > 0) {
      const left = sliceAxis(b, grad, axis, 0, p0);
      // reflect: output i < p0 copies input p0 - i; edge: input 0; wrap: input n - p0 + i.
      if (mode === 'reflect') terms.push(padAxis(b, reverseAxis(b, left, axis), rank, axis, 1, n - 1 - p0));
      else if (mode === 'edge') terms.push(padAxis(b, b.sumKeep(left, [axis]), rank, axis, 0, n - 1));
      else terms.push(padAxis(b, left, rank, axis, n - p0, 0));
    }
    if (p1 > 0) {
      const right = sliceAxis(b, grad, axis, p0 + n, p0 + n + p1);
      // reflect: output p0 + n + k copies input n - 2 - k; edge: input n - 1; wrap: input k.
      if (mode === 'reflect') terms.push(padAxis(b, reverseAxis(b, right, axis), rank, axis, n - 1 - p1, 1));
      else if (mode === 'edge') terms.push(padAxis(b, b.sumKeep(right, [axis]), rank, axis, n - 1, 0));
      else terms.push(padAxis(b, right, rank, axis, 0, n - p1));
    }
    grad = b.sum(terms);
  });
  return [grad];
}

function concatRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  const rank = ctx.shape(node.output[0]!).length;
  const axis = normAxis(intAttr(node, 'axis', 0), rank);
  let offset = 0;
  return node.input.map((input, i) => {
    const size = ctx.shape(input)[axis]!;
    const start = offset;
    offset += size;
    return ctx.needs(i) ? b.node('Slice', [g, b.ints([start]), b.ints([start + size]), b.ints([axis])]) : undefined;
  });
}

function splitRule(ctx: RuleContext, grads: (string | undefined)[]): InputGradients {
  const { b, node } = ctx;
  const rank = ctx.shape(node.input[0]!).length;
  const axis = normAxis(intAttr(node, 'axis', 0), rank);
  const parts = node.output.map((output, j) => grads[j] ?? b.zeros(ctx.shape(output)));
  return [parts.length === 1 ? parts[0] : b.node('Concat', parts, { axis })];
}

function gatherRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  const data = node.input[0]!;
  const dataShape = ctx.shape(data);
  const rank = dataShape.length;
  const axis = normAxis(intAttr(node, 'axis', 0), rank);
  const indices = requireInts(ctx, 1, 'indices');
  const dim = dataShape[axis]!;
  const k = indices.length;
  // Gather's adjoint is a scatter-add; as a one-hot matrix product it needs no opset-16 ScatterND reduction and
  // sums repeated indices by itself: move the gathered axis last, multiply by onehot[k, dim], move it back.
  const pre = dataShape.slice(0, axis);
  const post = dataShape.slice(axis + 1);
  const flat = b.reshape(g, [...pre, k, ...post]);
  const moveLast = [...pre.map((_, i) => i), ...post.map((_, i) => axis + 1 + i), axis];
  const oneHot = new Array<number>(k * dim).fill(0);
  indices.forEach((index, j) => (oneHot[j * dim + (index < 0 ? index + dim : index)] += 1));
  const scattered = b.node('MatMul', [b.transpose(flat, moveLast), b.floats(oneHot, [k, dim])]);
  const back = moveLast.map((_, i) => moveLast.indexOf(i));
  return [b.transpose(scattered, back)];
}

function whereRule(ctx: RuleContext, g: string): InputGradients {
  const { b, node } = ctx;
  const [condition, x, y] = node.input as [string, string, string];
  const outShape = ctx.shape(node.output[0]!);
  const zero = b.floats(0);
  return [
    undefined,
    ctx.needs(1) ? unbroadcast(b, b.node('Where', [condition, g, zero]), outShape, ctx.shape(x)) : undefined,
    ctx.needs(2) ? unbroadcast(b, b.node('Where', [condition, zero, g]), outShape, ctx.shape(y)) : undefined,
  ];
}

function reduceRule(kind: 'mean' | 'sum' | 'l2' | 'max'): GradientRule {
  return (ctx, [g]) => {
    const x = ctx.node.input[0]!;
    const axes = reductionAxes(ctx);
    const shape = ctx.shape(x);
    if (kind === 'max') {
      // The gradient goes to the maximal element(s); ties share it, as each receives the full gradient.
      const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const isMax = ctx.b.mask(ctx.b.node('Equal', [x, ctx.b.reshape(ctx.node.output[0]!, kept)]));
      return [ctx.b.mul(spreadReduced(ctx, g!, x, axes, 1), isMax)];
    }
    if (kind === 'l2') {
      // d||x|| / dx = x / ||x||
      const perNorm = ctx.b.div(g!, ctx.node.output[0]!);
      return [ctx.b.mul(spreadReduced(ctx, perNorm, x, axes, 1), x)];
    }
    const n = product(axes.map((a) => shape[a]!));
    return [spreadReduced(ctx, g!, x, axes, kind === 'mean' ? 1 / n : 1)];
  };
}

const RULES: Record<string, GradientRule> = {
  Identity: (_ctx, [g]) => [g],
  Dropout: (_ctx, [g]) => [g],
  Cast: (_ctx, [g]) => [g],
  Reshape: passThrough,
  Flatten: passThrough,
  Squeeze: passThrough,
  Unsqueeze: passThrough,
  Transpose: (ctx, [g]) => {
    const rank = ctx.shape(ctx.node.input[0]!).length;
    const perm = intsAttr(ctx.node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    return [ctx.b.transpose(g!, perm.map((_, i) => perm.indexOf(i)))];
  },
  Expand: (ctx, [g]) => [unbroadcast(ctx.b, g!, ctx.shape(ctx.node.output[0]!), ctx.shape(ctx.node.input[0]!))],
  Add: elementwiseBinary((_ctx, g) => [g, g]),
  Sub: elementwiseBinary((ctx, g) => [g, ctx.needs(1) ? ctx.b.neg(g) : undefined]),
  Mul: elementwiseBinary((ctx, g, a, bIn) => [ctx.needs(0) ? ctx.b.mul(g, bIn) : undefined, ctx.needs(1) ? ctx.b.mul(g, a) : undefined]),
  Div: elementwiseBinary((ctx, g, _a, bIn, y) => [
    ctx.needs(0) ? ctx.b.div(g, bIn) : undefined,
    ctx.needs(1) ? ctx.b.neg(ctx.b.div(ctx.b.mul(g, y), bIn)) : undefined,
  ]),
  Pow: elementwiseBinary((ctx, g, a, exponent, y) => {
    const { b } = ctx;
    const e = b.node('Cast', [exponent], { to: 1 });
    return [
      ctx.needs(0) ? b.mul(g, b.mul(e, b.node('Pow', [a, b.sub(e, b.floats(1))]))) : undefined,
      ctx.needs(1) ? b.mul(g, b.mul(y, b.node('Log', [a]))) : undefined,
    ];
  }),
  Max: elementwiseBinary((ctx, g, a, bIn) => {
    const pick = ctx.b.mask(ctx.b.node('GreaterOrEqual', [a, bIn]));
    return [ctx.b.mul(g, pick), ctx.b.mul(g, ctx.b.sub(ctx.b.floats(1), pick))];
  }),
  Min: elementwiseBinary((ctx, g, a, bIn) => {
    const pick = ctx.b.mask(ctx.b.node('LessOrEqual', [a, bIn]));
    return [ctx.b.mul(g, pick), ctx.b.mul(g, ctx.b.sub(ctx.b.floats(1), pick))];
  }),
  Neg: unary((b, g) => b.neg(g)),
  Sqrt: unary((b, g, _x, y) => b.div(b.scale(g, 0.5), y)),
  Exp: unary((b, g, _x, y) => b.mul(g, y)),
  Log: unary((b, g, x) => b.div(g, x)),
  Reciprocal: unary((b, g, _x, y) => b.neg(b.mul(g, b.mul(y, y)))),
  Abs: unary((b, g, x) => b.mul(g, b.node('Sign', [x]))),
  Tanh: unary((b, g, _x, y) => b.mul(g, b.sub(b.floats(1), b.mul(y, y)))),
  Sigmoid: unary((b, g, _x, y) => b.mul(g, b.mul(y, b.sub(b.floats(1), y)))),
  Relu: unary((b, g, x) => b.mul(g, b.mask(b.node('Greater', [x, b.floats(0)])))),
  LeakyRelu: unary((b, g, x, _y, node) => {
    const alpha = floatAttr(node, 'alpha', 0.01);
    const positive = b.mask(b.node('Greater', [x, b.floats(0)]));
    return b.mul(g, b.add(positive, b.scale(b.sub(b.floats(1), positive), alpha)));
  }),
  Erf: unary((b, g, x) => b.mul(g, b.scale(b.node('Exp', [b.neg(b.mul(x, x))]), TWO_OVER_SQRT_PI))),
  Gelu: unary((b, g, x, _y, node) => b.mul(g, stringAttr(node, 'approximate', 'none') === 'tanh' ? geluTanhDerivative(b, x) : geluExactDerivative(b, x))),
  Softplus: unary((b, g, x) => b.mul(g, b.node('Sigmoid', [x]))),
  Clip: (ctx, [g]) => {
    const { b, node } = ctx;
    const x = node.input[0]!;
    let keep = b.floats(1);
    // Opset 11+: min and max are optional inputs; opset 6-10: attributes.
    const minName = node.input[1];
    const maxName = node.input[2];
    const min = minName ? minName : attr(node, 'min') ? b.floats(floatAttr(node, 'min', -Infinity)) : undefined;
    const max = maxName ? maxName : attr(node, 'max') ? b.floats(floatAttr(node, 'max', Infinity)) : undefined;
    if (min) keep = b.mul(keep, b.mask(b.node('GreaterOrEqual', [x, min])));
    if (max) keep = b.mul(keep, b.mask(b.node('LessOrEqual', [x, max])));
    return [b.mul(g!, keep)];
  },
  Where: (ctx, [g]) => whereRule(ctx, g!),
  Softmax: (ctx, [g]) => softmaxRule(ctx, g!, false),
  LogSoftmax: (ctx, [g]) => softmaxRule(ctx, g!, true),
  MatMul: (ctx, [g]) => matmulRule(ctx, g!),
  Gemm: (ctx, [g]) => gemmRule(ctx, g!),
  Conv: (ctx, [g]) => convRule(ctx, g!, false),
  LayerNormalization: (ctx, [g]) => layerNormRule(ctx, g!),
  BatchNormalization: (ctx, [g]) => batchNormRule(ctx, g!),
  ReduceMean: reduceRule('mean'),
  ReduceSum: reduceRule('sum'),
  ReduceL2: reduceRule('l2'),
  ReduceMax: reduceRule('max'),
  GlobalAveragePool: (ctx, [g]) => {
    const shape = ctx.shape(ctx.node.input[0]!);
    return [ctx.b.scale(ctx.b.expand(g!, shape), 1 / product(shape.slice(2)))];
  },
  Slice: (ctx, [g]) => sliceRule(ctx, g!),
  Pad: (ctx, [g]) => padRule(ctx, g!),
  Concat: (ctx, [g]) => concatRule(ctx, g!),
  Split: (ctx, grads) => splitRule(ctx, grads),
  Gather: (ctx, [g]) => gatherRule(ctx, g!),
};

/** Operators whose float outputs carry no gradient to their float inputs by definition (comparisons, shapes). */
const NOT_DIFFERENTIABLE = new Set(['Shape', 'Size', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Sign', 'Floor', 'Ceil', 'Round', 'ArgMax', 'ArgMin', 'NonZero', 'ConstantOfShape', 'EyeLike', 'RandomNormalLike', 'RandomUniformLike']);

export function gradientRule(node: NodeProto): GradientRule | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  return RULES[node.opType];
}

/** True for ops whose outputs are piecewise constant in their inputs: the gradient through them is zero. */
export function isNotDifferentiable(node: NodeProto): boolean {
  return (node.domain === '' || node.domain === 'ai.onnx') && NOT_DIFFERENTIABLE.has(node.opType);
}

/** Operator types that have a rule (for documentation and `miru models inspect`). */
export const OPERATORS_WITH_RULES: readonly string[] = Object.keys(RULES).sort();
