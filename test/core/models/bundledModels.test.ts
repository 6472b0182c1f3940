import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { repoRoot, tempDir } from '../../helpers/paths.js';
import { openLibrary, cacheDirFor } from '../../../core/library/openLibrary.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { generateSynthDataset } from '../../../core/synth/generateDataset.js';
import { addModel } from '../../../core/models/modelRegistry.js';
import { scoreLibrary } from '../../../core/models/scoreLibrary.js';
import { preprocessRaw, toBatchTensor } from '../../../core/models/preprocessImage.js';
import { InferencePool } from '../../../core/models/inferencePool.js';
import { spearman } from '../../../core/analysis/correlation.js';
import type { ModelCard } from '../../../core/models/modelCard.js';

const BUNDLED = ['miru-convnext-s', 'miru-vit-s'];
const modelsDir = path.join(repoRoot, 'assets/models');

interface Reference {
  tolerance: number;
  input: { name: string; shape: [number, number, number, number]; pixelsNHWCUint8Base64: string };
  outputs: Record<string, unknown[]>;
}

for (const name of BUNDLED) {
  test(`${name}: Miru's card, preprocessing arithmetic and worker pool reproduce torch's outputs`, async () => {
    const ref = JSON.parse(readFileSync(path.join(modelsDir, `${name}.reference.json`), 'utf8')) as Reference;
    const card = JSON.parse(readFileSync(path.join(modelsDir, `${name}.card.json`), 'utf8')) as ModelCard;
    const [n, , h, w] = ref.input.shape;
    const pixels = Buffer.from(ref.input.pixelsNHWCUint8Base64, 'base64');
    // The reference pixels are already at the card's size, so preprocessing is only the card's arithmetic.
    const images = await Promise.all(Array.from({ length: n }, (_, b) => preprocessRaw(pixels.subarray(b * h * w * 3, (b + 1) * h * w * 3), w, h, card)));
    const batch = toBatchTensor(images, card);
    const pool = await InferencePool.create(path.join(modelsDir, `${name}.onnx`), { ep: 'cpu' });
    try {
      const outputs = await pool.run({ [card.input.name]: { type: 'float32', data: batch.data, dims: batch.dims } });
      for (const [output, expected] of Object.entries(ref.outputs)) {
        const want = (expected as unknown[]).flat(Infinity) as number[];
        const got = outputs[output]!.data as Float32Array;
        assert.equal(got.length, want.length, output);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        assert.ok(worst <= ref.tolerance, `${output}: max |diff| ${worst} > ${ref.tolerance}`);
      }
    } finally {
      await pool.close();
    }
  });
}

test('the bundled models score unseen synthetic images in line with the ground truth', async () => {
  const dir = tempDir();
  const data = path.join(dir, 'synth');
  await generateSynthDataset(data, { images: 60, raters: 3, seed: 4242, size: 192 });
  const truth = JSON.parse(readFileSync(path.join(data, 'truth.json'), 'utf8')) as { images: { file: string; trueScore: number }[] };
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [path.join(data, 'images')], { cacheDir: cacheDirFor(dbPath) });
  for (const name of BUNDLED) {
    await addModel(db, path.join(modelsDir, `${name}.onnx`));
    const summary = await scoreLibrary(db, name, { ep: 'cpu' });
    assert.deepEqual([summary.scored, summary.failed, summary.status], [60, 0, 'complete']);
    const scores = new Map(
      (db.prepare('SELECT i.rel_path, s.score FROM scores s JOIN images i ON i.id = s.image_id WHERE s.run_id = ?').all(summary.run) as { rel_path: string; score: number }[]).map((r) => [r.rel_path, r.score]),
    );
    const rho = spearman(truth.images.map((i) => scores.get(i.file)!), truth.images.map((i) => i.trueScore));
    assert.ok(rho > 0.5, `${name}: Spearman with the truth ${rho.toFixed(3)}`);
  }
});
