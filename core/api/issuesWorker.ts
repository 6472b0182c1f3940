/**
 * The worker thread of an 'issues' job (analysisJobs.ts): runs `miru issues` on its own connection (it stores its
 * analyses in one transaction) while the host's main thread keeps answering the UI.
 */
import { serveWorkerTask } from '../jobs/workerTask.js';
import { runIssuesJob } from './issuesApi.js';

serveWorkerTask(runIssuesJob);
