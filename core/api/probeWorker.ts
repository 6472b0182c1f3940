/**
 * The worker thread of a 'probe' or 'rater-models' job (probesApi.ts): opens its own connection to the library,
 * runs the task (which stores its analyses in its own transactions), posts the job summary or the error message
 * back, and exits. The host's main thread keeps answering the UI meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openLibrary } from '../library/openLibrary.js';
import { workerReply } from '../jobs/workerTask.js';
import { runProbeTask, type ProbeTask } from './probesApi.js';

const { dbPath, nativeBinding, task } = workerData as { dbPath: string; nativeBinding?: string; task: ProbeTask };
parentPort!.postMessage(
  workerReply(() => {
    const db = openLibrary(dbPath, { nativeBinding, mustExist: true });
    try {
      return runProbeTask(db, task);
    } finally {
      db.close();
    }
  }),
);
