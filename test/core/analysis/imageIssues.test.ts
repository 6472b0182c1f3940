import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import {
  computeImageIssues,
  percentile,
  saveImageIssues,
  scoreImageIssues,
  IMAGE_ISSUE_TYPES,
  type ImageIssueScores,
  type ImageStatsRow,
} from '../../../core/analysis/imageIssues.js';
import { listAnalyses, readAnalysisValues } from '../../../core/analysis/analysisStore.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { cacheDirFor, openLibrary } from '../../../core/library/openLibrary.js';
import { tempDir } from '../../helpers/paths.js';

function row(id: number, over: Partial<ImageStatsRow> = {}): ImageStatsRow {
  return { id, width: 64, height: 48, channels: 3, brightness: 0.5, contrast: 0.2, sharpness: 400, entropy: 6, isGrayscale: false, ...over };
}

function byType(issues: ImageIssueScores[], type: string): ImageIssueScores {
  return issues.find((i) => i.type === type)!;
}

test('percentile interpolates linearly between order statistics, as numpy.percentile', () => {
  const sorted = Float64Array.from([1, 2, 3, 4, 10]);
  assert.equal(percentile(sorted, 25), 2);
  assert.equal(percentile(sorted, 75), 4);
  assert.equal(percentile(sorted, 90), 7.6000000000000005); // numpy.percentile([1, 2, 3, 4, 10], 90), bit for bit
  assert.equal(percentile(Float64Array.from([0.1, 0.2, 0.7]), 30), 0.16);
  assert.equal(percentile(Float64Array.from([0.1, 0.12, 0.3, 0.45, 0.5, 0.77, 0.9]), 75), 0.635);
  assert.equal(percentile(Float64Array.from([0.1, 0.12, 0.3, 0.45, 0.5, 0.77, 0.9]), 25), 0.21);
  assert.equal(percentile(Float64Array.from([51.96152422706632, 55.42562584220407, 57.44562646538029, 109.54451150103323]), 25), 54.559600438419636);
  assert.equal(percentile(Float64Array.from([5]), 25), 5);
});

test('each issue score follows its definition, and flags are scores below the cleanvision thresholds', () => {
  const rows = [
    row(1),
    row(2, { brightness: 0.05, contrast: 0.05 }), // dark: 0.05 + 2.326 * 0.05 = 0.166 < 0.32
    row(3, { brightness: 0.99, contrast: 0.005 }), // light: 1 - (0.99 - 1.645 * 0.005) = 0.018 < 0.05
    row(4, { sharpness: 25 }), // blurry: 1 - exp(-0.037 * 5) = 0.169 < 0.29
    row(5, { entropy: 1, channels: 1 }), // low information: 0.1 * 1 = 0.1 < 0.3 (grey file: no log2(3))
    row(6, { width: 300, height: 40 }), // odd aspect ratio: 40 / 300 = 0.133 < 0.35
    row(7, { isGrayscale: true }),
    row(8, { width: 4000, height: 3000 }), // odd size: far outside the 3 IQR fences of the others (as is row 6)
    row(9, { width: 66, height: 50 }),
    row(10, { width: 60, height: 45 }),
  ];
  const issues = scoreImageIssues(rows);
  assert.deepEqual(issues.map((i) => i.type), [...IMAGE_ISSUE_TYPES]);
  const flagged = Object.fromEntries(issues.map((i) => [i.type, Array.from(i.ids).filter((_, k) => i.flags[k])]));
  assert.deepEqual(flagged, {
    dark: [2],
    light: [3],
    blurry: [4],
    low_information: [5],
    odd_aspect_ratio: [6],
    odd_size: [6, 8],
    grayscale: [7],
  });
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  close(byType(issues, 'dark').scores[1]!, 0.05 + 2.3263478740408408 * 0.05);
  close(byType(issues, 'dark').scores[0]!, 0.5 + 2.3263478740408408 * 0.2);
  close(byType(issues, 'light').scores[2]!, 1 - (0.99 - 1.6448536269514722 * 0.005));
  close(byType(issues, 'blurry').scores[3]!, 1 - Math.exp(-0.037 * 5));
  close(byType(issues, 'low_information').scores[4]!, 0.1);
  close(byType(issues, 'low_information').scores[0]!, 0.1 * (6 + Math.log2(3)));
  close(byType(issues, 'odd_aspect_ratio').scores[5]!, 40 / 300);
  assert.equal(byType(issues, 'grayscale').scores[6], 0);
  assert.equal(byType(issues, 'grayscale').scores[0], 1);
  for (const issue of issues) {
    assert.equal(issue.flagged, flagged[issue.type]!.length);
    for (const s of issue.scores) assert.ok(s >= 0 && s <= 1, `${issue.type} score ${s}`);
  }
  // Odd size: s = sqrt(w) sqrt(h); fences q1 - 3 IQR, q3 + 3 IQR over the library; score 1 at their midpoint.
  const sizes = rows.map((r) => Math.sqrt(r.width) * Math.sqrt(r.height)).sort((a, b) => a - b);
  const q1 = percentile(Float64Array.from(sizes), 25);
  const q3 = percentile(Float64Array.from(sizes), 75);
  const lo = q1 - 3 * (q3 - q1);
  const hi = q3 + 3 * (q3 - q1);
  close(byType(issues, 'odd_size').scores[0]!, 1 - Math.abs(Math.sqrt(64 * 48) - (lo + hi) / 2) / (hi - lo));
  assert.equal(byType(issues, 'odd_size').scores[7], 0);

  // Thresholds can be changed per type; a stricter dark threshold flags more.
  const strict = scoreImageIssues(rows, { dark: 0.99 });
  assert.ok(byType(strict, 'dark').flagged > 1);
  assert.throws(() => scoreImageIssues(rows, { blurry: 2 }), /blurry threshold must be in \[0, 1\]/);
});

test('when every image has the same size, any other size is odd (cleanvision\'s zero-spread rule)', () => {
  const rows = [row(1), row(2), row(3), row(4), row(5, { width: 65, height: 48 })];
  const size = byType(scoreImageIssues(rows), 'odd_size');
  assert.equal(size.threshold, 1);
  assert.deepEqual(Array.from(size.flags), [0, 0, 0, 0, 1]);
});

test('computed from an indexed library and stored as one analysis per issue type', async () => {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  mkdirSync(images, { recursive: true });
  // Ordinary images: seeded colour noise, so they are sharp, varied and mid-bright.
  let state = 11;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 8; i++) {
    const width = 60 + 2 * i;
    const data = Buffer.alloc(width * 48 * 3);
    for (let j = 0; j < data.length; j++) data[j] = 40 + (random() % 180);
    await sharp(data, { raw: { width, height: 48, channels: 3 } }).png().toFile(path.join(images, `ok${i}.png`));
  }
  const solid = (file: string, width: number, height: number, rgb: [number, number, number]) =>
    sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toFile(path.join(images, file));
  await solid('night.png', 64, 48, [6, 6, 10]);
  await solid('wide.png', 400, 40, [200, 40, 90]);
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  try {
    await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
    const result = computeImageIssues(db);
    assert.equal(result.images, 10);
    const names = new Map(db.prepare<[], { id: number; rel_path: string }>('SELECT id, rel_path FROM images').all().map((r) => [r.id, r.rel_path]));
    const flaggedNames = (type: string) => {
      const issue = byType(result.issues, type);
      return Array.from(issue.ids).filter((_, k) => issue.flags[k]).map((id) => names.get(id)).sort();
    };
    assert.deepEqual(flaggedNames('dark'), ['night.png']);
    assert.ok(flaggedNames('odd_aspect_ratio').includes('wide.png'));
    // Flat colour: no edges (blurry) and a one-level histogram (low information).
    assert.deepEqual(flaggedNames('blurry'), ['night.png', 'wide.png']);
    assert.deepEqual(flaggedNames('low_information'), ['night.png', 'wide.png']);
    // (6, 6, 10) spreads 4 levels across channels: grey by imageStats' tolerance of 8.
    assert.deepEqual(flaggedNames('grayscale'), ['night.png']);
    assert.deepEqual(flaggedNames('light'), []);

    const ids = saveImageIssues(db, result);
    assert.deepEqual(Object.keys(ids).sort(), [...IMAGE_ISSUE_TYPES].sort());
    const stored = listAnalyses(db, { kind: 'image-issues' });
    assert.equal(stored.length, 7);
    const dark = stored.find((a) => a.params.issue === 'dark')!;
    assert.equal(dark.count, 10);
    assert.equal(dark.summary.flagged, 1);
    const values = readAnalysisValues(db, dark.id);
    const darkIssue = byType(result.issues, 'dark');
    for (const v of values) {
      const k = Array.from(darkIssue.ids).indexOf(v.imageId);
      assert.equal(v.value, darkIssue.scores[k]);
      assert.deepEqual(Array.from(v.extra!), [darkIssue.flags[k]]);
    }
    // Recomputing replaces the stored results rather than adding a second set.
    saveImageIssues(db, computeImageIssues(db));
    assert.equal(listAnalyses(db, { kind: 'image-issues' }).length, 7);
  } finally {
    db.close();
  }
});
