/**
 * What an explanation explains: `score` (the card's scalar, as `miru score` stores it), `class:K` and
 * `label:NAME` (the raw output value of that class: the logit before any softmax or sigmoid, which is what
 * pytorch-grad-cam's ClassifierOutputTarget differentiates), or `prob:K` (that class's probability after the
 * card's activation). The target is appended to the model as ONNX nodes that end in one value per image, so the
 * same graph serves forward scoring, backward graphs and finite differences.
 */
import type { ModelCard, ScoreOutput } from '../models/modelCard.js';
import type { GraphBuilder } from './graphBuilder.js';
import { ExplainSetupError } from './explainTypes.js';

export type ExplainTarget = { kind: 'score' } | { kind: 'class'; index: number } | { kind: 'prob'; index: number };

export class TargetError extends ExplainSetupError {}

/** Parses `score`, `class:K`, `label:NAME` or `prob:K` against the card's score output. */
export function parseTarget(text: string, card: ModelCard): ExplainTarget {
  const spec = scoreSpec(card);
  const trimmed = text.trim();
  if (trimmed === 'score') return { kind: 'score' };
  const match = /^(class|prob|label):(.+)$/.exec(trimmed);
  if (!match) throw new TargetError(`--target ${text}: use score, class:K, label:NAME or prob:K`);
  const [, kind, value] = match as unknown as [string, 'class' | 'prob' | 'label', string];
  if (kind === 'label') {
    const labels = spec.labels ?? [];
    const index = labels.indexOf(value);
    if (index < 0) {
      const known = labels.length ? `its labels are ${labels.slice(0, 20).join(', ')}${labels.length > 20 ? ', ...' : ''}` : 'the card names no labels (outputs.score.labels)';
      throw new TargetError(`--target ${text}: ${card.name}'s output ${spec.name} has no label "${value}"; ${known}`);
    }
    return { kind: 'class', index };
  }
  if (!/^\d+$/.test(value)) throw new TargetError(`--target ${text}: the class must be a whole number from 0`);
  const index = Number(value);
  if (spec.labels && index >= spec.labels.length) throw new TargetError(`--target ${text}: class ${index} is out of range; ${spec.name} has ${spec.labels.length} classes (0..${spec.labels.length - 1})`);
  return { kind, index };
}

export function formatTarget(target: ExplainTarget): string {
  return target.kind === 'score' ? 'score' : `${target.kind}:${target.index}`;
}

function scoreSpec(card: ModelCard): ScoreOutput {
  const spec = card.outputs.score;
  if (!spec) throw new TargetError(`${card.name}'s card has no outputs.score, so there is nothing to explain; add one (see miru models add --card)`);
  return spec;
}

/**
 * Appends the nodes that turn the score output into one target value per image and returns that tensor's
 * name. `classes` is the output's class count (its last dimension), checked against class targets here.
 */
export function appendTargetNodes(b: GraphBuilder, card: ModelCard, target: ExplainTarget, outputShape: readonly number[]): string {
  const spec = scoreSpec(card);
  // -1, not the measured batch: the same target nodes serve fixed-batch backward graphs and dynamic-batch scorers.
  const batch = -1;
  const classes = outputShape.length === 1 ? 1 : outputShape.slice(1).reduce((a, c) => a * c, 1);
  const out = outputShape.length === 2 ? spec.name : b.reshape(spec.name, [batch, classes]);
  if (target.kind !== 'score' && target.index >= classes) {
    throw new TargetError(`target ${formatTarget(target)} is out of range: ${spec.name} has ${classes} value${classes === 1 ? '' : 's'} per image (0..${classes - 1})`);
  }
  const activation = spec.activation ?? (spec.kind === 'multilabel' ? 'sigmoid' : spec.kind === 'scalar' ? 'none' : 'softmax');
  const probabilities = () => (activation === 'softmax' ? b.node('Softmax', [out], { axis: 1 }) : activation === 'sigmoid' ? b.node('Sigmoid', [out]) : out);
  const pick = (t: string, index: number) => b.reshape(b.node('Gather', [t, b.ints([index], [])], { axis: 1 }), [batch]);
  if (target.kind === 'class') return pick(out, target.index);
  if (target.kind === 'prob') return pick(probabilities(), target.index);
  // score: mirror readScore (core/models/readScores.ts) exactly.
  if (spec.kind === 'scalar') {
    if (classes !== 1) throw new TargetError(`${spec.name} holds ${classes} values per image, but the card says it is a scalar score`);
    return b.reshape(out, [batch]);
  }
  const p = probabilities();
  if (spec.kind === 'ordinal') {
    const values = spec.values ?? Array.from({ length: classes }, (_, i) => i);
    if (values.length !== classes) throw new TargetError(`the card gives ${values.length} ordinal values but ${spec.name} has ${classes} classes`);
    const sumOver = (t: string) => b.reshape(b.sumKeep(t, [1]), [batch]);
    return b.div(sumOver(b.mul(p, b.floats(values, [1, classes]))), sumOver(p));
  }
  const labels = spec.labels ?? [];
  const index = spec.label !== undefined ? labels.indexOf(spec.label) : -1;
  if (index >= 0) return pick(p, index);
  // No named label: readScore takes the most probable class's probability.
  return b.reshape(b.maxKeep(p, [1]), [batch]);
}
