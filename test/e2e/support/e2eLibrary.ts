/**
 * The library the end-to-end tests browse, generated with the real CLI: a synthetic illustration dataset (so the
 * screenshots look like what Miru is for), indexed, with ratings from simulated raters, both bundled models added,
 * one of them scored, and every fourth image tagged "keep".
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { runMiru } from '../../helpers/runMiru.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';

export interface E2eLibrary {
  dir: string;
  dbPath: string;
  images: number;
  keepIds: number[];
}

async function miru(args: string[]): Promise<string> {
  const run = await runMiru(args);
  assert.equal(run.code, 0, `miru ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout;
}

export async function makeE2eLibrary(images = 48): Promise<E2eLibrary> {
  const dir = tempDir('miru-e2e-');
  const data = path.join(dir, 'data');
  const dbPath = path.join(dir, 'library.db');
  await miru(['synth', data, '--images', String(images), '--raters', '10', '--seed', '11']);
  await miru(['index', path.join(data, 'images'), '--db', dbPath]);
  await miru(['ratings', 'import', path.join(data, 'ratings.csv'), '--db', dbPath, '--scale', '1:5']);
  await miru(['models', 'add', path.join(repoRoot, 'assets/models/miru-convnext-s.onnx'), '--db', dbPath]);
  await miru(['models', 'add', path.join(repoRoot, 'assets/models/miru-vit-s.onnx'), '--db', dbPath]);
  await miru(['score', '--db', dbPath, '--model', 'miru-convnext-s', '--ep', 'cpu']);
  const keepIds = Array.from({ length: Math.floor(images / 4) }, (_, i) => (i + 1) * 4);
  await miru(['tag', 'add', 'keep', ...keepIds.map(String), '--db', dbPath]);
  return { dir, dbPath, images, keepIds };
}
