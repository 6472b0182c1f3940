import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bindIpc, checkSender, type IpcBinding } from '../../electron/ipc.js';
import { MAX_API_INPUT_BYTES } from '../../core/api/inputSize.js';
import { API_LIMITS } from '../../core/api/apiSchemas.js';
import { CALL_CHANNEL, EVENT_CHANNEL, type CallResult } from '../../electron/apiMethods.js';
import { createWindowFactory, WindowRegistry } from '../../electron/windowFactory.js';
import type { MiruEvent } from '../../core/api/apiTypes.js';
import { callApi, createMiruService, type MiruService } from '../../core/api/miruService.js';
import { smallLibrary } from '../helpers/library.js';
import { appFrame, FakeBrowserWindow, FakeIpcMain, FakeSession, FakeWebContents } from './fakes.js';

let service: MiruService;
let ipcMain: FakeIpcMain;
let registry: WindowRegistry;
let window: FakeBrowserWindow;
let binding: IpcBinding;
const calls: { method: string; input: unknown }[] = [];
const log: string[] = [];

before(async () => {
  const lib = await smallLibrary(3);
  lib.db.close();
  service = createMiruService(lib.dbPath);
  ipcMain = new FakeIpcMain();
  registry = new WindowRegistry();
  const create = createWindowFactory({ BrowserWindow: FakeBrowserWindow, preloadPath: '/opt/miru/preload.cjs', registry });
  window = create() as FakeBrowserWindow;
  await window.loadURL('miru://app/index.html');
  binding = bindIpc({
    ipcMain,
    registry,
    call: (method, input) => {
      calls.push({ method, input });
      return callApi(service, method, input);
    },
    subscribe: (listener) => service.subscribe(listener),
    log: (m) => log.push(m),
  });
});

after(async () => {
  binding?.dispose();
  await service?.close();
});

const invoke = (sender: FakeWebContents, frame = appFrame(), payload: unknown = { method: 'libraryInfo', input: {} }) =>
  ipcMain.invoke(CALL_CHANNEL, sender, frame, payload) as Promise<CallResult>;

test('a valid call from our window on miru://app reaches the service', async () => {
  const before = calls.length;
  const result = await invoke(window.webContents);
  assert.equal(result.ok, true, JSON.stringify(result));
  if (result.ok) assert.equal((result.value as { images: number }).images, 3);
  assert.deepEqual(calls.slice(before), [{ method: 'libraryInfo', input: {} }]);
  const page = await invoke(window.webContents, appFrame('miru://app/index.html?sort=-id'), { method: 'listImages', input: { filters: [], limit: 2 } });
  assert.equal(page.ok, true, JSON.stringify(page));
  if (page.ok) assert.equal((page.value as { items: unknown[] }).items.length, 2);
});

test('calls from a foreign frame URL are refused before the service sees them', async () => {
  const before = calls.length;
  for (const url of ['https://evil.example/', 'file:///tmp/x.html', 'miru://thumb/0123456789abcdef', 'miru://app.evil/', 'about:blank', 'devtools://devtools/bundled/x.html', '']) {
    const result = await invoke(window.webContents, appFrame(url));
    assert.equal(result.ok, false, url);
    if (!result.ok) assert.equal(result.error.code, 'forbidden', url);
  }
  // A subframe, even one on the app origin, and a frame that is gone.
  const sub = await invoke(window.webContents, { url: 'miru://app/index.html', parent: appFrame() });
  assert.equal(sub.ok, false);
  const gone = await ipcMain.invoke(CALL_CHANNEL, window.webContents, null, { method: 'libraryInfo', input: {} });
  assert.equal((gone as CallResult).ok, false);
  assert.equal(calls.length, before, 'nothing reached the service');
  assert.ok(log.some((line) => line.includes('refused an IPC call')));
});

test('calls from a webContents the factory did not make are refused', async () => {
  const before = calls.length;
  const stranger = new FakeWebContents(new FakeSession());
  stranger.url = 'miru://app/index.html';
  const result = await invoke(stranger);
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.error.message, /not a Miru window/);
  // Same id as ours, different object.
  const twin = new FakeWebContents(new FakeSession(), window.webContents.id);
  assert.equal((await invoke(twin)).ok, false);
  assert.equal(calls.length, before);
  assert.deepEqual(checkSender({ sender: window.webContents, senderFrame: appFrame() }, registry), { ok: true });
});

test('unknown methods and malformed payloads are refused; service errors come back as values', async () => {
  const before = calls.length;
  for (const payload of [
    { method: 'constructor', input: {} },
    { method: '__proto__', input: {} },
    { method: 'close', input: {} },
    { method: 'subscribe', input: {} },
    { method: 'db', input: {} },
    { method: 'toString', input: {} },
    { method: 42, input: {} },
    {},
    null,
    'libraryInfo',
    ['libraryInfo', {}],
    { method: 'tagImages', input: { ids: [1], add: ['x'.repeat(MAX_API_INPUT_BYTES)] } },
  ]) {
    const result = await invoke(window.webContents, appFrame(), payload);
    assert.equal(result.ok, false, JSON.stringify(payload)?.slice(0, 80));
    if (!result.ok) assert.equal(result.error.code, 'bad-request');
  }
  assert.equal(calls.length, before, 'none reached callApi');
  const missing = await invoke(window.webContents, appFrame(), { method: 'imageDetail', input: { id: 999999 } });
  assert.equal(missing.ok, false);
  if (!missing.ok) assert.equal(missing.error.status, 404);
  // A known method with a bad input reaches callApi, which refuses it: the message comes back, not an exception.
  const bad = await invoke(window.webContents, appFrame(), { method: 'imageDetail', input: { id: 'one' } });
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.equal(bad.error.code, 'failed');
    assert.equal(bad.error.status, 400);
    assert.match(bad.error.message, /imageDetail/);
  }
});

test('the input cap is the browser host\'s: measured in UTF-8 bytes of JSON, the largest schema-valid input passes', async () => {
  const before = calls.length;
  // tagImages with the most ids a call may carry, each as long as an id can be (about 1.7 MB): it reaches the service.
  const ids = Array.from({ length: API_LIMITS.ids }, (_, i) => Number.MAX_SAFE_INTEGER - i);
  const largest = await invoke(window.webContents, appFrame(), { method: 'tagImages', input: { ids, add: ['x'] } });
  assert.equal(largest.ok, false);
  if (!largest.ok) {
    assert.equal(largest.error.status, 404);
    assert.match(largest.error.message, /No image with id 9007199254740991/);
  }
  assert.equal(calls.length, before + 1);
  // Two-byte characters: under the cap in characters, over it in bytes (what the HTTP host counts) — refused unread.
  const wide = 'é'.repeat(MAX_API_INPUT_BYTES / 2);
  const refused = await invoke(window.webContents, appFrame(), { method: 'listImages', input: { filters: [wide], limit: 5 } });
  assert.equal(refused.ok, false);
  if (!refused.ok) {
    assert.equal(refused.error.code, 'bad-request');
    assert.match(refused.error.message, new RegExp(`larger than ${MAX_API_INPUT_BYTES} bytes`));
  }
  assert.equal(calls.length, before + 1, 'the oversized call never reached callApi');
});

test('events go to our live windows on the app origin only, and dispose unbinds', async () => {
  const other = createWindowFactory({ BrowserWindow: FakeBrowserWindow, preloadPath: '/opt/miru/preload.cjs', registry })() as FakeBrowserWindow;
  other.webContents.url = 'https://elsewhere.example/';
  const stranger = new FakeWebContents();
  stranger.url = 'miru://app/index.html';
  window.webContents.sent = [];
  const event: MiruEvent = { type: 'library-changed', what: 'tags', ids: [1] };
  // Tagging through the API makes the service emit a library-changed event.
  const tagged = await invoke(window.webContents, appFrame(), { method: 'tagImages', input: { ids: [1], add: ['outlier'] } });
  assert.equal(tagged.ok, true, JSON.stringify(tagged));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const received = window.webContents.sent.filter((m) => m.channel === EVENT_CHANNEL).map((m) => m.args[0] as MiruEvent);
  assert.ok(received.some((e) => e.type === event.type && e.what === 'tags'), JSON.stringify(received));
  assert.equal(other.webContents.sent.length, 0, 'a window off the app origin gets nothing');
  assert.equal(stranger.sent.length, 0);
  other.close();

  const ipc2 = new FakeIpcMain();
  let unsubscribed = false;
  const b = bindIpc({ ipcMain: ipc2, registry, call: async () => null, subscribe: () => () => (unsubscribed = true) });
  assert.ok(ipc2.handlers.has(CALL_CHANNEL));
  b.dispose();
  assert.equal(ipc2.handlers.has(CALL_CHANNEL), false);
  assert.ok(unsubscribed);
});
