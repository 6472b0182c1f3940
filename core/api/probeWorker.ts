/**
 * The worker thread of a 'probe' or 'rater-models' job (probesApi.ts): runs the task on its own connection (it
 * stores its analyses in its own transactions) while the host's main thread keeps answering the UI.
 */
import { serveWorkerTask } from '../jobs/workerTask.js';
import { runProbeTask } from './probesApi.js';

serveWorkerTask(runProbeTask);
