import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { ALPHA_METRICS, alphaFromTable, buildCoincidences, krippendorffAlpha, type AlphaMetric } from '../../../core/analysis/krippendorffAlpha.js';

interface Reference {
  krippendorff2011: { table: (number | null)[][]; published: Record<AlphaMetric, number>; exact: Record<AlphaMetric, number> };
  alphaCases: { units: number[]; values: number[]; alpha: Record<AlphaMetric, number> }[];
}
const reference = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/rater_reference.json'), 'utf8')) as Reference;

test("Krippendorff's 2011 example: the published nominal .743, ordinal .815, interval .849 and ratio .797", () => {
  const { table, published, exact } = reference.krippendorff2011;
  const alpha = alphaFromTable(table);
  for (const metric of ALPHA_METRICS) {
    const a = alpha[metric].alpha!;
    assert.equal(Math.round(a * 1000) / 1000, published[metric], `${metric}: ${a}`);
    assert.ok(Math.abs(a - exact[metric]) < 1e-12, `${metric}: ${a} vs pair enumeration ${exact[metric]}`);
  }
  // The paper's coincidence matrix: unit 12 (a single value) is left out; n = 40 pairable values.
  assert.equal(alpha.nominal.pairableUnits, 11);
  assert.equal(alpha.nominal.pairableValues, 40);
});

test('alpha on sparse random data equals the pair-enumeration reference for all four metrics; lone values are left out', () => {
  for (const [i, c] of reference.alphaCases.entries()) {
    const alpha = krippendorffAlpha(c.units, c.values);
    for (const metric of ALPHA_METRICS) {
      assert.ok(Math.abs(alpha[metric].alpha! - c.alpha[metric]) < 1e-10, `case ${i} ${metric}: ${alpha[metric].alpha} vs ${c.alpha[metric]}`);
    }
  }
  // Case 0 has a value (99) used only in a single-rating unit: not among the values the matrix uses.
  assert.ok(!buildCoincidences(reference.alphaCases[0]!.units, reference.alphaCases[0]!.values).values.includes(99));
});

test('alpha does not depend on the order of the ratings or on the unit ids', () => {
  const c = reference.alphaCases[1]!;
  const order = c.units.map((_, i) => i).reverse();
  const shuffled = krippendorffAlpha(order.map((i) => c.units[i]! * 31 + 5), order.map((i) => c.values[i]!));
  const plain = krippendorffAlpha(c.units, c.values);
  for (const metric of ALPHA_METRICS) assert.ok(Math.abs(shuffled[metric].alpha! - plain[metric].alpha!) < 1e-12);
});

test('alpha is null with a reason when it is undefined, never a made-up number', () => {
  const none = krippendorffAlpha([1, 2, 3], [4, 5, 4]);
  for (const metric of ALPHA_METRICS) {
    assert.equal(none[metric].alpha, null);
    assert.match(none[metric].reason!, /no unit has two or more ratings/);
  }
  const same = krippendorffAlpha([1, 1, 2, 2], [3, 3, 3, 3]);
  assert.equal(same.interval.alpha, null);
  assert.match(same.interval.reason!, /every pairable rating has the same value \(3\)/);
  const negative = krippendorffAlpha([1, 1, 2, 2], [-1, 2, 3, 3]);
  assert.equal(negative.ratio.alpha, null);
  assert.match(negative.ratio.reason!, /ratio metric needs values of 0 or more/);
  assert.equal(typeof negative.interval.alpha, 'number');
  // Perfect agreement is 1 for every metric.
  const perfect = krippendorffAlpha([1, 1, 2, 2, 3, 3], [1, 1, 2, 2, 5, 5]);
  for (const metric of ALPHA_METRICS) assert.equal(perfect[metric].alpha, 1);
  assert.throws(() => krippendorffAlpha([1, 1], [2, NaN]), /rating 1 has the value NaN/);
  assert.throws(() => krippendorffAlpha([1, 1, 2], [2, 3]), /3 unit ids but 2 values/);
});
