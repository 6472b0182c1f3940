/**
 * core/api over Electron IPC. One invoke channel, `miru:call`, carries { method, input }; one push channel,
 * `miru:event`, carries MiruEvents to our windows. Every call is checked before it reaches the service (VS Code
 * checks every IPC sender's frame the same way):
 *   1. the sender is one of the webContents our window factory made (identity, not id);
 *   2. the sending frame still exists, is the top frame, and its URL is on miru://app (not a page that navigated
 *      elsewhere, not an injected subframe);
 *   3. the payload is { method, input } with a method in the fixed API list and an input of bounded size;
 * then core/api's callApi checks the input against the method's schema. Errors come back as values (CallResult).
 */
import type { MiruEvent } from '../core/api/apiTypes.js';
import { apiErrorStatus } from '../core/api/miruService.js';
import { apiInputBytes, MAX_API_INPUT_BYTES } from '../core/api/inputSize.js';
import { CALL_CHANNEL, EVENT_CHANNEL, isApiMethod, type CallResult } from './apiMethods.js';
import { isAppUrl } from './appOrigin.js';
import type { IpcMainInvokeEventLike, IpcMainLike } from './electronTypes.js';
import type { SecurityLog, WindowRegistry } from './windowFactory.js';

export type SenderCheck = { ok: true } | { ok: false; reason: string };

export function checkSender(event: IpcMainInvokeEventLike, registry: WindowRegistry): SenderCheck {
  if (!registry.has(event.sender)) return { ok: false, reason: 'the sender is not a Miru window' };
  const frame = event.senderFrame;
  if (!frame) return { ok: false, reason: 'the sending frame is gone (navigated or destroyed)' };
  if (frame.parent !== null && frame.parent !== undefined) return { ok: false, reason: 'the sender is a subframe' };
  if (!isAppUrl(frame.url)) return { ok: false, reason: `the sending frame is not on miru://app (it is on ${JSON.stringify(String(frame.url).slice(0, 200))})` };
  return { ok: true };
}

export interface IpcBindingOptions {
  ipcMain: IpcMainLike;
  registry: WindowRegistry;
  /** core/api's callApi bound to the service: validates method and input, then runs the method. */
  call: (method: string, input: unknown) => Promise<unknown>;
  /** The service's event stream; returns an unsubscribe function. */
  subscribe: (listener: (event: MiruEvent) => void) => () => void;
  log?: SecurityLog;
}

export interface IpcBinding {
  /** The channel's handler itself, for tests and for callers that want to know what a message would get. */
  handleCall(event: IpcMainInvokeEventLike, payload: unknown): Promise<CallResult>;
  dispose(): void;
}

/** The message plus the status the browser host would answer with (400 refused input, 404 not found, 422, 500). */
function errorFields(error: unknown): { message: string; status: number } {
  return { message: error instanceof Error ? error.message : String(error), status: apiErrorStatus(error) };
}

export function bindIpc(options: IpcBindingOptions): IpcBinding {
  const log = options.log ?? (() => {});

  const handleCall = async (event: IpcMainInvokeEventLike, payload: unknown): Promise<CallResult> => {
    const sender = checkSender(event, options.registry);
    if (!sender.ok) {
      log(`refused an IPC call: ${sender.reason}`);
      return { ok: false, error: { code: 'forbidden', message: `Refused: ${sender.reason}.` } };
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      return { ok: false, error: { code: 'bad-request', message: 'A call is an object { method, input }.' } };
    }
    const { method, input } = payload as { method?: unknown; input?: unknown };
    if (!isApiMethod(method)) {
      return { ok: false, error: { code: 'bad-request', message: `Unknown API method ${JSON.stringify(String(method).slice(0, 100))}.` } };
    }
    // The browser host's body cap, measured the same way (core/api/inputSize.ts).
    if (apiInputBytes(input) > MAX_API_INPUT_BYTES) {
      return { ok: false, error: { code: 'bad-request', message: `The input of ${method} is not JSON or is larger than ${MAX_API_INPUT_BYTES} bytes.` } };
    }
    try {
      return { ok: true, value: await options.call(method, input) };
    } catch (error) {
      return { ok: false, error: { code: 'failed', ...errorFields(error) } };
    }
  };

  options.ipcMain.handle(CALL_CHANNEL, (event, payload) => handleCall(event, payload));
  const unsubscribe = options.subscribe((event) => {
    for (const webContents of options.registry.live()) {
      try {
        webContents.send(EVENT_CHANNEL, event);
      } catch {
        // A window closing while the event is in flight: nothing to deliver to.
      }
    }
  });

  return {
    handleCall,
    dispose() {
      unsubscribe();
      options.ipcMain.removeHandler(CALL_CHANNEL);
    },
  };
}
