import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { ratingSetFrom } from '../../../core/analysis/raterAgreement.js';
import { crowdlabConsensus, meanConsensus, medianConsensus } from '../../../core/analysis/raterConsensus.js';

interface CrowdlabRef {
  consensus: number[];
  quality: number[];
  agreement: number[];
  posterior: number[][];
  raterWeight: number[];
  raterQuality: number[];
  modelWeight: number | null;
}
interface Reference {
  crowdlab: { classes: number[]; labels: (number | null)[][]; predProbs: number[][]; withModel: CrowdlabRef; withoutModel: CrowdlabRef };
}
const reference = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/rater_reference.json'), 'utf8')) as Reference;
const { classes, labels, predProbs } = reference.crowdlab;

// Image i of the reference is image id 1000 + i; raters r0..r5. Built rater by rater so image order differs from
// the reference's row order, and the result is mapped back through imageIds.
const rows: { rater: string; imageId: number; value: number }[] = [];
for (let m = 0; m < labels[0]!.length; m++) labels.forEach((row, i) => row[m] !== null && rows.push({ rater: `r${m}`, imageId: 1000 + ((i * 7) % labels.length), value: row[m]! }));
// The reference row of image id 1000 + ((i * 7) % N) is i; invert it.
const N = labels.length;
const refRowOfImage = new Map<number, number>();
for (let i = 0; i < N; i++) refRowOfImage.set(1000 + ((i * 7) % N), i);

function check(result: ReturnType<typeof crowdlabConsensus>, ref: CrowdlabRef, imageIds: number[], raters: string[]) {
  const K = classes.length;
  imageIds.forEach((imageId, j) => {
    const i = refRowOfImage.get(imageId)!;
    assert.equal(result.consensusClass[j], ref.consensus[i], `image ${i} consensus`);
    assert.equal(result.consensus[j], classes[ref.consensus[i]!], `image ${i} consensus value`);
    assert.ok(Math.abs(result.quality[j]! - ref.quality[i]!) < 1e-9, `image ${i} quality ${result.quality[j]} vs ${ref.quality[i]}`);
    assert.ok(Math.abs(result.agreement[j]! - ref.agreement[i]!) < 1e-12, `image ${i} agreement`);
    for (let k = 0; k < K; k++) assert.ok(Math.abs(result.posterior[j * K + k]! - ref.posterior[i]![k]!) < 1e-9, `image ${i} posterior ${k}`);
  });
  raters.forEach((name, r) => {
    const m = Number(name.slice(1));
    assert.ok(Math.abs(result.raterWeight[r]! - ref.raterWeight[m]!) < 1e-9, `${name} weight ${result.raterWeight[r]} vs ${ref.raterWeight[m]}`);
    assert.ok(Math.abs(result.raterQuality[r]! - ref.raterQuality[m]!) < 1e-9, `${name} quality ${result.raterQuality[r]} vs ${ref.raterQuality[m]}`);
  });
  if (ref.modelWeight === null) assert.equal(result.modelWeight, null);
  else assert.ok(Math.abs(result.modelWeight! - ref.modelWeight) < 1e-9);
}

test("CROWDLAB with a model's probabilities matches the reference written from cleanlab's formulas", () => {
  const set = ratingSetFrom(rows);
  const probs = set.imageIds.map((id) => predProbs[refRowOfImage.get(id)!]!);
  const result = crowdlabConsensus(set, { classes, predProbs: probs });
  check(result, reference.crowdlab.withModel, set.imageIds, set.raters);
  // The most accurate simulated rater (r0, 90%) gets the highest quality, the near-random one (r5) the lowest.
  const q = (name: string) => result.raterQuality[set.raters.indexOf(name)]!;
  assert.ok(q('r0') > q('r3') && q('r3') > q('r5'));
});

test('CROWDLAB without a model: raters alone, quality = agreement with consensus', () => {
  const set = ratingSetFrom(rows);
  const result = crowdlabConsensus(set, { classes });
  check(result, reference.crowdlab.withoutModel, set.imageIds, set.raters);
});

test('mean and median consensus; CROWDLAB refuses ratings outside its classes and input without overlap', () => {
  const set = ratingSetFrom([
    { rater: 'a', imageId: 5, value: 1 },
    { rater: 'b', imageId: 5, value: 2 },
    { rater: 'c', imageId: 5, value: 5 },
    { rater: 'a', imageId: 6, value: 4 },
  ]);
  assert.deepEqual(Array.from(meanConsensus(set).value), [8 / 3, 4]);
  assert.deepEqual(Array.from(medianConsensus(set).value), [2, 4]);
  assert.throws(() => crowdlabConsensus(set, { classes: [1, 2, 3, 4] }), /Rater "c" gave image 5 the value 5, which is not one of the classes 1, 2, 3, 4/);
  const lone = ratingSetFrom([{ rater: 'a', imageId: 1, value: 1 }, { rater: 'b', imageId: 2, value: 2 }]);
  assert.throws(() => crowdlabConsensus(lone), /every image here has a single rating/);
  assert.throws(() => crowdlabConsensus(set, { classes: [1, 2, 4, 5], predProbs: [[0.5, 0.5, 0, 0]] }), /1 rows of model probabilities for 2 rated images/);
  assert.throws(() => crowdlabConsensus(set, { classes: [1, 2, 4, 5], predProbs: [[0.5, 0.5, 0, 0], [1, NaN, 0, 0]] }), /image 6 hold NaN at class 1/);
});
