import assert from 'node:assert/strict';
import path from 'node:path';
import { callApi, type MiruService } from '../../../core/api/miruService.js';
import type { JobInfo } from '../../../core/api/apiTypes.js';
import { generateSynthDataset } from '../../../core/synth/generateDataset.js';
import { openLibrary, cacheDirFor } from '../../../core/library/openLibrary.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { importRatings, parseScale } from '../../../core/library/ratingsImport.js';
import { addModel } from '../../../core/models/modelRegistry.js';
import { scoreLibrary } from '../../../core/models/scoreLibrary.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';

export const MODEL = 'miru-convnext-s';
export const MODEL_FILE = path.join(repoRoot, 'assets', 'models', `${MODEL}.onnx`);

/**
 * A small real library for the API tests: a synthetic dataset (24 images, 4 raters), indexed, its ratings
 * imported, the bundled ConvNeXt model added and every image scored. Built once per test file.
 */
export async function scoredLibrary(): Promise<{ dir: string; dbPath: string; images: string }> {
  const dir = tempDir('miru-api-');
  const data = path.join(dir, 'synth');
  await generateSynthDataset(data, { images: 24, raters: 4, seed: 5, size: 96 });
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  try {
    const images = path.join(data, 'images');
    await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
    await importRatings(db, path.join(data, 'ratings.csv'), { scale: parseScale('1:5') });
    await addModel(db, MODEL_FILE);
    await scoreLibrary(db, MODEL, { ep: 'cpu' });
    return { dir, dbPath, images };
  } finally {
    db.close();
  }
}

/** Polls listJobs until job `id` stops running; fails the test, naming `what`, when it runs past `timeoutMs`. */
export async function waitForJob(service: MiruService, id: number, timeoutMs = 60_000, what = `job ${id}`): Promise<JobInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = ((await callApi(service, 'listJobs', {})) as JobInfo[]).find((j) => j.id === id)!;
    if (now.status !== 'running') return now;
    if (Date.now() > deadline) assert.fail(`${what} still running: ${JSON.stringify(now)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a job through the API, as the UI does, and waits for it to finish (done, failed or cancelled). */
export async function runJob(service: MiruService, kind: string, params: Record<string, unknown>, timeoutMs = 60_000): Promise<JobInfo> {
  const job = (await callApi(service, 'startJob', { kind, params })) as JobInfo;
  return waitForJob(service, job.id, timeoutMs, `${kind} job`);
}
