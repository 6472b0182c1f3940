/**
 * The library the end-to-end tests browse, generated with the real CLI: a synthetic illustration dataset (so the
 * screenshots look like what Miru is for), indexed, with ratings from simulated raters, both bundled models added,
 * one of them scored, and every fourth image tagged "keep".
 */
import { miruOk } from '../../helpers/runMiru.js';
import { tempDir } from '../../helpers/paths.js';
import { synthCliLibrary } from '../../helpers/synthLibrary.js';

export interface E2eLibrary {
  dir: string;
  dbPath: string;
  images: number;
  keepIds: number[];
}

/** The folder layout the e2e tests use: <dir>/data (the synth output) and <dir>/library.db. */
export const E2E_LAYOUT = { dataName: 'data', dbName: 'library.db' } as const;

export async function makeE2eLibrary(images = 48): Promise<E2eLibrary> {
  const { dir, db: dbPath } = await synthCliLibrary({
    images,
    raters: 10,
    seed: 11,
    dir: tempDir('miru-e2e-'),
    ...E2E_LAYOUT,
    models: [{ name: 'miru-convnext-s', score: true }, { name: 'miru-vit-s' }],
  });
  const keepIds = Array.from({ length: Math.floor(images / 4) }, (_, i) => (i + 1) * 4);
  await miruOk(['tag', 'add', 'keep', ...keepIds.map(String), '--db', dbPath]);
  return { dir, dbPath, images, keepIds };
}
