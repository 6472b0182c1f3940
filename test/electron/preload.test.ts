// Runs the compiled preload (dist/electron/preload.cjs) the way Electron's sandbox does: as a script wrapped in a
// function that receives a `require` able to load only 'electron', here with a fake contextBridge and ipcRenderer,
// in a fresh V8 context holding nothing else (so any use of Node globals would fail here as in the sandbox).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { API_METHODS, CALL_CHANNEL, EVENT_CHANNEL } from '../../electron/apiMethods.js';
import { API_SCHEMAS } from '../../core/api/apiSchemas.js';
import { repoRoot } from '../helpers/paths.js';

type Listener = (event: unknown, ...args: unknown[]) => void;

interface Bridge {
  call(method: unknown, input?: unknown): Promise<unknown>;
  onEvent(listener: unknown): () => void;
  transport: string;
}

function loadPreload(reply: (channel: string, payload: unknown) => unknown = () => ({ ok: true, value: 'fine' })) {
  const source = readFileSync(path.join(repoRoot, 'dist/electron/preload.cjs'), 'utf8');
  const exposed = new Map<string, unknown>();
  const invoked: { channel: string; args: unknown[] }[] = [];
  const listeners = new Map<string, Set<Listener>>();
  const requested: string[] = [];
  const ipcRenderer = {
    invoke: async (channel: string, ...args: unknown[]) => {
      invoked.push({ channel, args });
      return reply(channel, args[0]);
    },
    on: (channel: string, listener: Listener) => {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)!.add(listener);
    },
    removeListener: (channel: string, listener: Listener) => listeners.get(channel)?.delete(listener),
    send: () => assert.fail('the preload must not use ipcRenderer.send'),
    sendSync: () => assert.fail('the preload must not use ipcRenderer.sendSync'),
  };
  const contextBridge = { exposeInMainWorld: (key: string, api: unknown) => exposed.set(key, api) };
  const fakeRequire = (id: string) => {
    requested.push(id);
    if (id === 'electron') return { contextBridge, ipcRenderer };
    throw new Error(`module not found: ${id} (a sandboxed preload cannot load it)`);
  };
  const module = { exports: {} };
  const wrapper = vm.runInNewContext(`(function (require, exports, module) {${source}\n})`, {}, { filename: 'preload.cjs' }) as (r: unknown, e: unknown, m: unknown) => void;
  wrapper(fakeRequire, module.exports, module);
  const emit = (channel: string, ...args: unknown[]) => {
    for (const l of listeners.get(channel) ?? []) l({ sender: ipcRenderer, senderId: 0 }, ...args);
  };
  return { exposed, invoked, listeners, requested, emit, ipcRenderer };
}

test('the preload exposes exactly window.miru = { call, onEvent, transport } and requires only electron', () => {
  const { exposed, requested, ipcRenderer } = loadPreload();
  assert.deepEqual([...exposed.keys()], ['miru']);
  const bridge = exposed.get('miru') as Bridge;
  assert.deepEqual(Object.keys(bridge).sort(), ['call', 'onEvent', 'transport']);
  assert.equal(bridge.transport, 'ipc');
  assert.equal(typeof bridge.call, 'function');
  assert.equal(typeof bridge.onEvent, 'function');
  assert.ok(Object.isFrozen(bridge), 'the page cannot swap the functions');
  assert.deepEqual(requested, ['electron']);
  for (const value of Object.values(bridge)) assert.notEqual(value, ipcRenderer, 'never ipcRenderer itself');
});

test('call sends { method, input } on miru:call for API methods only, and unwraps the result', async () => {
  const { exposed, invoked } = loadPreload((_channel, payload) => {
    const { method } = payload as { method: string };
    return method === 'listTags' ? { ok: false, error: { code: 'failed', message: 'no tags table' } } : { ok: true, value: { echoed: payload } };
  });
  const bridge = exposed.get('miru') as Bridge;
  const value = (await bridge.call('libraryInfo', {})) as { echoed: unknown };
  assert.equal(JSON.stringify(value.echoed), JSON.stringify({ method: 'libraryInfo', input: {} }));
  assert.equal(invoked.length, 1);
  assert.equal(invoked[0].channel, CALL_CHANNEL);
  await bridge.call('fields');
  assert.equal(JSON.stringify(invoked[1].args[0]), JSON.stringify({ method: 'fields', input: {} }), 'missing input becomes {}');
  await assert.rejects(bridge.call('listTags', {}), (error: Error) => error.message === 'no tags table');

  for (const method of ['close', 'subscribe', 'db', 'constructor', '__proto__', 'toString', 'hasOwnProperty', '', 42, null, undefined, { toString: () => 'libraryInfo' }]) {
    await assert.rejects(bridge.call(method, {}), (error: Error) => /Unknown Miru API method/.test(error.message), String(method));
  }
  assert.equal(invoked.length, 3, 'nothing else was sent');
});

test("the preload's method list equals the main process's and names every MiruApi method", () => {
  const source = readFileSync(path.join(repoRoot, 'electron/preload.cts'), 'utf8');
  const block = source.slice(source.indexOf('const METHODS = ['), source.indexOf('] as const'));
  const names = [...block.matchAll(/'([A-Za-z]+)'/g)].map((m) => m[1]);
  assert.deepEqual(names, [...API_METHODS]);
  assert.deepEqual([...API_METHODS].sort(), Object.keys(API_SCHEMAS).sort(), 'the same methods core/api has schemas for');
  // And every listed name actually goes through.
  const { exposed, invoked } = loadPreload();
  const bridge = exposed.get('miru') as Bridge;
  return Promise.all(API_METHODS.map((m) => bridge.call(m, {}))).then(() => assert.equal(invoked.length, API_METHODS.length));
});

test('onEvent passes only the payload (never the IPC event or its sender) and unsubscribes', () => {
  const { exposed, emit, listeners } = loadPreload();
  const bridge = exposed.get('miru') as Bridge;
  const received: unknown[][] = [];
  const off = bridge.onEvent((...args: unknown[]) => received.push(args));
  emit(EVENT_CHANNEL, { type: 'library-changed', what: 'tags' });
  emit('some-other-channel', { type: 'x' });
  assert.equal(received.length, 1);
  assert.equal(received[0].length, 1, 'exactly one argument');
  assert.equal(JSON.stringify(received[0][0]), JSON.stringify({ type: 'library-changed', what: 'tags' }));
  assert.equal(listeners.get(EVENT_CHANNEL)?.size, 1);
  off();
  off();
  assert.equal(listeners.get(EVENT_CHANNEL)?.size, 0);
  emit(EVENT_CHANNEL, { type: 'library-changed', what: 'tags' });
  assert.equal(received.length, 1);
  assert.throws(() => bridge.onEvent('not a function'), /function/);
});
