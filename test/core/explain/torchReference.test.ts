import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Explainer } from '../../../core/explain/explainer.js';
import { GRADIENT_CAMS } from '../../../core/explain/camMethods.js';
import { loadInputImage } from '../../../core/explain/inputImage.js';
import { toActivationMap } from '../../../core/explain/layerMaps.js';
import { resolveModelFile } from '../../../core/models/modelRegistry.js';
import { pearson } from '../../../core/analysis/correlation.js';
import { repoRoot } from '../../helpers/paths.js';

/**
 * Miru's backward graphs against torch autograd (issue 4, "Correctness"). test/fixtures/explain/reference.json
 * holds, per model, image, layer and target, torch's activations, gradients, the five gradient-CAM raw maps and
 * the input gradient (scripts/explain/make_reference.py). Each must match with Pearson >= 0.999 and a largest
 * error of at most 1% of the reference's largest magnitude.
 */
/**
 * Where a LayerNormalization follows the layer, the target is invariant to scaling and shifting each position's
 * channel vector, so sum_k G_k A_k is exactly 0 at every position and HiResCAM's map (and maps built like it) is
 * float rounding in torch and in Miru alike. Those maps are compared by size instead: both must be below 1e-3 of
 * the largest per-position sum of |G_k A_k|, the scale of the terms that cancel.
 */
const CANCELLED = 1e-3;

interface ReferenceCase {
  model: string;
  file: string;
  card: string;
  image: string;
  inputSum: number;
  layer: string;
  target: string;
  y: number;
  activation: string;
  gradient: string;
  raw: Record<string, string>;
  inputGradient?: string;
}

const reference = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/explain/reference.json'), 'utf8')) as { cases: ReferenceCase[] };
const decode = (base64: string) => {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

function assertMatches(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, reference has ${expected.length}`);
  const scale = Math.max(...Array.from(expected, Math.abs));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= 0.01 * scale, `${what}: largest error ${worst.toExponential(3)} is over 1% of the reference's largest magnitude ${scale.toExponential(3)}`);
  if (scale > 0) {
    const r = pearson(Array.from(actual), Array.from(expected));
    assert.ok(r >= 0.999, `${what}: Pearson ${r}`);
  }
}

const byModel = new Map<string, ReferenceCase[]>();
for (const c of reference.cases) byModel.set(c.model, [...(byModel.get(c.model) ?? []), c]);

const cancelled: string[] = [];

for (const [model, cases] of byModel) {
  test(`${model}: gradient CAMs and input gradients match torch autograd (${cases.length} cases)`, async () => {
    const first = cases[0]!;
    const resolved = await resolveModelFile(path.join(repoRoot, first.file), { cardFile: path.join(repoRoot, first.card) });
    const explainer = Explainer.open(resolved.bytes, resolved.card, { ep: 'cpu' });
    try {
      for (const c of cases) {
        const what = `${model} ${path.basename(c.image)} ${c.layer} ${c.target}`;
        const input = await loadInputImage(path.join(repoRoot, c.image), resolved.card);
        const sum = input.tensor.reduce((a, v) => a + v, 0);
        assert.ok(Math.abs(sum - c.inputSum) < 1e-3 * Math.max(1, Math.abs(c.inputSum)), `${what}: the input tensor differs from the reference's (sum ${sum} vs ${c.inputSum})`);
        const layout = await explainer.layout(c.layer);
        const acts = toActivationMap(decode(c.activation), layout, 0);
        const grads = toActivationMap(decode(c.gradient), layout, 0);
        const plane = acts.height * acts.width;
        let termScale = 0;
        for (let i = 0; i < plane; i++) {
          let s = 0;
          for (let k = 0; k < acts.channels; k++) s += Math.abs(acts.data[k * plane + i]! * grads.data[k * plane + i]!);
          termScale = Math.max(termScale, s);
        }
        for (const method of GRADIENT_CAMS) {
          const result = await explainer.explain(input, { method, layer: c.layer, target: c.target });
          assert.equal(result.gradients, 'backward-graph');
          assert.ok(Math.abs(result.score - c.y) <= 1e-4 * Math.max(1, Math.abs(c.y)), `${what}: target ${result.score} vs torch ${c.y}`);
          const expected = decode(c.raw[method]!);
          const largest = (values: Float32Array) => Math.max(...Array.from(values, Math.abs));
          if (largest(expected) < CANCELLED * termScale) {
            assert.ok(largest(result.raw) < CANCELLED * termScale, `${what} ${method}: torch's map cancels to rounding (${largest(expected)}), Miru's is ${largest(result.raw)}`);
            cancelled.push(`${model} ${c.layer} ${c.target} ${method}`);
            continue;
          }
          assertMatches(result.raw, expected, `${what} ${method}`);
        }
        if (c.inputGradient) {
          const { gradient } = await explainer.inputGradient(input, c.target);
          assertMatches(gradient, decode(c.inputGradient), `${what} input gradient`);
        }
      }
    } finally {
      await explainer.close();
    }
  });
}

test('maps compared by size only are the LayerNorm-cancelled ones, not a way around the comparison', () => {
  // Only HiResCAM (sum_k G_k A_k) and XGrad-CAM / Grad-CAM++ built from the same sums can cancel like that.
  for (const entry of cancelled) assert.match(entry, /(hirescam|xgradcam|gradcam\+\+)$/, entry);
});
