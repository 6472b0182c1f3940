import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { repoRoot, tempDir } from '../helpers/paths.js';

interface Case {
  name: string;
  labels: number[];
  predProbs: number[][];
  scoreRows: number;
  scores: Record<string, number[]>;
  issues: Record<string, Record<string, number[]>>;
  variants: Array<{ options: Record<string, unknown>; issues: number[] }>;
}

interface LabelIssuesJson {
  issues: number[];
  scores: number[];
  filterBy: string;
  rankedBy: string;
  count: number;
  rows: number;
  classes: number;
}

const cases = (JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/cleanlab_reference.json'), 'utf8')) as { cases: Case[] }).cases;
const dir = tempDir();

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('label-issues on JSON files prints cleanlab\'s ranked issues and every row\'s label quality', async () => {
  const c = cases.find((x) => x.name === 'k5-n200-ordinal')!;
  const labels = write('labels.json', JSON.stringify(c.labels));
  const probs = write('probs.json', JSON.stringify(c.predProbs));
  const run = await runMiruJson<LabelIssuesJson>(['label-issues', '--labels', labels, '--pred-probs', probs]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.issues, c.issues.prune_by_noise_rate!.self_confidence);
  assert.ok(run.json.issues.length > 5);
  assert.equal(run.json.count, run.json.issues.length);
  assert.equal(run.json.filterBy, 'prune_by_noise_rate');
  assert.equal(run.json.rankedBy, 'self_confidence');
  assert.equal(run.json.scores.length, 200);
  assert.deepEqual(run.json.scores.slice(0, c.scoreRows), c.scores.self_confidence);
  assert.equal(run.json.classes, 5);

  const other = await runMiruJson<LabelIssuesJson>(['label-issues', '--labels', labels, '--pred-probs', probs, '--filter-by', 'low_normalized_margin', '--rank-by', 'normalized_margin']);
  assert.equal(other.code, 0, other.stderr);
  assert.deepEqual(other.json.issues, c.issues.low_normalized_margin!.normalized_margin);
  for (let i = 0; i < c.scoreRows; i++) assert.ok(Math.abs(other.json.scores[i]! - c.scores.normalized_margin![i]!) < 1e-12);

  const frac = c.variants.find((v) => v.options.fracNoise === 0.5 && v.options.filterBy === 'prune_by_class')!;
  const half = await runMiruJson<LabelIssuesJson>(['label-issues', '--labels', labels, '--pred-probs', probs, '--filter-by', 'prune_by_class', '--frac-noise', '0.5']);
  assert.deepEqual(half.json.issues, frac.issues);

  const text = await runMiru(['label-issues', '--labels', labels, '--pred-probs', probs, '--top', '3']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^${c.issues.prune_by_noise_rate!.self_confidence.length} likely label issues among 200 examples`));
  assert.match(text.stdout, new RegExp(`\\n\\s+${c.issues.prune_by_noise_rate!.self_confidence[0]}\\s+\\d\\s+\\d\\s+0\\.\\d{4}\\n`));
});

test('label-issues reads CSV: a named label column among others, header optional, tab-separated', async () => {
  const c = cases.find((x) => x.name === 'k3-n100')!;
  const labels = write('labels.csv', ['id,given_label,note', ...c.labels.map((y, i) => `${i},${y},"x, y"`)].join('\n'));
  const probs = write('probs.csv', c.predProbs.map((row) => row.join(',')).join('\r\n'));
  const run = await runMiruJson<LabelIssuesJson>(['label-issues', '--labels', labels, '--pred-probs', probs, '--filter-by', 'both', '--rank-by', 'confidence_weighted_entropy']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.issues, c.issues.both!.confidence_weighted_entropy);

  const bare = write('bare.csv', c.labels.join('\n') + '\n\n');
  const tsv = write('probs.tsv', ['p0\tp1\tp2', ...c.predProbs.map((row) => row.join('\t'))].join('\n'));
  const again = await runMiruJson<LabelIssuesJson>(['label-issues', '--labels', bare, '--pred-probs', tsv, '--filter-by', 'confident_learning']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.json.issues, c.issues.confident_learning!.self_confidence);
});

test('bad label and probability files are refused with the file, line and what to change', async () => {
  const labels = write('ok-labels.json', '[0, 1, 1, 2]');
  const probs = write('ok-probs.json', JSON.stringify([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]));
  const fails = async (args: string[], pattern: RegExp) => {
    const run = await runMiru(['label-issues', ...args]);
    assert.equal(run.code, 1, `${args.join(' ')} should fail: ${run.stdout}`);
    assert.match(run.stderr, pattern);
    assert.equal(run.stdout, '');
  };
  await fails(['--labels', labels, '--pred-probs', write('ragged.csv', '0.8,0.1,0.1\n0.2,0.8\n')], /ragged\.csv line 2 \(example 1\) has 2 columns, line 1 has 3/);
  await fails(['--labels', labels, '--pred-probs', write('ragged.json', '[[0.8,0.1,0.1],[0.2,0.8]]')], /ragged\.json element \[1\] has 2 values, element \[0\] has 3/);
  await fails(['--labels', labels, '--pred-probs', write('word.csv', 'a,b,c\n0.8,0.1,0.1\n0.2,high,0.1\n')], /word\.csv line 3 \(example 1\), class 1: "high" is not a number/);
  await fails(['--labels', labels, '--pred-probs', write('neg.json', '[[0.8,0.1,0.1],[1.2,-0.2,0]]')], /neg\.json element \[1\], class 0: 1\.2 is not a probability/);
  await fails(['--labels', labels, '--pred-probs', write('nan.csv', '0.8,0.1,0.1\nNaN,0.5,0.5\n')], /nan\.csv line 2 \(example 1\), class 0: .*not a number/);
  await fails(['--labels', labels, '--pred-probs', write('sum.json', '[[0.8,0.1,0.1],[0.5,0.3,0.1],[0.1,0.8,0.1],[0.1,0.1,0.8]]')], /sum\.json element \[1\]: the probabilities add up to 0\.9, 0\.1 under 1 \(allowed: 0\.01\)/);
  await fails(['--labels', write('big.json', '[0, 1, 3, 2]'), '--pred-probs', probs], /big\.json example 2: label 3, but ok-probs\.json has 3 columns \(classes 0-2\)/);
  await fails(['--labels', write('frac.json', '[0, 1.5, 1, 2]'), '--pred-probs', probs], /frac\.json element \[1\]: 1\.5 is not a class index/);
  await fails(['--labels', write('text.csv', 'label\n0\none\n1\n2\n'), '--pred-probs', probs], /text\.csv line 3 \(example 1\): "one" is not a class index/);
  await fails(['--labels', write('short.json', '[0, 1, 2]'), '--pred-probs', probs], /short\.json has 3 labels but ok-probs\.json has 4 rows/);
  await fails(['--labels', write('gap.json', '[0, 0, 1, 1]'), '--pred-probs', probs], /No example in gap\.json has label 2, but ok-probs\.json has a column for it/);
  await fails(['--labels', write('wide.csv', 'a,b\n0,1\n'), '--pred-probs', probs], /wide\.csv has columns a, b; name the column of given labels label, labels, given_label/);
  await fails(['--labels', path.join(dir, 'nowhere.json'), '--pred-probs', probs], /Cannot read the labels file .*nowhere\.json: no such file/);
  await fails(['--labels', write('broken.json', '[0, 1,'), '--pred-probs', probs], /broken\.json is not valid JSON/);
  const usage = await runMiru(['label-issues', '--labels', labels, '--pred-probs', probs, '--rank-by', 'margin']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--rank-by must be one of self_confidence, normalized_margin, confidence_weighted_entropy/);
  const ok = await runMiruJson<LabelIssuesJson>(['label-issues', '--labels', labels, '--pred-probs', probs]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(ok.json.issues, []);
});
