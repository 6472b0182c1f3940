import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { chooseSqliteBinding, currentSqliteBinding, electronSqliteBindingPath, installedBetterSqliteVersion } from '../../electron/nativeModules.js';
import { electronAbi, nodeGypArgs, prebuildInstallArgs } from '../../electron/rebuildNative.js';
import { repoRoot } from '../helpers/paths.js';

const root = '/opt/miru';

test('under Node the default better-sqlite3 build is used (no nativeBinding)', () => {
  const choice = chooseSqliteBinding({ versions: { modules: '115' }, platform: 'linux', arch: 'x64', projectRoot: root, betterSqliteVersion: '12.11.1', exists: () => assert.fail('no probe under Node') });
  assert.deepEqual(choice, { runtime: 'node', nativeBinding: undefined });
  // This very process is Node: the CLI and tests keep their build, and it works.
  assert.equal(currentSqliteBinding(repoRoot).runtime, 'node');
  const db = new Database(':memory:');
  assert.equal(db.prepare('SELECT 1 AS one').get()?.constructor, Object);
  db.close();
});

test('under Electron the side-by-side build for its ABI is chosen', () => {
  const expected = path.join(root, '.electron-native', 'better-sqlite3-12.11.1', 'electron-abi143-linux-x64', 'better_sqlite3.node');
  const probed: string[] = [];
  const choice = chooseSqliteBinding({
    versions: { electron: '40.10.2', modules: '143' },
    platform: 'linux',
    arch: 'x64',
    projectRoot: root,
    betterSqliteVersion: '12.11.1',
    exists: (file) => (probed.push(file), true),
  });
  assert.deepEqual(choice, { runtime: 'electron', nativeBinding: expected });
  assert.deepEqual(probed, [expected]);
  assert.notEqual(path.dirname(expected), path.join(root, 'node_modules/better-sqlite3/build/Release'), 'never the Node build folder');
});

test('under Electron without that build, the message says what to run', () => {
  const choice = chooseSqliteBinding({ versions: { electron: '40.10.2', modules: '143' }, platform: 'win32', arch: 'arm64', projectRoot: root, betterSqliteVersion: '12.11.1', exists: () => false });
  assert.equal(choice.runtime, 'electron');
  assert.equal(choice.nativeBinding, null);
  if (choice.nativeBinding === null) {
    assert.match(choice.message, /npm run electron:rebuild/);
    assert.match(choice.message, /miru serve/);
    assert.match(choice.expected, /electron-abi143-win32-arm64/);
  }
  // A different better-sqlite3 version or ABI is a different folder: an upgrade never loads a stale build.
  const a = electronSqliteBindingPath(root, { betterSqliteVersion: '12.11.1', abi: '143', platform: 'linux', arch: 'x64' });
  const b = electronSqliteBindingPath(root, { betterSqliteVersion: '12.12.0', abi: '143', platform: 'linux', arch: 'x64' });
  const c = electronSqliteBindingPath(root, { betterSqliteVersion: '12.11.1', abi: '145', platform: 'linux', arch: 'x64' });
  assert.equal(new Set([a, b, c]).size, 3);
});

test('electron:rebuild asks prebuild-install and node-gyp for Electron, in its own folder', () => {
  const target = { electronVersion: '40.10.2', abi: '143', platform: 'linux', arch: 'x64' };
  const args = prebuildInstallArgs(target, '/opt/miru/.electron-native/prebuilds');
  assert.deepEqual(args.slice(0, 8), ['--runtime', 'electron', '--target', '40.10.2', '--arch', 'x64', '--platform', 'linux']);
  assert.ok(args.includes('--local-prebuilds'));
  assert.deepEqual(nodeGypArgs(target).slice(0, 4), ['rebuild', '--release', '--runtime=electron', '--target=40.10.2']);
  assert.match(installedBetterSqliteVersion(repoRoot), /^\d+\.\d+\.\d+/);
  // node-abi (installed with prebuild-install) knows Electron's ABI; it differs from Node's.
  const abi = electronAbi(repoRoot, '40.0.0');
  assert.match(abi, /^\d+$/);
  assert.notEqual(abi, process.versions.modules);
});
