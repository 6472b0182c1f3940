import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { APP_CSP, createMiruProtocolHandler, MIRU_SCHEME_PRIVILEGES, registerMiruScheme, resolveAppFile } from '../../electron/protocol.js';
import type { ProtocolHandler } from '../../electron/electronTypes.js';
import { cacheDirFor, type LibraryDb } from '../../core/library/openLibrary.js';
import { indexLibrary } from '../../core/library/indexLibrary.js';
import { smallLibrary } from '../helpers/library.js';
import { writeTestImage } from '../helpers/images.js';
import { tempDir } from '../helpers/paths.js';
import { FakeProtocol } from './fakes.js';

const SECRET = 'TOP-SECRET-CONTENT';
let handler: ProtocolHandler;
let appDir: string;
let db: LibraryDb;
let hash: string;
let okId: number;
let linkedId: number;

before(async () => {
  const lib = await smallLibrary(3);
  db = lib.db;
  const outside = tempDir();
  writeFileSync(path.join(outside, 'secret.txt'), SECRET);
  await writeTestImage(path.join(outside, 'outside.png'), { seed: 99 });
  // An image symlinked from inside the root to a file elsewhere: indexed (the indexer follows it) but never served.
  symlinkSync(path.join(outside, 'outside.png'), path.join(lib.images, 'link.png'));
  await indexLibrary(db, [lib.images], { cacheDir: cacheDirFor(lib.dbPath) });
  const rows = db.prepare<[], { id: number; relPath: string; hash: string }>('SELECT id, rel_path AS relPath, content_hash AS hash FROM images ORDER BY id').all();
  okId = rows.find((r) => r.relPath === 'img0.png')!.id;
  linkedId = rows.find((r) => r.relPath === 'link.png')!.id;
  hash = rows.find((r) => r.relPath === 'img0.png')!.hash;

  appDir = path.join(lib.dir, 'renderer');
  mkdirSync(path.join(appDir, 'assets'), { recursive: true });
  writeFileSync(path.join(appDir, 'index.html'), '<!doctype html><title>Miru</title>');
  writeFileSync(path.join(appDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(path.join(appDir, 'assets', 'style.css'), 'body{}');
  writeFileSync(path.join(appDir, '.env'), SECRET);
  symlinkSync(path.join(outside, 'secret.txt'), path.join(appDir, 'assets', 'leak.js'));
  symlinkSync(outside, path.join(appDir, 'linked'));
  writeFileSync(path.join(lib.dir, 'secret.txt'), SECRET); // beside the app folder: one `..` away
  handler = createMiruProtocolHandler({ appDir, cacheDir: cacheDirFor(lib.dbPath), db });
});

after(() => db?.close());

async function get(url: string, method = 'GET'): Promise<{ status: number; body: string; headers: Headers }> {
  // Electron hands over whatever Chromium let through; a plain object covers URLs Node's Request refuses (credentials).
  const request = URL.canParse(url) && new URL(url).username ? ({ url, method } as unknown as Request) : new Request(url, { method });
  const response = await handler(request);
  const body = response.body ? Buffer.from(await response.arrayBuffer()).toString('latin1') : '';
  return { status: response.status, body, headers: response.headers };
}

test('the scheme is registered as standard and secure, without bypassing CSP', () => {
  const protocol = new FakeProtocol();
  registerMiruScheme(protocol);
  assert.equal(protocol.privileged.length, 1);
  const [scheme] = protocol.privileged[0];
  assert.equal(scheme.scheme, 'miru');
  assert.equal(scheme.privileges.standard, true);
  assert.equal(scheme.privileges.secure, true);
  assert.equal(scheme.privileges.bypassCSP, false);
  assert.equal(scheme.privileges.allowServiceWorkers, false);
  assert.equal(MIRU_SCHEME_PRIVILEGES.stream, true);
});

test('the UI is served from the app folder, with a strict CSP on the HTML', async () => {
  for (const url of ['miru://app/index.html', 'miru://app/', 'miru://app']) {
    const page = await get(url);
    assert.equal(page.status, 200, url);
    assert.match(page.body, /<title>Miru<\/title>/);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('content-security-policy'), APP_CSP);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  }
  const csp = APP_CSP;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /object-src 'none'/);
  const js = await get('miru://app/assets/app.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await get('miru://app/assets/style.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  const head = await get('miru://app/index.html', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal((await get('miru://app/index.html', 'POST')).status, 405);
  assert.equal((await get('miru://app/assets/missing.js')).status, 404);
  assert.equal((await get('miru://app/sample/12')).status, 404, 'no fallback: UI state lives in the query string');
  assert.match((await get('miru://app/index.html?filter=tag%3Doutlier&sort=-score')).body, /<title>Miru/);
});

test('traversal out of the app folder is refused: plain, encoded, double-encoded, backslashes, NUL, symlinks', async () => {
  const attempts = [
    'miru://app/../secret.txt', // normalised by the URL parser to /secret.txt: inside, and absent
    'miru://app/%2e%2e/secret.txt',
    'miru://app/%2E%2E/%2E%2E/etc/passwd',
    'miru://app/..%2fsecret.txt',
    'miru://app/assets/..%2f..%2fsecret.txt',
    'miru://app/%252e%252e%252fsecret.txt',
    'miru://app/%25252e%25252e/secret.txt',
    'miru://app/..%5csecret.txt',
    'miru://app/assets%5c..%5c..%5csecret.txt',
    'miru://app/index.html%00.png',
    'miru://app/%c0%ae%c0%ae/secret.txt', // overlong UTF-8 dots: malformed
    'miru://app/assets/leak.js', // symlink to a file outside
    'miru://app/linked/secret.txt', // symlinked folder outside
    'miru://app/.env', // hidden file
    'miru://app//etc/passwd',
  ];
  for (const url of attempts) {
    const response = await get(url);
    assert.ok([400, 403, 404].includes(response.status), `${url} -> ${response.status}`);
    assert.ok(!response.body.includes(SECRET), `${url} leaked the secret`);
    assert.ok(!response.body.includes('root:'), `${url} leaked /etc/passwd`);
  }
  // The path rules themselves, before any URL normalisation.
  for (const raw of ['/../secret.txt', '/assets/../../secret.txt', '/./index.html', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/%252e%252e%252f', '/a%5cb', '/%00', '/%zz']) {
    const served = resolveAppFile(appDir, raw);
    assert.equal(served.ok, false, raw);
    if (!served.ok) assert.equal(served.status, 400, raw);
  }
  const leak = resolveAppFile(appDir, '/assets/leak.js');
  assert.deepEqual(leak.ok ? null : leak.status, 403);
  assert.equal(resolveAppFile(path.join(appDir, 'nope'), '/index.html').ok, false, 'unbuilt UI');
});

test('thumbnails are served by content hash only, on both URL forms', async () => {
  for (const url of [`miru://thumb/${hash}`, `miru://app/thumb/${hash}`]) {
    const thumb = await get(url);
    assert.equal(thumb.status, 200, url);
    assert.equal(thumb.headers.get('content-type'), 'image/webp');
    assert.equal(thumb.body.slice(8, 12), 'WEBP');
    assert.equal(thumb.headers.get('access-control-allow-origin'), 'miru://app');
    assert.match(thumb.headers.get('cache-control') ?? '', /immutable/);
  }
  for (const url of ['miru://thumb/ffffffffffffffff', 'miru://thumb/../../secret', 'miru://thumb/..%2f..%2fsecret.txt', `miru://thumb/${hash.toUpperCase()}`, `miru://thumb/${hash}/x`, 'miru://thumb/%252e%252e', 'miru://thumb/', `miru://thumb/${hash}%00`]) {
    const response = await get(url);
    assert.ok([400, 404].includes(response.status), `${url} -> ${response.status}`);
    assert.ok(!response.body.includes(SECRET));
  }
});

test('originals are served by id, and a symlink out of the root is refused', async () => {
  const original = readFileSync(path.join(path.dirname(appDir), 'images', 'img0.png'));
  for (const url of [`miru://image/${okId}`, `miru://app/image/${okId}`]) {
    const image = await get(url);
    assert.equal(image.status, 200, url);
    assert.equal(image.headers.get('content-type'), 'image/png');
    assert.equal(Number(image.headers.get('content-length')), original.length);
    assert.ok(Buffer.from(image.body, 'latin1').equals(original), 'the bytes of the original');
  }
  const linked = await get(`miru://image/${linkedId}`);
  assert.equal(linked.status, 403, 'symlink out of the root');
  for (const url of ['miru://image/999999', 'miru://image/0', 'miru://image/-1', 'miru://image/1.0', 'miru://image/%31', 'miru://image/..%2f..%2fsecret.txt', `miru://image/${okId}/x`, 'miru://image/']) {
    const response = await get(url);
    assert.ok([400, 404].includes(response.status), `${url} -> ${response.status}`);
  }
});

test('unknown hosts, ports and credentials are refused', async () => {
  for (const url of ['miru://other/index.html', 'miru://app:8080/index.html', 'miru://user:pw@app/index.html', 'miru://image.evil/1']) {
    const response = await get(url);
    assert.ok([400, 404].includes(response.status), `${url} -> ${response.status}`);
    assert.equal(response.headers.get('content-security-policy'), null);
  }
});
