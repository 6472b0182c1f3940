import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { ProgressEvent } from '../../../core/jobs/progress.js';
import { defaultSynthOptions, generateSynthDataset } from '../../../core/synth/generateDataset.js';
import type { SynthOptions } from '../../../core/synth/generateDataset.js';
import type { SynthTruth } from '../../../core/synth/truthFile.js';
import { readSynthTruth } from '../../../core/synth/truthFile.js';
import { spearman } from '../../../core/analysis/correlation.js';

const tempRoot = await mkdtemp(path.join(os.tmpdir(), 'miru-synth-test-'));
test.after(async () => {
  await rm(tempRoot, { recursive: true, force: true });
});

let counter = 0;
function freshDir(label: string): string {
  return path.join(tempRoot, `${label}-${counter++}`);
}

interface CsvRating {
  image: string;
  rater: string;
  score: number;
  time: string;
}

/** Minimal CSV reader for the file we write (quoted fields supported, no embedded newlines needed). */
function parseRatingsCsv(text: string): CsvRating[] {
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], 'image,rater,score,time');
  return lines.slice(1).map((line) => {
    const fields: string[] = [];
    let i = 0;
    while (i <= line.length) {
      if (line[i] === '"') {
        let value = '';
        i++;
        while (i < line.length) {
          if (line[i] === '"' && line[i + 1] === '"') {
            value += '"';
            i += 2;
          } else if (line[i] === '"') {
            i++;
            break;
          } else value += line[i++];
        }
        fields.push(value);
        i++; // comma
      } else {
        const end = line.indexOf(',', i) === -1 ? line.length : line.indexOf(',', i);
        fields.push(line.slice(i, end));
        i = end + 1;
      }
    }
    assert.equal(fields.length, 4, `bad CSV line: ${line}`);
    return { image: fields[0], rater: fields[1], score: Number(fields[2]), time: fields[3] };
  });
}

async function load(dir: string): Promise<{ truth: SynthTruth; ratings: CsvRating[]; truthText: string; csvText: string }> {
  const truthText = await readFile(path.join(dir, 'truth.json'), 'utf8');
  const csvText = await readFile(path.join(dir, 'ratings.csv'), 'utf8');
  return { truth: await readSynthTruth(dir), ratings: parseRatingsCsv(csvText), truthText, csvText };
}

/** The documented truth formula, recomputed from truth.json's weights. */
function weighted(attributes: Record<string, number>, weights: Record<string, number>): number {
  let total = 0;
  for (const [name, w] of Object.entries(weights)) total += w * attributes[name] + (w < 0 ? -w : 0);
  return total;
}

// One moderately sized dataset shared by the statistical tests; small pixels keep it fast.
const largeOptions: Partial<SynthOptions> = { images: 300, raters: 30, seed: 11, size: 96 };
let largeDataset: Promise<{ dir: string; truth: SynthTruth; ratings: CsvRating[] }> | null = null;
function large() {
  largeDataset ??= (async () => {
    const dir = freshDir('large');
    await generateSynthDataset(dir, largeOptions);
    const { truth, ratings } = await load(dir);
    return { dir, truth, ratings };
  })();
  return largeDataset;
}

test('defaults are as documented', () => {
  assert.deepEqual(defaultSynthOptions, { images: 200, raters: 30, seed: 1, size: 512, classes: 5 });
});

test('same seed gives identical output; a different seed gives different output', async () => {
  const options: Partial<SynthOptions> = { images: 24, raters: 12, seed: 7, size: 96 };
  const a = freshDir('det-a');
  const b = freshDir('det-b');
  const c = freshDir('det-c');
  await generateSynthDataset(a, options);
  await generateSynthDataset(b, options);
  await generateSynthDataset(c, { ...options, seed: 8 });
  const [la, lb, lc] = await Promise.all([load(a), load(b), load(c)]);
  assert.equal(la.truthText, lb.truthText);
  assert.equal(la.csvText, lb.csvText);
  assert.notEqual(la.truthText, lc.truthText);
  assert.notEqual(la.csvText, lc.csvText);

  const files = (await readdir(path.join(a, 'images'))).sort();
  assert.deepEqual(files, (await readdir(path.join(b, 'images'))).sort());
  const pngs = files.filter((f) => f.endsWith('.png')).slice(0, 2);
  const jpgs = files.filter((f) => f.endsWith('.jpg')).slice(0, 2);
  assert.ok(pngs.length > 0 && jpgs.length > 0, 'both PNG and JPEG files are written');
  for (const file of [...pngs, ...jpgs]) {
    const [bytesA, bytesB] = await Promise.all([
      readFile(path.join(a, 'images', file)),
      readFile(path.join(b, 'images', file)),
    ]);
    assert.ok(bytesA.equals(bytesB), `${file} differs between two runs with the same seed`);
  }
  const first = files[0];
  const otherSeedFile = (await readdir(path.join(c, 'images'))).sort()[0];
  const [bytesA, bytesC] = await Promise.all([
    readFile(path.join(a, 'images', first)),
    readFile(path.join(c, 'images', otherSeedFile)),
  ]);
  assert.ok(!bytesA.equals(bytesC), 'a different seed renders different images');
});

test('images exist, decode at the recorded size, and subject boxes lie inside them', async () => {
  const dir = freshDir('files');
  const events: ProgressEvent[] = [];
  const summary = await generateSynthDataset(dir, { images: 20, raters: 10, seed: 3, size: 128, onProgress: (e) => events.push(e) });
  const { truth, ratings } = await load(dir);
  assert.equal(summary.outDir, path.resolve(dir));
  assert.equal(summary.images, 20);
  assert.equal(summary.ratings, ratings.length);
  assert.equal(truth.images.length, 20);
  assert.deepEqual((await readdir(path.join(dir, 'images'))).sort(), truth.images.map((i) => i.file).sort());
  for (const image of truth.images) {
    assert.match(image.file, /^img_\d{5}\.(png|jpg)$/);
    const meta = await sharp(path.join(dir, 'images', image.file)).metadata();
    assert.equal(meta.width, image.width, image.file);
    assert.equal(meta.height, image.height, image.file);
    assert.equal(meta.format, image.file.endsWith('.png') ? 'png' : 'jpeg');
    const box = image.subjectBox;
    assert.ok(box.x >= 0 && box.y >= 0 && box.width > 0 && box.height > 0, `${image.file} box ${JSON.stringify(box)}`);
    assert.ok(box.x + box.width <= image.width && box.y + box.height <= image.height, `${image.file} box outside`);
    assert.ok(Math.max(image.width, image.height) <= 128 && Math.max(image.width, image.height) >= 64);
    for (const name of truth.attributes) {
      const value = image.attributes[name];
      assert.ok(value >= 0 && value <= 1, `${image.file} ${name}=${value}`);
    }
    assert.ok(image.trueScore >= 0 && image.trueScore <= 1);
    assert.ok(Math.abs(image.trueScore - weighted(image.attributes, truth.weights.population)) < 1e-5);
  }
  const imageEvents = events.filter((e) => e.phase === 'images');
  assert.ok(imageEvents.every((e) => e.job === 'synth' && e.total === 20));
  assert.equal(imageEvents.at(-1)?.done, 20);
  assert.deepEqual(events.at(-1), { job: 'synth', phase: 'ratings', done: 1, total: 1 });
  // Every CSV row names a written image and a known rater, with an ISO 8601 time.
  const files = new Set(truth.images.map((i) => i.file));
  const raters = new Set(truth.raters.map((r) => r.name));
  for (const r of ratings) {
    assert.ok(files.has(r.image) && raters.has(r.rater), JSON.stringify(r));
    assert.equal(new Date(r.time).toISOString(), r.time);
  }
});

test('scale values stay in range, every class is used, every image is rated', async () => {
  const { truth, ratings } = await large();
  assert.deepEqual(truth.scale, { min: 1, max: 5 });
  const trueClasses = new Set(truth.images.map((i) => i.trueClass));
  const rated = new Set(ratings.map((r) => r.score));
  for (let c = 1; c <= 5; c++) {
    assert.ok(trueClasses.has(c), `true class ${c} unused`);
    assert.ok(rated.has(c), `rating ${c} unused`);
  }
  assert.ok(ratings.every((r) => Number.isInteger(r.score) && r.score >= 1 && r.score <= 5));
  const perImage = new Map<string, number>();
  for (const r of ratings) perImage.set(r.image, (perImage.get(r.image) ?? 0) + 1);
  for (const image of truth.images) assert.ok((perImage.get(image.file) ?? 0) >= 3, `${image.file} has too few ratings`);
  // No rater rates an image twice.
  assert.equal(new Set(ratings.map((r) => `${r.image}|${r.rater}`)).size, ratings.length);
});

test('seven classes: scale 1..7, all classes used', async () => {
  const dir = freshDir('seven');
  await generateSynthDataset(dir, { images: 60, raters: 12, seed: 5, size: 64, classes: 7 });
  const { truth, ratings } = await load(dir);
  assert.deepEqual(truth.scale, { min: 1, max: 7 });
  assert.equal(new Set(truth.images.map((i) => i.trueClass)).size, 7);
  assert.ok(ratings.every((r) => r.score >= 1 && r.score <= 7));
});

test('spammers exist and flipped ratings appear in ratings.csv with the flipped value', async () => {
  const { truth, ratings } = await large();
  const spammers = truth.raters.filter((r) => r.spammer);
  assert.ok(spammers.length >= 1 && spammers.length <= 3, `spammers: ${spammers.length}`);
  assert.ok(spammers.every((r) => r.group === null));
  assert.ok(truth.raters.filter((r) => !r.spammer).every((r) => r.group !== null && r.group in truth.weights.groups));

  assert.ok(truth.flipped.length > 0);
  const share = truth.flipped.length / ratings.length;
  assert.ok(share > 0.02 && share < 0.04, `flipped share ${share}`);
  const byKey = new Map(ratings.map((r) => [`${r.image}|${r.rater}`, r.score]));
  const spammerNames = new Set(spammers.map((r) => r.name));
  for (const f of truth.flipped) {
    assert.equal(byKey.get(`${f.image}|${f.rater}`), f.flipped, JSON.stringify(f));
    assert.equal(f.flipped, truth.scale.min + truth.scale.max - f.original);
    assert.notEqual(f.flipped, f.original);
    assert.ok(!spammerNames.has(f.rater));
  }
});

test('partial-scale raters stay within their range, except flipped ratings', async () => {
  const { truth, ratings } = await large();
  const partial = truth.raters.filter((r) => r.scaleRange[0] > truth.scale.min || r.scaleRange[1] < truth.scale.max);
  assert.ok(partial.length >= 1, 'at least one partial-scale rater');
  const flipped = new Set(truth.flipped.map((f) => `${f.image}|${f.rater}`));
  for (const rater of partial) {
    const own = ratings.filter((r) => r.rater === rater.name && !flipped.has(`${r.image}|${r.rater}`));
    assert.ok(own.length > 0);
    for (const r of own) {
      assert.ok(r.score >= rater.scaleRange[0] && r.score <= rater.scaleRange[1], `${rater.name} gave ${r.score}`);
    }
  }
});

test("each group's mean rating follows its own weighted truth more than another group's", async () => {
  const { truth, ratings } = await large();
  const groupOf = new Map(truth.raters.filter((r) => !r.spammer).map((r) => [r.name, r.group]));
  const groups = Object.keys(truth.weights.groups);
  assert.equal(groups.length, 3);
  const imageIndex = new Map(truth.images.map((image, i) => [image.file, i]));
  const groupTruth = Object.fromEntries(
    groups.map((g) => [g, truth.images.map((image) => weighted(image.attributes, truth.weights.groups[g as keyof typeof truth.weights.groups]))]),
  );
  for (const g of groups) {
    const sum = new Array<number>(truth.images.length).fill(0);
    const count = new Array<number>(truth.images.length).fill(0);
    for (const r of ratings) {
      if (groupOf.get(r.rater) !== g) continue;
      const i = imageIndex.get(r.image)!;
      sum[i] += r.score;
      count[i]++;
    }
    const rated = truth.images.map((_, i) => i).filter((i) => count[i] > 0);
    assert.ok(rated.length > 150, `group ${g} rated only ${rated.length} images`);
    const means = rated.map((i) => sum[i] / count[i]);
    const own = spearman(means, rated.map((i) => groupTruth[g][i]));
    assert.ok(own > 0.5, `group ${g}: Spearman with own truth ${own.toFixed(3)}`);
    for (const other of groups.filter((o) => o !== g)) {
      const cross = spearman(means, rated.map((i) => groupTruth[other][i]));
      assert.ok(own > cross + 0.1, `group ${g}: own ${own.toFixed(3)} vs ${other} ${cross.toFixed(3)}`);
    }
  }
  // Weights as documented: |w| sums to 1 per group, population is the groups' mean, positions are null controls.
  for (const g of groups) {
    const w = truth.weights.groups[g as keyof typeof truth.weights.groups];
    assert.ok(Math.abs(Object.values(w).reduce((s, v) => s + Math.abs(v), 0) - 1) < 1e-9, g);
    assert.equal(w.subjectX, 0);
    assert.equal(w.subjectY, 0);
  }
  for (const name of truth.attributes) {
    const mean = groups.reduce((s, g) => s + truth.weights.groups[g as keyof typeof truth.weights.groups][name], 0) / groups.length;
    assert.ok(Math.abs(truth.weights.population[name] - mean) < 1e-6, name);
  }
  // Each group's top three attributes (by |weight|) are distinct as ordered lists.
  const tops = groups.map((g) =>
    Object.entries(truth.weights.groups[g as keyof typeof truth.weights.groups])
      .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
      .slice(0, 3)
      .map(([name]) => name)
      .join(','),
  );
  assert.equal(new Set(tops).size, 3);
});

test('bad options are rejected with the option and its range named', async () => {
  const cases: Array<[Partial<SynthOptions>, RegExp]> = [
    [{ images: 0 }, /"images".*1 to 100000/],
    [{ images: 100_000, raters: 1000 }, /"images" and "raters"/],
    [{ images: 2.5 }, /"images"/],
    [{ raters: 0 }, /"raters".*1 to/],
    [{ size: 63 }, /"size".*64 to 8192/],
    [{ size: 9000 }, /"size".*64 to 8192/],
    [{ seed: -1 }, /"seed"/],
    [{ classes: 6 as 5 }, /"classes".*5 or 7/],
    [{ images: Number.NaN }, /"images"/],
  ];
  for (const [options, message] of cases) {
    const dir = freshDir('bad');
    await assert.rejects(generateSynthDataset(dir, options), message, JSON.stringify(options));
    await assert.rejects(readdir(dir), /ENOENT/, 'nothing is written for bad options');
  }
});

test('refuses a non-empty foreign folder and overwrites a previous synth output', async () => {
  const foreign = freshDir('foreign');
  await mkdir(foreign, { recursive: true });
  await writeFile(path.join(foreign, 'holiday.jpg'), 'not ours');
  await assert.rejects(generateSynthDataset(foreign, { images: 2, raters: 2, size: 64 }), /not empty.*holiday\.jpg/);
  assert.deepEqual(await readdir(foreign), ['holiday.jpg']);

  // A folder with only truth.json-like files but no marker is also someone else's.
  const lookalike = freshDir('lookalike');
  await mkdir(lookalike, { recursive: true });
  await writeFile(path.join(lookalike, 'truth.json'), '{}');
  await assert.rejects(generateSynthDataset(lookalike, { images: 2, raters: 2, size: 64 }), /does not look like a previous synth output/);

  // A file is not a folder.
  const file = path.join(tempRoot, `plain-file-${counter++}`);
  await writeFile(file, 'x');
  await assert.rejects(generateSynthDataset(file, { images: 2, raters: 2, size: 64 }), /not a folder/);

  // Overwriting a previous output leaves no stale images behind.
  const own = freshDir('own');
  await generateSynthDataset(own, { images: 12, raters: 4, size: 64 });
  const summary = await generateSynthDataset(own, { images: 5, raters: 4, size: 64, seed: 2 });
  assert.equal(summary.images, 5);
  const { truth } = await load(own);
  assert.equal(truth.seed, 2);
  assert.deepEqual((await readdir(path.join(own, 'images'))).sort(), truth.images.map((i) => i.file).sort());
  // A previous output that a person added files to is no longer ours to wipe.
  await writeFile(path.join(own, 'notes.txt'), 'mine');
  await assert.rejects(generateSynthDataset(own, { images: 2, raters: 2, size: 64 }), /notes\.txt/);
});

test('tiny datasets still work: one image, one rater', async () => {
  const dir = freshDir('tiny');
  const summary = await generateSynthDataset(dir, { images: 1, raters: 1, size: 64 });
  const { truth, ratings } = await load(dir);
  assert.equal(summary.spammers, 0);
  assert.equal(truth.images.length, 1);
  assert.equal(ratings.length, 1);
  assert.ok(truth.images[0].trueClass >= 1 && truth.images[0].trueClass <= 5);
});
