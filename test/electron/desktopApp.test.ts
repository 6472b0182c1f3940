import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseDesktopArgs, runDesktopApp, type HostedService } from '../../electron/desktopApp.js';
import { CALL_CHANNEL, type CallResult } from '../../electron/apiMethods.js';
import type { MiruEvent } from '../../core/api/apiTypes.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { tempDir } from '../helpers/paths.js';
import { appFrame, FakeBrowserWindow, fakeElectron } from './fakes.js';

function fixture() {
  const dir = tempDir();
  const dbPath = path.join(dir, 'lib.db');
  const appDir = path.join(dir, 'renderer');
  mkdirSync(appDir);
  writeFileSync(path.join(appDir, 'index.html'), '<!doctype html><title>Miru</title>');
  const db = openLibrary(dbPath);
  const listeners = new Set<(event: MiruEvent) => void>();
  let closed = 0;
  const service: HostedService & { closed(): number; emit(event: MiruEvent): void } = {
    db,
    dbPath,
    subscribe: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
    close: async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      closed++;
      db.close();
    },
    closed: () => closed,
    emit: (event) => listeners.forEach((l) => l(event)),
  };
  return { dir, dbPath, appDir, service };
}

test('--db is parsed among Electron switches; missing --db is a usage error', () => {
  assert.deepEqual(parseDesktopArgs(['/x/main.js', '--inspect=0', '--db', 'lib.db', '--remote-debugging-port=0'], '/home/u'), { ok: true, dbPath: path.resolve('/home/u', 'lib.db') });
  assert.deepEqual(parseDesktopArgs(['--db=/data/a.db']), { ok: true, dbPath: '/data/a.db' });
  for (const argv of [[], ['--db'], ['--db', '--other'], ['--db=']]) assert.equal(parseDesktopArgs(argv).ok, false, argv.join(' '));
});

test('startup order: scheme + sandbox before ready, then protocol, IPC and one hardened window on miru://app', async () => {
  const f = fixture();
  const fake = fakeElectron(path.join(f.dir, 'userData'));
  let opened: string | null = null;
  const started = runDesktopApp({
    electron: fake.electron,
    argv: ['main.js', '--db', f.dbPath],
    appDir: f.appDir,
    preloadPath: '/opt/miru/dist/electron/preload.cjs',
    openService: (dbPath) => ((opened = dbPath), f.service),
    callApi: async (_service, method, input) => ({ method, input }),
    platform: 'linux',
    log: () => {},
  });
  // Synchronously, before the call returns: main.ts cannot await runDesktopApp at top level (Electron holds
  // `ready` until the entry module's top level is done), so everything that must precede `ready` happens here.
  assert.deepEqual(fake.order, ['registerSchemesAsPrivileged', 'enableSandbox', 'requestSingleInstanceLock'], 'all before ready');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(opened, null, 'the library opens after ready');
  fake.app.fireReady();
  const app = await started;
  assert.ok(app);
  assert.equal(opened, f.dbPath);
  assert.ok(fake.order.indexOf('handle:miru') > fake.order.indexOf('ready'));

  assert.equal(FakeBrowserWindow.created.length, 1);
  const window = FakeBrowserWindow.created[0];
  assert.deepEqual(window.loaded, ['miru://app/index.html'], 'never file://');
  assert.equal(window.options.webPreferences?.sandbox, true);
  assert.equal(window.options.webPreferences?.preload, '/opt/miru/dist/electron/preload.cjs');
  window.emit('ready-to-show');
  assert.equal(window.shown, true);

  // The protocol serves the UI from appDir.
  const page = await fake.protocol.handlers.get('miru')!(new Request('miru://app/index.html'));
  assert.equal(page.status, 200);
  assert.ok(page.headers.get('content-security-policy'));

  // IPC is bound to the window the factory made.
  const result = (await fake.ipcMain.invoke(CALL_CHANNEL, window.webContents, appFrame(), { method: 'countImages', input: { filters: [] } })) as CallResult;
  assert.deepEqual(result, { ok: true, value: { method: 'countImages', input: { filters: [] } } });
  f.service.emit({ type: 'library-changed', what: 'tags' });
  assert.equal(window.webContents.sent.length, 1);

  // Any other webContents gets the backstop handlers.
  const { FakeWebContents } = await import('./fakes.js');
  const devtools = new FakeWebContents();
  fake.app.emit('web-contents-created', {}, devtools);
  assert.deepEqual(devtools.openHandler!({ url: 'https://x/' }), { action: 'deny' });

  // A second launch focuses this window.
  window.minimized = true;
  fake.app.emit('second-instance');
  assert.equal(window.minimized, false);
  assert.equal(window.focused, true);

  // Closing the last window quits; quitting waits for the service to close, then quits for real.
  let quitForReal = false;
  fake.app.on('quit', () => (quitForReal = true));
  window.close();
  fake.app.emit('window-all-closed');
  assert.equal(fake.app.quitCalls, 1);
  assert.equal(quitForReal, false, 'held until the service is closed');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(f.service.closed(), 1);
  assert.equal(quitForReal, true);
  assert.equal(fake.ipcMain.handlers.size, 0, 'IPC unbound');
});

test('a second instance quits at once without opening the library', async () => {
  const f = fixture();
  const fake = fakeElectron(path.join(f.dir, 'userData'));
  fake.app.lock = false;
  let opened = false;
  const result = await runDesktopApp({ electron: fake.electron, argv: ['--db', f.dbPath], appDir: f.appDir, preloadPath: '/p.cjs', openService: () => ((opened = true), f.service), callApi: async () => null, log: () => {} });
  assert.equal(result, null);
  assert.equal(opened, false);
  assert.equal(fake.app.quitCalls, 1);
  assert.equal(FakeBrowserWindow.created.length, 0);
  await f.service.close();
});

test('an unopenable library, a missing --db or a missing native build ends with an error box, no window', async () => {
  const f = fixture();
  const cases = [
    { argv: ['--db', f.dbPath], openService: () => assert.fail('not a library') as never, startupError: null, code: 1, text: /not a library/ },
    { argv: ['main.js'], openService: () => f.service, startupError: null, code: 2, text: /--db/ },
    { argv: ['--db', f.dbPath], openService: () => f.service, startupError: 'run npm run electron:rebuild', code: 1, text: /electron:rebuild/ },
  ];
  for (const c of cases) {
    const fake = fakeElectron(path.join(f.dir, 'userData'));
    const started = runDesktopApp({ electron: fake.electron, argv: c.argv, appDir: f.appDir, preloadPath: '/p.cjs', openService: c.openService, callApi: async () => null, startupError: c.startupError, log: () => {} });
    fake.app.fireReady();
    const originalError = console.error;
    console.error = () => {};
    try {
      assert.equal(await started, null);
    } finally {
      console.error = originalError;
    }
    assert.equal(fake.app.exitCode, c.code);
    assert.match(fake.dialog.errors[0]?.content ?? '', c.text);
    assert.equal(FakeBrowserWindow.created.length, 0);
  }
  await f.service.close();
});
