/**
 * The `miru://` protocol: the desktop UI is loaded from miru://app/index.html, never from file:// (a file:// page
 * can read any local file the user can, and every file:// URL is one origin). Three hosts:
 *   miru://app/...          the built renderer in dist/renderer, and nothing else
 *   miru://thumb/<hash>     a thumbnail of the open library   (core/api/servedFiles.ts decides)
 *   miru://image/<id>       an original of the open library   (core/api/servedFiles.ts decides)
 * The same two image routes also answer under the app origin (miru://app/thumb/<hash>, miru://app/image/<id>),
 * so the UI's relative `/thumb/...` URLs work unchanged in the desktop host and the browser host.
 * Images are only ever named by content hash or id, never by path; UI files are named by path, so that path is
 * decoded once and refused when it holds `..`, `%` (double encoding), backslashes or NUL, or resolves (after
 * symlinks) outside dist/renderer.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { LibraryDb } from '../core/library/openLibrary.js';
import { resolveOriginal, resolveThumbnail, type ServedFile, uiContentType } from '../core/api/servedFiles.js';
import { APP_HOST, APP_ORIGIN, MIRU_SCHEME } from './appOrigin.js';
import type { CustomSchemeLike, ProtocolHandler, ProtocolLike } from './electronTypes.js';

/**
 * standard: relative URLs, an origin per host, web storage; secure: counts as a secure context like https;
 * supportFetchAPI + corsEnabled: fetch() of thumbnails/originals and canvases that stay untainted; stream: large
 * originals are streamed, not buffered. Not bypassCSP (the CSP below must apply) and no service workers.
 */
export const MIRU_SCHEME_PRIVILEGES = Object.freeze({
  standard: true,
  secure: true,
  supportFetchAPI: true,
  corsEnabled: true,
  stream: true,
  codeCache: true,
  bypassCSP: false,
  allowServiceWorkers: false,
});

/** Must run before the app's `ready` event, and only once. */
export function registerMiruScheme(protocol: Pick<ProtocolLike, 'registerSchemesAsPrivileged'>): void {
  const scheme: CustomSchemeLike = { scheme: MIRU_SCHEME, privileges: { ...MIRU_SCHEME_PRIVILEGES } };
  protocol.registerSchemesAsPrivileged([scheme]);
}

/**
 * The UI's Content-Security-Policy: scripts, styles, fonts and workers only from the app's own files (no inline
 * script, no eval), images from the miru:// hosts plus data:/blob: (canvas exports), no network at all (the UI
 * talks to core through the preload's IPC bridge), no frames, no plugins, no <base>, no form posts.
 */
export const APP_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' miru://thumb miru://image data: blob:",
  "font-src 'self'",
  "connect-src 'self' miru://thumb miru://image",
  "worker-src 'self' blob:",
  "frame-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');


function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * A file of the built UI, named by the URL's path (as the URL parser left it: percent-encoded). `/` is
 * index.html. No fallback for unknown paths: the UI keeps its state in the query string, not in the path.
 */
export function resolveAppFile(appDir: string, urlPath: string): ServedFile {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding in the path' };
  }
  // After one decode there is no legitimate '%' (the build emits plain names): a '%' means double encoding.
  if (/[%\\\0]/.test(decoded)) return { ok: false, status: 400, reason: 'the path holds an encoded, escaped or NUL character' };
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment === '.' || segment === '..')) return { ok: false, status: 400, reason: 'the path leaves the app folder' };
  if (segments.some((segment) => segment.startsWith('.'))) return { ok: false, status: 403, reason: 'hidden files are not served' };
  let realAppDir: string;
  try {
    realAppDir = realpathSync(appDir);
  } catch {
    return { ok: false, status: 404, reason: 'the UI is not built (run `npm run build`)' };
  }
  return realFileInside(realAppDir, segments.length === 0 ? 'index.html' : path.join(...segments));
}

function realFileInside(realDir: string, relative: string): ServedFile {
  const file = path.join(realDir, relative);
  if (!isInside(file, realDir)) return { ok: false, status: 400, reason: 'the path leaves the app folder' };
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    return { ok: false, status: 404, reason: `no such UI file: ${relative}` };
  }
  // A symbolic link inside dist/renderer must not lead outside it.
  if (!isInside(real, realDir)) return { ok: false, status: 403, reason: 'the UI file resolves outside the app folder' };
  try {
    if (!statSync(real).isFile()) return { ok: false, status: 404, reason: `no such UI file: ${relative}` };
  } catch {
    return { ok: false, status: 404, reason: `no such UI file: ${relative}` };
  }
  return { ok: true, file: real, contentType: uiContentType(real) };
}

export interface ProtocolHandlerOptions {
  /** dist/renderer: the Vite build of the UI. */
  appDir: string;
  /** The library's cache folder (`<db>.cache`), whose thumbs/ holds thumbnails. */
  cacheDir: string;
  /** The open library (the service's database). */
  db: LibraryDb;
}

const COMMON_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

function errorResponse(status: number, reason: string): Response {
  return new Response(`${status} ${reason}\n`, { status, headers: { ...COMMON_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' } });
}

function fileResponse(served: ServedFile, method: string, headers: Record<string, string>): Response {
  if (!served.ok) return errorResponse(served.status, served.reason);
  let size: number;
  try {
    size = statSync(served.file).size;
  } catch {
    return errorResponse(404, 'the file went away');
  }
  const allHeaders = { ...COMMON_HEADERS, ...headers, 'Content-Type': served.contentType, 'Content-Length': String(size) };
  if (method === 'HEAD') return new Response(null, { status: 200, headers: allHeaders });
  // Streamed: a 50-megapixel original is not read into memory first.
  const body = Readable.toWeb(createReadStream(served.file)) as unknown as ReadableStream<Uint8Array>;
  return new Response(body, { status: 200, headers: allHeaders });
}

/** The single path segment after the host (`/<hash>`, `/<id>`), raw: servedFiles validates it and decodes nothing. */
function singleSegment(pathname: string): string {
  return pathname.startsWith('/') && pathname.indexOf('/', 1) === -1 ? pathname.slice(1) : '';
}

/** The handler for protocol.handle('miru', ...): a pure Request → Response function, so tests call it directly. */
export function createMiruProtocolHandler(options: ProtocolHandlerOptions): ProtocolHandler {
  const imageHeaders = { 'Access-Control-Allow-Origin': APP_ORIGIN, 'Cross-Origin-Resource-Policy': 'same-site' };
  const thumb = (segment: string, method: string) =>
    // Thumbnails are keyed by content hash: a URL's bytes never change.
    fileResponse(resolveThumbnail(options.cacheDir, segment), method, { ...imageHeaders, 'Cache-Control': 'public, max-age=31536000, immutable' });
  const original = (segment: string, method: string) => fileResponse(resolveOriginal(options.db, segment), method, { ...imageHeaders, 'Cache-Control': 'no-cache' });

  return async (request: Request): Promise<Response> => {
    const method = request.method.toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return errorResponse(405, 'only GET and HEAD');
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return errorResponse(400, 'not a URL');
    }
    if (url.protocol !== `${MIRU_SCHEME}:` || url.username || url.password || url.port) return errorResponse(400, 'not a miru:// URL');
    switch (url.host) {
      case APP_HOST: {
        if (url.pathname.startsWith('/thumb/')) return thumb(singleSegment(url.pathname.slice('/thumb'.length)), method);
        if (url.pathname.startsWith('/image/')) return original(singleSegment(url.pathname.slice('/image'.length)), method);
        const served = resolveAppFile(options.appDir, url.pathname);
        const html = served.ok && served.contentType.startsWith('text/html');
        // The UI files are rebuilt in place by `npm run build`: revalidate rather than cache stale code.
        return fileResponse(served, method, html ? { 'Content-Security-Policy': APP_CSP, 'Cache-Control': 'no-cache' } : { 'Cache-Control': 'no-cache' });
      }
      case 'thumb':
        return thumb(singleSegment(url.pathname), method);
      case 'image':
        return original(singleSegment(url.pathname), method);
      default:
        return errorResponse(404, `unknown miru:// host ${JSON.stringify(url.host)}`);
    }
  };
}

/** Installs the handler on Electron's (default-session) protocol module; call after `ready`. */
export function handleMiruProtocol(protocol: Pick<ProtocolLike, 'handle'>, options: ProtocolHandlerOptions): ProtocolHandler {
  const handler = createMiruProtocolHandler(options);
  protocol.handle(MIRU_SCHEME, handler);
  return handler;
}
