/**
 * The query engine's worker thread (queryEngine.ts): owns a read-only connection and the column store, so
 * loading a million rows and scanning them for histograms and rank seeks never blocks the host's main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ColumnStore } from '../library/histogram.js';
import { openLibrary } from '../library/openLibrary.js';
import { rowAtRank } from '../library/rankSeek.js';
import type { EngineReply, EngineRequest } from './queryEngine.js';

const { dbPath, nativeBinding } = workerData as { dbPath: string; nativeBinding?: string };
const port = parentPort!;
const db = openLibrary(dbPath, { readonly: true, nativeBinding });
const store = new ColumnStore(db);

port.on('message', (request: EngineRequest) => {
  if (request.op === 'invalidate') return store.invalidate(request.what);
  if (request.op === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: EngineReply;
  try {
    if (request.op === 'warm') reply = { id: request.id, result: (store.warm(), null) };
    else if (request.op === 'count') reply = { id: request.id, result: store.count(request.filters) };
    else if (request.op === 'seek') reply = { id: request.id, result: rowAtRank(store, request.sort, request.filters, request.rank) };
    else reply = { id: request.id, result: store.histogram(request.field, request.filters, request.bins) };
  } catch (error) {
    reply = { id: request.id, error: (error as Error).message };
  }
  port.postMessage(reply);
});
