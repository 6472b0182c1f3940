import type { ModelCard } from './modelCard.js';

export interface ScoredOutput {
  score: number;
  /** Class probabilities for classes/ordinal outputs, label probabilities for multilabel ones. */
  probs: Float32Array | null;
  /** Multilabel outputs: the most probable labels. */
  topLabels: { label: string; p: number }[] | null;
}

const TOP_LABELS = 10;

/**
 * Turns one image's raw score output into the stored score, as the card says: a scalar output as is; the
 * expected value over ordinal classes; a named label's probability for classes and multilabel outputs (the
 * top class's probability when no label is named). Returns an error string for NaN or infinite outputs.
 */
export function readScore(raw: Float32Array, card: ModelCard): ScoredOutput | { error: string } {
  const spec = card.outputs.score;
  if (!spec) throw new Error(`The card of ${card.name} has no outputs.score.`);
  for (let i = 0; i < raw.length; i++) {
    if (!Number.isFinite(raw[i]!)) return { error: `the model output ${spec.name} holds ${raw[i]} at index ${i}` };
  }
  const activation = spec.activation ?? (spec.kind === 'multilabel' ? 'sigmoid' : spec.kind === 'scalar' ? 'none' : 'softmax');
  if (spec.kind === 'scalar') return { score: raw[0]!, probs: null, topLabels: null };
  const probs = activate(raw, activation);
  const labels = spec.labels ?? Array.from(probs, (_, i) => String(i));
  if (spec.kind === 'ordinal') {
    const values = spec.values ?? Array.from(probs, (_, i) => i);
    let expected = 0;
    let total = 0;
    for (let i = 0; i < probs.length; i++) {
      expected += values[i]! * probs[i]!;
      total += probs[i]!;
    }
    // Probabilities that sum to zero or less (raw logits read with activation 'none') have no expected value.
    if (!(total > 0)) return { error: `the ${spec.name} values sum to ${total}, so they are not class probabilities; set outputs.score.activation to softmax in the card` };
    return { score: expected / total, probs, topLabels: null };
  }
  let index = spec.label !== undefined ? labels.indexOf(spec.label) : argmax(probs);
  if (index < 0) index = argmax(probs);
  const topLabels =
    spec.kind === 'multilabel'
      ? Array.from(probs, (p, i) => ({ label: labels[i] ?? String(i), p }))
          .sort((a, b) => b.p - a.p)
          .slice(0, TOP_LABELS)
      : null;
  return { score: probs[index]!, probs, topLabels };
}

function activate(raw: Float32Array, activation: 'none' | 'softmax' | 'sigmoid'): Float32Array {
  if (activation === 'none') return Float32Array.from(raw);
  if (activation === 'sigmoid') return raw.map((v) => 1 / (1 + Math.exp(-v)));
  let max = -Infinity;
  for (const v of raw) max = Math.max(max, v);
  const exps = raw.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
