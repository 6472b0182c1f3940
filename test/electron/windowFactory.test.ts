import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  buildWindowOptions,
  createWindowFactory,
  secureWebPreferences,
  WindowRegistry,
  WINDOW_BACKGROUND,
  type CallerWindowOptions,
} from '../../electron/windowFactory.js';
import { isAppUrl } from '../../electron/appOrigin.js';
import { WindowStateStore, sanitizeWindowState } from '../../electron/windowState.js';
import { FakeBrowserWindow, FakeSession, FakeWebContents } from './fakes.js';
import { tempDir } from '../helpers/paths.js';

const PRELOAD = path.resolve('/opt/miru/dist/electron/preload.cjs');

const CHECKLIST = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  nodeIntegrationInSubFrames: false,
  webviewTag: false,
  webSecurity: true,
  allowRunningInsecureContent: false,
  experimentalFeatures: false,
  navigateOnDragDrop: false,
  spellcheck: false,
};

function makeFactory(stateStore?: WindowStateStore) {
  FakeBrowserWindow.created = [];
  const registry = new WindowRegistry();
  const log: string[] = [];
  const create = createWindowFactory({ BrowserWindow: FakeBrowserWindow, preloadPath: PRELOAD, registry, stateStore, log: (m) => log.push(m) });
  return { create, registry, log };
}

test('every window gets the whole security checklist, the preload and a dark background', () => {
  const { create } = makeFactory();
  const window = create() as FakeBrowserWindow;
  const prefs = window.options.webPreferences!;
  for (const [key, value] of Object.entries(CHECKLIST)) assert.equal(prefs[key as keyof typeof prefs], value, key);
  assert.equal(prefs.preload, PRELOAD);
  assert.equal(window.options.backgroundColor, WINDOW_BACKGROUND);
  assert.match(WINDOW_BACKGROUND, /^#[0-9a-f]{6}$/);
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(WINDOW_BACKGROUND.slice(i, i + 2), 16));
  assert.ok(r + g + b < 3 * 64, 'background is dark');
  assert.equal(window.options.show, false, 'shown on ready-to-show, not before');
  assert.ok(Object.isFrozen(prefs), 'webPreferences are frozen');
});

test('callers cannot override webPreferences, the background or anything outside size and title', () => {
  const hostile = {
    width: 1000,
    height: 700,
    title: 'x',
    backgroundColor: '#ffffff',
    webPreferences: { sandbox: false, contextIsolation: false, nodeIntegration: true, webSecurity: false, webviewTag: true, preload: '/tmp/evil.js', partition: 'persist:x' },
    sandbox: false,
    nodeIntegration: true,
  } as unknown as CallerWindowOptions;
  const options = buildWindowOptions(hostile, PRELOAD);
  for (const [key, value] of Object.entries(CHECKLIST)) assert.equal(options.webPreferences![key as keyof typeof CHECKLIST], value, key);
  assert.equal(options.webPreferences!.preload, PRELOAD);
  assert.equal(options.webPreferences!.partition, undefined);
  assert.equal(options.backgroundColor, WINDOW_BACKGROUND);
  assert.equal((options as Record<string, unknown>).sandbox, undefined);
  assert.equal(options.width, 1000);
  assert.equal(options.title, 'x');

  // Through the factory as well, including an inherited (prototype) webPreferences.
  const { create } = makeFactory();
  const proto = Object.create({ webPreferences: { sandbox: false } }) as CallerWindowOptions;
  for (const caller of [hostile, proto]) {
    const window = create(caller) as FakeBrowserWindow;
    assert.equal(window.options.webPreferences!.sandbox, true);
    assert.equal(window.options.webPreferences!.nodeIntegration, false);
  }
  // Nonsense sizes fall back to the minimum rather than reaching Electron.
  assert.equal(buildWindowOptions({ width: Number.NaN, height: -5 }, PRELOAD).height, 560);
  assert.equal(buildWindowOptions({ width: Number.NaN }, PRELOAD).width, undefined);
});

test('a relative preload path is refused', () => {
  assert.throws(() => secureWebPreferences('dist/electron/preload.cjs'), /absolute/);
});

test('navigation and redirects are denied except within miru://app', () => {
  const { create, log } = makeFactory();
  const wc = (create() as FakeBrowserWindow).webContents;
  for (const kind of ['will-navigate', 'will-redirect', 'will-frame-navigate'] as const) {
    assert.equal(wc.navigate(kind, 'miru://app/index.html'), false, `${kind} within the app`);
    assert.equal(wc.navigate(kind, 'miru://app/#/sample/3'), false);
    for (const url of ['https://example.com/', 'file:///etc/passwd', 'miru://thumb/0123456789abcdef', 'miru://app.evil.com/', 'miru://evil@app/', 'http://app/', 'javascript:alert(1)', 'data:text/html,x', '', 'not a url']) {
      assert.equal(wc.navigate(kind, url), true, `${kind} to ${url} must be prevented`);
    }
  }
  assert.ok(log.some((line) => line.includes('blocked navigation to https://example.com/')));
});

test('new windows are denied, <webview> is refused', () => {
  const { create } = makeFactory();
  const wc = (create() as FakeBrowserWindow).webContents;
  for (const url of ['https://example.com/', 'miru://app/index.html', 'about:blank']) assert.deepEqual(wc.openHandler!({ url }), { action: 'deny' });
  let prevented = false;
  wc.emit('will-attach-webview', { preventDefault: () => (prevented = true) });
  assert.ok(prevented);
});

test('the session denies every permission request and check', () => {
  const { create } = makeFactory();
  const session = (create() as FakeBrowserWindow).webContents.session as FakeSession;
  for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'clipboard-sanitized-write', 'fullscreen', 'openExternal', 'hid', 'serial', 'usb', 'midi', 'pointerLock']) {
    let granted: boolean | undefined;
    session.requestHandler!(null, permission, (g) => (granted = g));
    assert.equal(granted, false, permission);
    assert.equal(session.checkHandler!(null, permission, 'miru://app'), false, permission);
  }
  assert.equal(session.deviceHandler!({}), false);
});

test('the registry knows our webContents by identity and forgets closed windows', () => {
  const { create, registry } = makeFactory();
  const window = create() as FakeBrowserWindow;
  assert.ok(registry.has(window.webContents));
  const impostor = new FakeWebContents(new FakeSession(), window.webContents.id);
  assert.equal(registry.has(impostor), false, 'same id, different object');
  assert.equal(registry.has({ id: window.webContents.id }), false);
  assert.equal(registry.has(null), false);
  window.webContents.url = 'miru://app/index.html';
  assert.deepEqual(registry.live(), [window.webContents]);
  window.webContents.url = 'https://elsewhere/';
  assert.deepEqual(registry.live(), [], 'a window not on the app origin gets no events');
  window.close();
  assert.equal(registry.has(window.webContents), false);
  assert.equal(registry.size, 0);
});

test('window size is restored from settings and saved on close', () => {
  const file = path.join(tempDir(), 'state', 'window-state.json');
  const store = new WindowStateStore(file);
  const { create } = makeFactory(store);
  const first = create() as FakeBrowserWindow;
  assert.equal(first.options.width, 1440, 'defaults without a file');
  first.bounds = { x: 10, y: 10, width: 1111, height: 777 };
  first.close();
  const second = create() as FakeBrowserWindow;
  assert.equal(second.options.width, 1111);
  assert.equal(second.options.height, 777);
  second.maximized = true;
  second.close();
  const third = create() as FakeBrowserWindow;
  assert.equal(third.maximized, true, 'maximized again');
  assert.equal(third.options.width, 1111, 'keeps the last normal size');
  writeFileSync(file, '{not json');
  assert.deepEqual(store.load(), { width: 1440, height: 900, maximized: false });
  assert.deepEqual(sanitizeWindowState({ width: 1e9, height: 'x', maximized: 'yes' }), { width: 16384, height: 900, maximized: false });
});

test('isAppUrl accepts only the app origin', () => {
  assert.ok(isAppUrl('miru://app/index.html'));
  assert.ok(isAppUrl('miru://app/'));
  for (const url of ['miru://app:80/', 'miru://u:p@app/', 'miru://thumb/x', 'file:///app/index.html', 'https://app/', 'miru:app', undefined, 42, null]) assert.equal(isAppUrl(url), false, String(url));
});
