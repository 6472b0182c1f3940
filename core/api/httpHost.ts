/**
 * The browser host (`miru serve`, issue 5): the built UI, the API and the library's images over HTTP on
 * 127.0.0.1 only. A local port is reachable by every web page the user opens and by every local user, so:
 * - every request needs the per-launch token (header `x-miru-token`, cookie `miru_token_<port>`, or `?token=`), else 401;
 * - the Host header must name this server (`127.0.0.1:<port>` or `localhost:<port>`), which defeats DNS
 *   rebinding; an Origin or Sec-Fetch-Site that is not this origin is refused; no CORS headers are ever sent;
 * - images are served only through servedFiles.ts (a content hash, a numeric id), never by path;
 * - API bodies are JSON of at most MAX_API_INPUT_BYTES (4 MiB, the Electron host's IPC cap too), checked by
 *   core/api's schemas before any method runs.
 *
 * Protocol: `POST /api/<method>` with a JSON body → 200 `{"ok":true,"result":...}` (or, for results holding typed
 * arrays, one binary frame of type application/x-miru-frame: binaryFrame.ts) or 4xx/5xx
 * `{"ok":false,"error":{"message":...}}`; `GET /api/events` → server-sent events, one `data: <MiruEvent>` each;
 * `GET /thumb/<hash>`, `GET /image/<id>`; anything else is the UI from dist/renderer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { cacheDirFor } from '../library/openLibrary.js';
import { isApiMethodName } from './apiSchemas.js';
import { apiErrorStatus, callApi, type MiruService } from './miruService.js';
import { MAX_API_INPUT_BYTES } from './inputSize.js';
import { encodeFrame, FRAME_CONTENT_TYPE, holdsTypedArrays } from './binaryFrame.js';
import { resolveOriginal, resolveThumbnail, type ServedFile, uiContentType } from './servedFiles.js';

/**
 * The token cookie's name is `miru_token_<port>`: cookies are shared by every port of 127.0.0.1, so one name
 * would let a second `miru serve` overwrite the first one's cookie and lock its open tabs out.
 */
export const TOKEN_COOKIE = 'miru_token';
export const tokenCookieName = (port: number): string => `${TOKEN_COOKIE}_${port}`;
export const TOKEN_HEADER = 'x-miru-token';

/** dist/renderer, where the renderer's Vite build lands (this file runs from dist/core/api/). */
export const DEFAULT_RENDERER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../renderer');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  // The page URL carries the token on first load: never send it to anyone in a Referer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};


const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Miru</title></head>
<body style="font-family: system-ui, sans-serif; background: #16181d; color: #e6e6e6; padding: 3rem;">
<h1>Miru is running, but its UI is not built</h1>
<p>The server found no <code>dist/renderer/index.html</code>. Run <code>npm run build</code> in the Miru folder, then reload this page.</p>
<p>The API answers at <code>/api/&lt;method&gt;</code> meanwhile.</p></body></html>`;

export interface HttpHostOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** The built UI (default dist/renderer). */
  rendererDir?: string;
  /** Fixed token, for tests; default 32 random bytes as hex. */
  token?: string;
  /** Requests refused, for the terminal (default: nothing). */
  log?: (message: string) => void;
}

export interface HttpHost {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 (never another interface) and resolves once it listens. */
export async function startHttpHost(service: MiruService, options: HttpHostOptions = {}): Promise<HttpHost> {
  const token = options.token ?? randomBytes(32).toString('hex');
  const tokenBytes = Buffer.from(token, 'utf8');
  const rendererDir = path.resolve(options.rendererDir ?? DEFAULT_RENDERER_DIR);
  const cacheDir = cacheDirFor(service.dbPath);
  const log = options.log ?? (() => {});
  const streams = new Set<ServerResponse>();
  let port = 0;

  const validToken = (candidate: string | null | undefined): boolean => {
    if (typeof candidate !== 'string') return false;
    const bytes = Buffer.from(candidate, 'utf8');
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`internal error on ${req.method} ${(req.url ?? '').replace(/([?&]token=)[^&]*/, '$1...')}: ${(error as Error).message}`);  // never log the token
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: { message: 'Internal server error.' } });
      else res.destroy();
    });
  });
  // An idle keep-alive socket from the browser must not hold `close()`.
  server.keepAliveTimeout = 5000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    // The raw path, not URL-parsed: the WHATWG parser would resolve `..` and `%2e%2e` before we could refuse them.
    const rawPath = queryAt >= 0 ? rawUrl.slice(0, queryAt) : rawUrl;
    const query = new URLSearchParams(queryAt >= 0 ? rawUrl.slice(queryAt + 1) : '');

    // 1. The Host header names this server (DNS rebinding: evil.example resolving to 127.0.0.1 sends its own name).
    const host = (req.headers.host ?? '').toLowerCase();
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return refuse(res, 403, `foreign Host header ${JSON.stringify(req.headers.host ?? '')}`);
    // 2. Other origins are refused outright, whatever they carry.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return refuse(res, 403, `foreign Origin ${JSON.stringify(origin)}`);
    const fetchSite = req.headers['sec-fetch-site'];
    if (fetchSite === 'cross-site' || fetchSite === 'same-site') return refuse(res, 403, `cross-origin request (Sec-Fetch-Site: ${fetchSite})`);
    // 3. The token, from the header, the cookie or the query.
    const header = req.headers[TOKEN_HEADER];
    const fromQuery = query.get('token');
    const authorised = validToken(typeof header === 'string' ? header : undefined) || validToken(readCookie(req, tokenCookieName(port))) || validToken(fromQuery);
    if (!authorised) return refuse(res, 401, 'missing or wrong token');

    if (rawPath.startsWith('/api/')) return handleApi(req, res, rawPath.slice('/api/'.length));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendText(res, 405, 'Method not allowed.');
    }
    if (rawPath === '/thumb' || rawPath.startsWith('/thumb/')) return sendServed(req, res, onlySegment(rawPath, '/thumb/', (s) => resolveThumbnail(cacheDir, s)), 'private, max-age=31536000, immutable');
    if (rawPath === '/image' || rawPath.startsWith('/image/')) return sendServed(req, res, onlySegment(rawPath, '/image/', (s) => resolveOriginal(service.db, s)), 'private, no-cache');
    // A valid ?token= on the page sets the cookie, so <img> requests and reloads carry it.
    if (fromQuery !== null && validToken(fromQuery) && (rawPath === '/' || rawPath === '/index.html')) {
      res.setHeader('set-cookie', `${tokenCookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`);
    }
    return sendStatic(req, res, rawPath);
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    res.setHeader('cache-control', 'no-store');
    if (method === 'events') {
      if (req.method !== 'GET') return sendJson(res, 405, { ok: false, error: { message: 'GET /api/events opens the event stream.' } });
      return openEventStream(req, res);
    }
    if (!isApiMethodName(method)) return sendJson(res, 404, { ok: false, error: { message: `Unknown API method ${JSON.stringify(method.slice(0, 64))}.` } });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return sendJson(res, 405, { ok: false, error: { message: `Call ${method} with POST and a JSON body.` } });
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return sendJson(res, 415, { ok: false, error: { message: 'The body must be JSON (Content-Type: application/json).' } });
    const body = await readBody(req, MAX_API_INPUT_BYTES);
    if (body === 'too-large') {
      // Answer first, then drop the connection instead of reading the rest of an oversized upload.
      res.setHeader('connection', 'close');
      sendJson(res, 413, { ok: false, error: { message: `The request body is over ${MAX_API_INPUT_BYTES} bytes.` } });
      res.on('finish', () => req.destroy());
      return;
    }
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch (error) {
      return sendJson(res, 400, { ok: false, error: { message: `The body is not valid JSON: ${(error as Error).message}` } });
    }
    try {
      const result = await callApi(service, method, input);
      if (holdsTypedArrays(result)) return sendFrame(res, encodeFrame(result as Record<string, unknown>));
      sendJson(res, 200, { ok: true, result: result ?? null });
    } catch (error) {
      const status = apiErrorStatus(error);
      if (status === 500) log(`${method} failed: ${(error as Error).stack ?? String(error)}`);
      sendJson(res, status, { ok: false, error: { message: (error as Error).message ?? String(error) } });
    }
  }

  function openEventStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': connected\n\n');
    const unsubscribe = service.subscribe((event) => res.write(`data: ${JSON.stringify(event)}\n\n`));
    // A comment now and then keeps proxies (an SSH tunnel's, say) from closing an idle stream.
    const heartbeat = setInterval(() => res.write(': ping\n\n'), 25_000);
    heartbeat.unref();
    streams.add(res);
    const stop = () => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(res);
    };
    req.on('close', stop);
    res.on('close', stop);
  }

  function sendServed(req: IncomingMessage, res: ServerResponse, served: ServedFile, cacheControl: string): void {
    if (!served.ok) return sendText(res, served.status, `${served.status === 404 ? 'Not found' : served.status === 403 ? 'Forbidden' : 'Bad request'}: ${served.reason}.`);
    let size: number;
    try {
      size = statSync(served.file).size;
    } catch {
      return sendText(res, 404, 'Not found.');
    }
    res.writeHead(200, { 'content-type': served.contentType, 'content-length': size, 'cache-control': cacheControl });
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(served.file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  function sendStatic(req: IncomingMessage, res: ServerResponse, rawPath: string): void {
    const index = path.join(rendererDir, 'index.html');
    if (!existsSync(index)) {
      if (rawPath === '/' || rawPath === '/index.html') return sendHtml(res, 200, NOT_BUILT_PAGE);
      return sendText(res, 404, 'Not found (the UI is not built: run `npm run build`).');
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawPath);
    } catch {
      return sendText(res, 400, 'Bad request: malformed percent-encoding.');
    }
    const segments = decoded.split('/').filter((s) => s !== '');
    if (decoded.includes('\0') || decoded.includes('\\') || segments.some((s) => s === '..' || s === '.' || s.includes('%'))) {
      return sendText(res, 400, 'Bad request: the path leaves the UI folder.');
    }
    // Paths without a file extension are the UI's own routes: they get the app's page.
    const last = segments[segments.length - 1] ?? '';
    const file = segments.length === 0 || !last.includes('.') ? index : path.join(rendererDir, ...segments);
    let real: string;
    let realRoot: string;
    try {
      real = realpathSync(file);
      realRoot = realpathSync(rendererDir);
    } catch {
      return sendText(res, 404, 'Not found.');
    }
    const rel = path.relative(realRoot, real);
    if (!rel || rel.startsWith('..') || path.isAbsolute(rel) || !statSync(real).isFile()) return sendText(res, 404, 'Not found.');
    const type = uiContentType(real);
    // index.html is where the token cookie is set and must not be cached; Vite's hashed assets may be.
    const cache = real === realpathSync(index) ? 'no-store' : /[-.][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/.test(real) ? 'private, max-age=31536000, immutable' : 'no-cache';
    res.writeHead(200, { 'content-type': type, 'content-length': statSync(real).size, 'cache-control': cache });
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(real);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  function refuse(res: ServerResponse, status: 401 | 403, why: string): void {
    log(`refused (${status}): ${why}`);
    res.setHeader('cache-control', 'no-store');
    sendText(res, status, status === 401 ? 'Unauthorized: open the URL that `miru serve` printed (it carries ?token=).' : 'Forbidden.');
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`Port ${options.port} on 127.0.0.1 is in use; pick another with --port, or leave --port out for a free one.`)
          : error.code === 'EACCES'
            ? new Error(`Port ${options.port} needs privileges; use a port above 1023.`)
            : error,
      );
    };
    server.once('error', onError);
    server.listen({ port: options.port ?? 0, host: '127.0.0.1', exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/?token=${token}`;

  return {
    url,
    port,
    token,
    server,
    close: async () => {
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The single path segment after `prefix`, raw (servedFiles validates it and decodes nothing); more segments are refused. */
function onlySegment(rawPath: string, prefix: string, resolve: (segment: string) => ServedFile): ServedFile {
  const segment = rawPath.startsWith(prefix) ? rawPath.slice(prefix.length) : '';
  if (!segment || segment.includes('/')) return { ok: false, status: 400, reason: `expected ${prefix}<name> with a single name` };
  return resolve(segment);
}

function readCookie(req: IncomingMessage, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The body, or 'too-large' as soon as it passes `limit` bytes (by Content-Length or by counting). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve('too-large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.pause();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', (error) => {
      if (!done) {
        done = true;
        reject(error);
      }
    });
  });
}

/** A result holding typed arrays (the map's points) goes out as raw bytes in one frame (binaryFrame.ts). */
function sendFrame(res: ServerResponse, frame: Uint8Array): void {
  res.writeHead(200, { 'content-type': FRAME_CONTENT_TYPE, 'content-length': frame.byteLength, 'cache-control': 'no-store' });
  res.end(frame);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' });
  res.end(html);
}
