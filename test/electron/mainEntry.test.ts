// Runs the real entry point, dist/electron/main.js, under plain Node with `electron` resolved to fakes (see
// entry/fakeElectronHooks.ts): the wiring of main.ts (argv, binding choice, real MiruService, protocol on
// dist/renderer, preload path, IPC, quit) without an Electron binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CALL_CHANNEL, type CallResult } from '../../electron/apiMethods.js';
import { smallLibrary } from '../helpers/library.js';
import { repoRoot } from '../helpers/paths.js';
import { appFrame, FakeBrowserWindow, type fakeElectron } from './fakes.js';

const until = async (condition: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), `timed out waiting for ${what}`);
};

test('dist/electron/main.js starts the host in order and closes the library on quit', async () => {
  const lib = await smallLibrary(2);
  const hash = lib.db.prepare<[], string>("SELECT content_hash FROM images WHERE rel_path = 'img0.png'").pluck().get()!;
  lib.db.close();

  register(new URL('./entry/fakeElectronHooks.js', import.meta.url));
  const main = path.join(repoRoot, 'dist/electron/main.js');
  const argv = process.argv;
  process.argv = [process.execPath, main, '--db', lib.dbPath];
  try {
    await import(pathToFileURL(main).href);
  } finally {
    process.argv = argv;
  }
  const fake = (globalThis as { __miruFakeElectron?: ReturnType<typeof fakeElectron> }).__miruFakeElectron;
  assert.ok(fake, 'main.js imported the (fake) electron module');
  assert.deepEqual(fake.order, ['registerSchemesAsPrivileged', 'enableSandbox', 'requestSingleInstanceLock'], 'before ready, during the module top level');
  assert.equal(fake.app.sandboxed, true);

  fake.app.fireReady();
  await until(() => FakeBrowserWindow.created.length === 1, 'the window');
  const window = FakeBrowserWindow.created[0];
  const preload = window.options.webPreferences?.preload ?? '';
  assert.equal(preload, path.join(repoRoot, 'dist/electron/preload.cjs'));
  assert.ok(existsSync(preload), 'the compiled preload is where the window looks for it');
  await until(() => window.loaded.length === 1, 'loadURL');
  assert.deepEqual(window.loaded, ['miru://app/index.html']);

  const handler = fake.protocol.handlers.get('miru');
  assert.ok(handler);
  const thumb = await handler(new Request(`miru://thumb/${hash}`));
  assert.equal(thumb.status, 200);
  const page = await handler(new Request('miru://app/index.html'));
  // dist/renderer is built by another step; either way the UI comes from there and nowhere else.
  assert.equal(page.status, existsSync(path.join(repoRoot, 'dist/renderer/index.html')) ? 200 : 404);

  const info = (await fake.ipcMain.invoke(CALL_CHANNEL, window.webContents, appFrame(), { method: 'libraryInfo', input: {} })) as CallResult;
  assert.equal(info.ok, true, JSON.stringify(info));
  if (info.ok) assert.equal((info.value as { images: number }).images, 2);

  let quit = false;
  fake.app.on('quit', () => (quit = true));
  fake.app.quit();
  await until(() => quit, 'the service to close and the app to quit');
  assert.equal(fake.ipcMain.handlers.size, 0);
});
