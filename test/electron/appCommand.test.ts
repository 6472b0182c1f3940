import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { locateElectron, missingElectronMessage, prepareAppLaunch } from '../../core/cli/commands/appCommand.js';
import { runMiru } from '../helpers/runMiru.js';
import { repoRoot, tempDir } from '../helpers/paths.js';

function notFound(id: string): never {
  const error = new Error(`Cannot find module '${id}'`) as NodeJS.ErrnoException;
  error.code = 'MODULE_NOT_FOUND';
  throw error;
}

test('locateElectron tells apart: not installed, failed download, missing binary, present', () => {
  assert.deepEqual(locateElectron(notFound), { ok: false, reason: 'the optional `electron` package is not installed' });
  const failed = locateElectron(() => {
    throw new Error('Electron failed to install correctly, please delete node_modules/electron and try installing again');
  });
  assert.equal(failed.ok, false);
  if (!failed.ok) assert.match(failed.reason, /incomplete.*failed to install/);
  const gone = locateElectron(() => '/nowhere/electron', () => false);
  assert.equal(gone.ok, false);
  if (!gone.ok) assert.match(gone.reason, /\/nowhere\/electron is missing/);
  assert.deepEqual(locateElectron(() => '/opt/electron/electron', () => true), { ok: true, binary: '/opt/electron/electron' });
});

test('the missing-Electron message says how to get it and offers miru serve', () => {
  const message = missingElectronMessage('the optional `electron` package is not installed', 'lib.db');
  assert.match(message, /npm install electron/);
  assert.match(message, /ELECTRON_MIRROR=/);
  assert.match(message, /electron_config_cache=/);
  assert.match(message, /npm run electron:rebuild/);
  assert.match(message, /miru serve --db lib\.db/);
});

test('prepareAppLaunch checks the library first, then Electron', () => {
  const dir = tempDir();
  assert.throws(() => prepareAppLaunch({ db: path.join(dir, 'none.db') }, () => assert.fail('not reached')), /No library at .*none\.db.*miru index/);
  const db = path.join(dir, 'lib.db');
  writeFileSync(db, '');
  assert.throws(() => prepareAppLaunch({ db }, () => ({ ok: false, reason: 'absent' })), /absent[\s\S]*miru serve --db/);
});

test('`miru app` without Electron exits 1 with the instructions', async (t) => {
  let installed = true;
  try {
    createRequire(path.join(repoRoot, 'package.json'))('electron');
  } catch {
    installed = false;
  }
  if (installed) {
    t.skip('Electron is installed here; the missing-binary path is covered by the unit tests above');
    return;
  }
  const dir = tempDir();
  const db = path.join(dir, 'lib.db');
  writeFileSync(db, '');
  const run = await runMiru(['app', '--db', db]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /cannot open the desktop app/);
  assert.match(run.stderr, /npm install electron/);
  assert.match(run.stderr, /miru serve --db/);
  const help = await runMiru(['--help']);
  assert.match(help.stdout, /app \[options\]/);
});
