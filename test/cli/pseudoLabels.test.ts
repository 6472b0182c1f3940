import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import type { PseudoLabelReport } from '../../core/analysis/pseudoLabels.js';

const IMAGES = 120;
const RATED = 80;

/**
 * A synthetic library made as a user would: `miru synth`, `index`, the ratings of the first 80 images only (the
 * other 40 are the unrated ones to pseudo-label), the bundled ConvNeXt model added, embedded and scored.
 */
const setup = synthCliLibrary({
  images: IMAGES,
  raters: 16,
  seed: 5,
  size: 96,
  ratings: (line) => Number(/^img_(\d+)/.exec(line)![1]) <= RATED,
  models: [{ name: 'miru-convnext-s', embed: true, score: true }],
});

test('pseudo-labels by propagation: every unrated image labelled, a held-out check, stored; text and JSON', async () => {
  const { db } = await setup;
  const run = await runMiruJson<PseudoLabelReport>(['pseudo-labels', '--db', db, '--embedding', 'miru-convnext-s', '--k', '8', '--holdout', '0.25', '--seed', '3']);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  assert.equal(r.method, 'propagation');
  assert.equal(r.model, 'miru-convnext-s');
  assert.deepEqual(r.classes, [1, 2, 3, 4, 5]);
  assert.equal(r.labelled, RATED);
  assert.equal(r.candidates, IMAGES - RATED);
  assert.equal(r.pseudoLabelled + r.unreachable, IMAGES - RATED);
  assert.equal(r.perClass.reduce((a, c) => a + c.labelled, 0), RATED);
  assert.equal(r.perClass.reduce((a, c) => a + c.pseudoLabelled, 0), r.pseudoLabelled);
  assert.deepEqual(r.params, { method: 'propagation', k: 8, alpha: 0.99, affinity: 'similarity', gamma: 3, balanced: false });
  const h = r.holdout!;
  assert.ok(h.hidden >= 15 && h.hidden <= 25, `hidden ${h.hidden}`);
  for (const key of ['accuracy', 'coverage'] as const) assert.ok(h[key]! >= 0 && h[key]! <= 1, `${key} ${h[key]}`);
  assert.ok(h.mae! >= 0 && h.mae! < 2, `mae ${h.mae}`);
  assert.equal(typeof h.qwk, 'number');
  assert.ok(r.analysisId > 0);

  const text = await runMiru(['pseudo-labels', '--db', db, '--embedding', 'miru-convnext-s', '--k', '8', '--affinity', 'connectivity', '--balanced']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Pseudo-labels by propagation from embedding run \d+ \(miru-convnext-s\), scale 1:5: 80 labelled images, \d+ of 40 unrated images labelled/);
  assert.match(text.stdout, /Held-out check \(\d+ labels hidden, seed 1\): accuracy \d+\.\d%, MAE \d\.\d{3}, QWK -?\d\.\d{3}; coverage at 0\.95/);
  assert.match(text.stdout, /^class\s+labelled\s+pseudo-labelled$/m);
});

test('pseudo-labels by threshold: the model\'s confident predictions only', async () => {
  const { db } = await setup;
  const run = await runMiruJson<PseudoLabelReport>(['pseudo-labels', '--db', db, '--method', 'threshold', '--model', 'miru-convnext-s', '--threshold', '0.5']);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  assert.equal(r.method, 'threshold');
  assert.equal(r.embeddingRun, null);
  assert.ok(r.scoreRun! > 0);
  assert.equal(r.candidates, IMAGES - RATED);
  assert.equal(r.pseudoLabelled + r.belowThreshold, r.candidates);
  assert.equal(r.propagation, null);
  assert.equal(r.holdout!.threshold, 0.5);
  // A stricter threshold keeps no more.
  const strict = await runMiruJson<PseudoLabelReport>(['pseudo-labels', '--db', db, '--method', 'threshold', '--model', 'miru-convnext-s', '--threshold', '0.9']);
  assert.ok(strict.json.pseudoLabelled <= r.pseudoLabelled);
  assert.ok(strict.json.holdout!.coverage! <= r.holdout!.coverage!);
});

test('pseudo-labels refuses bad input with exit code 1 (2 for a malformed number) and a message naming the fix', async () => {
  const { dir, db } = await setup;
  const cases: [string[], number, RegExp][] = [
    [['--embedding', 'nope'], 1, /^miru: No embedding run "nope"\. Known embedding runs: \d+ \(miru-convnext-s, 120 vectors\)/],
    [[], 1, /--method propagation needs --embedding RUN/],
    [['--embedding', 'miru-convnext-s', '--k', '120'], 1, /--k 120 needs more than 120 images with vectors/],
    [['--embedding', 'miru-convnext-s', '--alpha', '1'], 1, /--alpha must lie strictly between 0 and 1 \(got 1\)/],
    [['--embedding', 'miru-convnext-s', '--threshold', '0'], 1, /--threshold must be above 0 and at most 1 \(got 0\)/],
    [['--embedding', 'miru-convnext-s', '--method', 'vote'], 1, /--method must be propagation or threshold \(got "vote"\)/],
    [['--method', 'threshold'], 1, /--method threshold needs --model NAME/],
    [['--embedding', 'miru-convnext-s', '--k', 'ten'], 2, /--k must be a positive whole number \(got "ten"\)/],
    [['--embedding', 'miru-convnext-s', '--alpha', 'high'], 2, /--alpha must be a number \(got "high"\)/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runMiru(['pseudo-labels', '--db', db, ...args])));
  cases.forEach(([args, code, pattern], i) => {
    assert.equal(runs[i]!.code, code, `${args.join(' ')}: exit ${runs[i]!.code}, ${runs[i]!.stderr}`);
    assert.match(runs[i]!.stderr, pattern, args.join(' '));
  });
  // A library without ratings has nothing to propagate from.
  const empty = path.join(dir, 'empty.db');
  assert.equal((await runMiru(['index', path.join(dir, 'synth', 'images'), '--db', empty])).code, 0);
  const none = await runMiru(['pseudo-labels', '--db', empty, '--embedding', '1']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no ratings/);
});
