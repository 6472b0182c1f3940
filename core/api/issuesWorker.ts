/**
 * The worker thread of an 'issues' job (analysisJobs.ts): opens its own connection to the library, runs `miru
 * issues` (which stores its analyses in one transaction), posts the job summary or the error back, and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openLibrary } from '../library/openLibrary.js';
import { workerReply } from '../jobs/workerTask.js';
import type { JobParams } from './apiSchemas.js';
import { runIssuesJob } from './issuesApi.js';

const { dbPath, nativeBinding, params } = workerData as { dbPath: string; nativeBinding?: string; params: JobParams['issues'] };
parentPort!.postMessage(
  workerReply(() => {
    const db = openLibrary(dbPath, { nativeBinding, mustExist: true });
    try {
      return runIssuesJob(db, params);
    } finally {
      db.close();
    }
  }),
);
