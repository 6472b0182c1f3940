/**
 * The sandboxed preload: the only bridge between the page and the main process. It exposes exactly
 * `window.miru = { call(method, input), onEvent(listener) -> unsubscribe, transport: 'ipc' }` and never
 * ipcRenderer itself (a page holding ipcRenderer could send on any channel). Method names are checked against
 * a fixed list before anything is sent; the main process checks them again along with the sender's frame.
 *
 * Why `.cts`: a sandboxed preload runs as a classic script with a small `require` (only 'electron' and a few
 * polyfills), so it must be CommonJS and must not load other files: the method list is repeated here rather than
 * imported (test/electron/preload.test.ts checks it against electron/apiMethods.ts, and the compiler checks it
 * against MiruApi through the type-only import below, which emits no require).
 */
import type { ApiMethod } from '../core/api/apiTypes.js';
import type { ElectronPreloadLike } from './electronTypes.js';

const CALL = 'miru:call';
const EVENT = 'miru:event';

const METHODS = [
  'libraryInfo',
  'fields',
  'listImages',
  'countImages',
  'histogram',
  'imageDetail',
  'neighbours',
  'listTags',
  'tagImages',
  'listRaters',
  'listModels',
  'addModel',
  'saliency',
  'startJob',
  'cancelJob',
  'listJobs',
  'listViews',
  'saveView',
  'deleteView',
  'listAnalyses',
  'analysisDetail',
  'projectionPoints',
  'fieldValues',
  'saveSelection',
  'raterReport',
  'probeReports',
  'issueSummary',
  'issueItems',
] as const satisfies readonly ApiMethod[];
type Missing = Exclude<ApiMethod, (typeof METHODS)[number]>;
const complete: [Missing] extends [never] ? true : { missing: Missing } = true;
void complete;

const allowed: ReadonlySet<string> = new Set(METHODS);
const { contextBridge, ipcRenderer } = require('electron') as ElectronPreloadLike;

type Reply = { ok: true; value: unknown } | { ok: false; error: { code?: string; message?: string; status?: number } };

function unwrap(reply: unknown): unknown {
  const r = reply as Reply | null;
  if (r && r.ok === true) return r.value;
  const message = r && r.ok === false && typeof r.error?.message === 'string' ? r.error.message : 'The Miru main process gave no answer.';
  throw new Error(message);
}

const bridge = Object.freeze({
  transport: 'ipc' as const,
  call(method: string, input: unknown): Promise<unknown> {
    if (typeof method !== 'string' || !allowed.has(method)) {
      return Promise.reject(new Error(`Unknown Miru API method ${JSON.stringify(String(method).slice(0, 100))}.`));
    }
    return ipcRenderer.invoke(CALL, { method, input: input === undefined ? {} : input }).then(unwrap);
  },
  onEvent(listener: (event: unknown) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('onEvent takes a function.');
    // Only the payload reaches the page: the IpcRendererEvent carries `sender` (ipcRenderer itself).
    const forward = (_event: unknown, payload: unknown) => listener(payload);
    ipcRenderer.on(EVENT, forward);
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      ipcRenderer.removeListener(EVENT, forward);
    };
  },
});

contextBridge.exposeInMainWorld('miru', bridge);
