import type { ApiMethod } from '../core/api/apiTypes.js';

/** The IPC channel of every API call: the renderer invokes it with { method, input } and gets a CallResult. */
export const CALL_CHANNEL = 'miru:call';
/** The channel the main process pushes MiruEvents on (job progress, library changes). */
export const EVENT_CHANNEL = 'miru:event';

/**
 * The names the renderer may call, checked on both sides of IPC (the preload refuses others before sending, the
 * main process refuses them again, and core/api's callApi checks the input). preload.cts keeps its own copy of
 * this list because a sandboxed preload cannot load other files; test/electron/preload.test.ts checks the two agree.
 */
export const API_METHODS = [
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

// Compile-time proof that the list names every MiruApi method: adding a method to the contract without adding it
// here fails the build with the missing name in the error.
type MissingMethods = Exclude<ApiMethod, (typeof API_METHODS)[number]>;
const everyMethodListed: [MissingMethods] extends [never] ? true : { missing: MissingMethods } = true;
void everyMethodListed;

const METHOD_SET: ReadonlySet<string> = new Set(API_METHODS);

export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && METHOD_SET.has(name);
}

/** What `miru:call` resolves to: errors travel as values, so the renderer sees the message and not Electron's "Error invoking remote method" wrapper. */
export type CallResult = { ok: true; value: unknown } | { ok: false; error: { code: 'forbidden' | 'bad-request' | 'failed'; message: string; status?: number } };
