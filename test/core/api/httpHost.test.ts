import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createMiruService, type MiruService } from '../../../core/api/miruService.js';
import { startHttpHost, type HttpHost } from '../../../core/api/httpHost.js';
import { MAX_API_INPUT_BYTES } from '../../../core/api/inputSize.js';
import { API_LIMITS } from '../../../core/api/apiSchemas.js';
import { thumbnailPath } from '../../../core/library/thumbnails.js';
import { cacheDirFor, openLibrary } from '../../../core/library/openLibrary.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';
import { writeTestImage } from '../../helpers/images.js';

const TOKEN = 'a'.repeat(64);
const SECRET = 'TOP-SECRET-CONTENT-7f3a';

let dir: string;
let service: MiruService;
let host: HttpHost;
let rendererDir: string;
let linkedId: number;
let goodId: number;
let goodHash: string;

before(async () => {
  dir = tempDir('miru-http-');
  // A root with two images and a symlink to an image outside every root; secrets beside the root and the UI.
  const images = path.join(dir, 'images');
  await writeTestImage(path.join(images, 'a.png'), { seed: 1 });
  await writeTestImage(path.join(images, 'b.png'), { seed: 2 });
  await writeTestImage(path.join(dir, 'outside', 'private.png'), { seed: 9 });
  symlinkSync(path.join(dir, 'outside', 'private.png'), path.join(images, 'link.png'));
  writeFileSync(path.join(dir, 'secret.txt'), SECRET);
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
  linkedId = db.prepare(`SELECT id FROM images WHERE rel_path = 'link.png'`).pluck().get() as number;
  const good = db.prepare(`SELECT id, content_hash FROM images WHERE rel_path = 'a.png'`).get() as { id: number; content_hash: string };
  goodId = good.id;
  goodHash = good.content_hash;
  db.close();
  assert.ok(linkedId && goodId, 'the indexer followed the symlink, so the host must refuse it');
  rendererDir = path.join(dir, 'renderer');
  mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Miru UI</title><script type="module" src="/assets/app-abc12345.js"></script>');
  writeFileSync(path.join(rendererDir, 'assets', 'app-abc12345.js'), 'console.log("miru")');
  service = createMiruService(dbPath, { queryWorker: false });
  host = await startHttpHost(service, { token: TOKEN, rendererDir });
});

after(async () => {
  await host.close();
  await service.close();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A raw HTTP request: the path goes out exactly as written (fetch would normalise `..` away). */
function request(method: string, rawPath: string, options: { headers?: Record<string, string>; body?: string | Buffer; host?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: host.port, method, path: rawPath, headers: { host: options.host ?? `127.0.0.1:${host.port}`, ...options.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close an oversized upload before it is all sent; the answer already arrived then.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return;
      reject(error);
    });
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

const authed = { 'x-miru-token': TOKEN };
const api = (method: string, input: unknown, headers: Record<string, string> = authed) =>
  request('POST', `/api/${method}`, { headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(input) });
const json = (reply: Reply) => JSON.parse(reply.body.toString('utf8')) as { ok: boolean; result?: unknown; error?: { message: string } };

/** Refused: the status, and none of the library's data or files in the answer. */
function assertRefused(reply: Reply, status: number, label: string): void {
  assert.equal(reply.status, status, `${label}: status ${reply.status}, body ${reply.body.toString('utf8').slice(0, 200)}`);
  const text = reply.body.toString('latin1');
  assert.ok(!text.includes(SECRET), `${label}: leaked the secret file`);
  assert.ok(!text.includes('\x89PNG') && !text.includes('RIFF'), `${label}: served an image`);
  assert.ok(!text.includes('a.png') && !text.includes('Miru UI'), `${label}: served library data or the UI`);
  assert.equal(reply.headers['access-control-allow-origin'], undefined, `${label}: CORS header`);
  assert.equal(reply.headers['set-cookie'], undefined, `${label}: set a cookie`);
}

test('the host listens on 127.0.0.1 only, with a 32-byte hex token in the printed URL', async () => {
  assert.equal((host.server.address() as { address: string }).address, '127.0.0.1');
  assert.equal(host.url, `http://127.0.0.1:${host.port}/?token=${TOKEN}`);
  const other = await startHttpHost(service, { rendererDir });
  try {
    assert.match(other.token, /^[0-9a-f]{64}$/);
    assert.notEqual(other.token, (await startHttpHost(service, { rendererDir }).then(async (h) => (await h.close(), h.token))));
    assert.equal((other.server.address() as { address: string }).address, '127.0.0.1');
  } finally {
    await other.close();
  }
});

test('requests without the token, or with a wrong one, get 401 and nothing else', async () => {
  const paths = ['/', '/index.html', '/assets/app-abc12345.js', `/thumb/${goodHash}`, `/image/${goodId}`, '/api/events'];
  for (const p of paths) {
    assertRefused(await request('GET', p), 401, `GET ${p} without token`);
    assertRefused(await request('GET', p, { headers: { 'x-miru-token': 'b'.repeat(64) } }), 401, `GET ${p} wrong header`);
    assertRefused(await request('GET', p, { headers: { cookie: `miru_token_${host.port}=${'b'.repeat(64)}` } }), 401, `GET ${p} wrong cookie`);
    // Another instance's cookie (same value, another port's name) is not this server's token.
    assertRefused(await request('GET', p, { headers: { cookie: `miru_token_${host.port + 1}=${TOKEN}` } }), 401, `GET ${p} another port's cookie`);
    assertRefused(await request('GET', `${p}${p.includes('?') ? '&' : '?'}token=short`), 401, `GET ${p} wrong query`);
  }
  assertRefused(await api('libraryInfo', {}, {}), 401, 'API without token');
  assertRefused(await api('libraryInfo', {}, { 'x-miru-token': TOKEN.slice(1) }), 401, 'API with a token one character short');
  assertRefused(await api('libraryInfo', {}, { 'x-miru-token': '' }), 401, 'API with an empty token');
  assertRefused(await request('POST', `/api/libraryInfo?token=${TOKEN.toUpperCase()}`, { headers: { 'content-type': 'application/json' }, body: '{}' }), 401, 'API with an upper-case token');
});

test('a foreign Host header (DNS rebinding), a foreign Origin or a cross-site fetch is refused with 403', async () => {
  for (const foreign of ['evil.example', `evil.example:${host.port}`, `127.0.0.1:${host.port + 1}`, `localhost:${host.port + 1}`, `0.0.0.0:${host.port}`, `[::1]:${host.port}`, '127.0.0.1']) {
    assertRefused(await request('GET', '/', { host: foreign, headers: authed }), 403, `Host ${JSON.stringify(foreign)}`);
    assertRefused(await request('POST', '/api/libraryInfo', { host: foreign, headers: { ...authed, 'content-type': 'application/json' }, body: '{}' }), 403, `API Host ${foreign}`);
  }
  // No Host at all (HTTP/1.0 allows that): refused too.
  const noHost = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(host.port, '127.0.0.1', () => socket.end(`GET / HTTP/1.0\r\nx-miru-token: ${TOKEN}\r\n\r\n`));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  assert.match(noHost, /^HTTP\/1\.[01] 403/);
  assert.ok(!noHost.includes('Miru UI'));
  for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${host.port + 1}`, `https://127.0.0.1:${host.port}`, `http://localhost:${host.port}`]) {
    assertRefused(await api('libraryInfo', {}, { ...authed, origin }), 403, `Origin ${origin}`);
  }
  assertRefused(await request('GET', `/image/${goodId}`, { headers: { ...authed, 'sec-fetch-site': 'cross-site' } }), 403, 'cross-site image');
  assertRefused(await request('GET', `/image/${goodId}`, { headers: { ...authed, 'sec-fetch-site': 'same-site' } }), 403, 'same-site (another port) image');
  // The same origin, and localhost by name, are fine.
  assert.equal((await api('libraryInfo', {}, { ...authed, origin: `http://127.0.0.1:${host.port}`, 'sec-fetch-site': 'same-origin' })).status, 200);
  assert.equal((await request('GET', '/', { host: `localhost:${host.port}`, headers: authed })).status, 200);
});

test('path traversal in image and UI URLs is refused, plain, encoded, double-encoded and through a symlink', async () => {
  const cases: [string, number][] = [
    ['/image/../../secret.txt', 400],
    ['/image/..%2f..%2fsecret.txt', 400],
    ['/image/%2e%2e%2f%2e%2e%2fsecret.txt', 400],
    ['/image/%252e%252e%252fsecret.txt', 400],
    ['/image/..%5c..%5csecret.txt', 400],
    [`/image/${goodId}%00`, 400],
    [`/image/${goodId}/../1`, 400],
    ['/image/abc', 400],
    ['/image/-1', 400],
    ['/image/0', 400],
    [`/image/0${goodId}`, 400],
    ['/image/1e3', 400],
    ['/image/', 400],
    ['/image/99999', 404],
    [`/image/${linkedId}`, 403],
    ['/thumb/../../secret.txt', 400],
    ['/thumb/%2e%2e%2f%2e%2e%2fsecret.txt', 400],
    ['/thumb/%252e%252e%252fsecret.txt', 400],
    [`/thumb/${goodHash.toUpperCase()}`, 400],
    [`/thumb/${goodHash}.webp`, 400],
    ['/thumb/0123456789abcdef', 404],
    ['/../secret.txt', 400],
    ['/%2e%2e/secret.txt', 400],
    ['/assets/..%2f..%2fsecret.txt', 400],
    ['/assets/%2e%2e%2f%2e%2e%2fsecret.txt', 400],
    ['/%252e%252e/secret.txt', 400],
    ['/assets/%252e%252e%252f%252e%252e%252fsecret.txt', 400],
    ['/..%5csecret.txt', 400],
    ['/secret.txt', 404],
    ['/assets/missing.js', 404],
  ];
  for (const [p, status] of cases) assertRefused(await request('GET', p, { headers: authed }), status, `GET ${p}`);
});

test('the body cap is the shared API input cap: the largest input the schemas accept gets through, one byte more is refused', async () => {
  // tagImages with the most ids a call may carry, each as long as an id can be: well over the old 1 MB cap.
  const largest = JSON.stringify({ ids: Array.from({ length: API_LIMITS.ids }, (_, i) => Number.MAX_SAFE_INTEGER - i), add: ['x'] });
  assert.ok(Buffer.byteLength(largest) > 1024 * 1024 && Buffer.byteLength(largest) < MAX_API_INPUT_BYTES);
  const accepted = await request('POST', '/api/tagImages', { headers: { ...authed, 'content-type': 'application/json' }, body: largest });
  assert.equal(accepted.status, 404, 'it reaches the service, which finds no such images');
  assert.match(json(accepted).error!.message, /No image with id 9007199254740991.*nothing was tagged/);
  // Exactly at the cap is read (and refused as input, not size); one byte over is refused unread.
  const padded = (bytes: number) => {
    const body = JSON.stringify({ filters: [], limit: 5 });
    return body.slice(0, -1) + ' '.repeat(bytes - Buffer.byteLength(body)) + '}';
  };
  const atCap = await request('POST', '/api/listImages', { headers: { ...authed, 'content-type': 'application/json' }, body: padded(MAX_API_INPUT_BYTES) });
  assert.equal(atCap.status, 200);
  assert.equal((await request('POST', '/api/listImages', { headers: { ...authed, 'content-type': 'application/json' }, body: padded(MAX_API_INPUT_BYTES + 1) })).status, 413);
});

test('oversized, malformed and unknown API calls are refused with the right status', async () => {
  const big = JSON.stringify({ filters: ['x'.repeat(MAX_API_INPUT_BYTES)], limit: 5 });
  const oversized = await request('POST', '/api/listImages', { headers: { ...authed, 'content-type': 'application/json' }, body: big });
  assert.equal(oversized.status, 413);
  assert.match(json(oversized).error!.message, new RegExp(`over ${MAX_API_INPUT_BYTES} bytes`));
  // Without a Content-Length (chunked), the limit is counted as the body arrives.
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: host.port, method: 'POST', path: '/api/listImages', headers: { host: `127.0.0.1:${host.port}`, ...authed, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    for (let i = 0; i <= MAX_API_INPUT_BYTES / (64 * 1024); i++) req.write(Buffer.alloc(64 * 1024, 0x20));
    req.end();
  });
  assert.equal(chunked, 413);
  const malformed = await request('POST', '/api/listImages', { headers: { ...authed, 'content-type': 'application/json' }, body: '{"filters": [' });
  assert.equal(malformed.status, 400);
  assert.match(json(malformed).error!.message, /not valid JSON/);
  assert.equal((await request('POST', '/api/listImages', { headers: { ...authed, 'content-type': 'text/plain' }, body: '{}' })).status, 415);
  const unknown = await api('dropEverything', {});
  assert.equal(unknown.status, 404);
  assert.match(json(unknown).error!.message, /Unknown API method "dropEverything"/);
  assert.equal((await api('__proto__', {})).status, 404);
  assert.equal((await request('GET', '/api/listImages', { headers: authed })).status, 405);
  const invalid = await api('listImages', { filters: [], limit: 5000 });
  assert.equal(invalid.status, 400);
  assert.match(json(invalid).error!.message, /listImages: invalid limit/);
  const notFound = await api('imageDetail', { id: 99999 });
  assert.equal(notFound.status, 404);
  assert.deepEqual(json(notFound), { ok: false, error: { message: 'No image with id 99999 in this library.' } });
  assert.equal((await api('tagImages', { ids: [goodId], add: ['x'] })).status, 200, 'the server still answers after the refusals');
  await api('tagImages', { ids: [goodId], remove: ['x'] });
});

test('happy path over real HTTP: the page sets the cookie, and the cookie alone reaches the API, thumbnails, originals and events', async () => {
  const page = await request('GET', `/?token=${TOKEN}`);
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /Miru UI/);
  const cookie = page.headers['set-cookie']![0]!;
  assert.equal(cookie, `miru_token_${host.port}=${'a'.repeat(64)}; HttpOnly; SameSite=Strict; Path=/`);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.headers['access-control-allow-origin'], undefined);
  const withCookie = { cookie: `miru_token_${host.port}=${TOKEN}` };
  const asset = await request('GET', '/assets/app-abc12345.js', { headers: withCookie });
  assert.deepEqual([asset.status, asset.headers['content-type'], asset.body.toString()], [200, 'text/javascript; charset=utf-8', 'console.log("miru")']);
  assert.match((await request('GET', '/some/ui/route', { headers: withCookie })).body.toString(), /Miru UI/, 'UI routes get the page');

  const listed = await api('listImages', { filters: [], limit: 10 }, withCookie);
  assert.equal(listed.status, 200);
  assert.equal(listed.headers['cache-control'], 'no-store');
  const items = (json(listed).result as { items: { id: number; relPath: string; hash: string }[] }).items;
  assert.deepEqual(items.map((i) => i.relPath).sort(), ['a.png', 'b.png', 'link.png']);

  const thumb = await request('GET', `/thumb/${goodHash}`, { headers: withCookie });
  assert.equal(thumb.status, 200);
  assert.equal(thumb.headers['content-type'], 'image/webp');
  assert.deepEqual(thumb.body, readFileSync(thumbnailPath(cacheDirFor(service.dbPath), goodHash)));
  const original = await request('GET', `/image/${goodId}`, { headers: withCookie });
  assert.equal(original.status, 200);
  assert.equal(original.headers['content-type'], 'image/png');
  assert.deepEqual(original.body, readFileSync(path.join(dir, 'images', 'a.png')));

  // Server-sent events: a tag change arrives as one `data:` line.
  const received = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: host.port, path: '/api/events', headers: { host: `127.0.0.1:${host.port}`, ...withCookie }, agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes(': connected')) void api('tagImages', { ids: [goodId], add: ['seen'] }, withCookie);
        const data = /data: (.*)\n\n/.exec(text);
        if (data) {
          req.destroy();
          resolve(data[1]!);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(JSON.parse(received), { type: 'library-changed', what: 'tags', ids: [goodId] });
});

test('without a built UI the page says how to build it', async () => {
  const empty = path.join(dir, 'no-ui');
  mkdirSync(empty, { recursive: true });
  const bare = await startHttpHost(service, { token: TOKEN, rendererDir: empty });
  try {
    const reply = await new Promise<Reply>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: bare.port, path: `/?token=${TOKEN}`, headers: { host: `127.0.0.1:${bare.port}` }, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
    assert.equal(reply.status, 200);
    assert.match(reply.body.toString(), /npm run build/);
  } finally {
    await bare.close();
  }
});

test('`miru serve --json` prints its URL, answers with the token only, and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/miru.js'), 'serve', '--db', service.dbPath, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited early (${code})`)));
    });
    const printed = JSON.parse(line) as { url: string; port: number; token: string };
    assert.match(printed.token, /^[0-9a-f]{64}$/);
    assert.equal(printed.url, `http://127.0.0.1:${printed.port}/?token=${printed.token}`);
    const ask = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: printed.port, method: 'POST', path: '/api/libraryInfo', headers: { host: `127.0.0.1:${printed.port}`, 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end('{}');
      });
    assert.equal(await ask({}), 401);
    assert.equal(await ask({ 'x-miru-token': printed.token }), 200);
  } finally {
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});
