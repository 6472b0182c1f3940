/**
 * The renderer's one way to reach core/api (issue 5). Two transports behind one typed object:
 * - IPC, when the Electron preload exposed `window.miru` (call/onEvent); images come from `miru://`.
 * - HTTP, against `miru serve`: `POST /api/<method>` with the per-launch token, server-sent events from
 *   `/api/events`, images from `/thumb/<hash>` and `/image/<id>`.
 * From core the renderer takes types, plus pure modules with no Node APIs (binaryFrame, polygonSelect): it never
 * bundles Node code.
 */
import type { ApiMethod, MiruApi, MiruEvent } from '../../core/api/apiTypes.js';
// Pure modules from core/api that both sides share (no Node APIs): the binary answer frame.
import { decodeFrame, FRAME_CONTENT_TYPE } from '../../core/api/binaryFrame.js';

export type ApiInput<M extends ApiMethod> = Parameters<MiruApi[M]>[0];
export type ApiResult<M extends ApiMethod> = Awaited<ReturnType<MiruApi[M]>>;
export type EventListener = (event: MiruEvent) => void;

/** What the Electron preload exposes (electron/preload). */
export interface MiruBridge {
  call(method: string, input: unknown): Promise<unknown>;
  onEvent(listener: (event: MiruEvent) => void): () => void;
  transport: 'ipc';
}

declare global {
  interface Window {
    miru?: MiruBridge;
  }
}

export interface Transport {
  readonly kind: 'ipc' | 'http';
  call(method: ApiMethod, input: unknown, signal?: AbortSignal): Promise<unknown>;
  onEvent(listener: EventListener): () => void;
  thumbUrl(hash: string): string;
  imageUrl(id: number): string;
}

/** An API error with the host's message (already written for a person: what failed and what to do). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly method: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class IpcTransport implements Transport {
  readonly kind = 'ipc' as const;
  constructor(private readonly bridge: MiruBridge) {}

  async call(method: ApiMethod, input: unknown, signal?: AbortSignal): Promise<unknown> {
    // IPC calls cannot be withdrawn from the main process; an aborted call's answer is dropped here.
    const result = await this.bridge.call(method, input).catch((error: unknown) => {
      throw new ApiError(error instanceof Error ? error.message.replace(/^Error invoking remote method '[^']*': (Error: )?/, '') : String(error), method);
    });
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
    return result;
  }

  onEvent(listener: EventListener): () => void {
    return this.bridge.onEvent(listener);
  }

  thumbUrl(hash: string): string {
    return `miru://thumb/${encodeURIComponent(hash)}`;
  }

  imageUrl(id: number): string {
    return `miru://image/${id}`;
  }
}

/**
 * HTTP transport. The token arrives once in the page URL (`?token=`); it is kept in memory only and removed from
 * the address bar so it does not end up in history, bookmarks or screenshots. The server also set the
 * `miru_token_<port>` cookie when it served the page with the token, which covers <img> requests and reloads.
 */
export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  private readonly listeners = new Set<EventListener>();
  private source: EventSource | null = null;

  constructor(
    private readonly token: string | null,
    private readonly base = '',
  ) {}

  async call(method: ApiMethod, input: unknown, signal?: AbortSignal): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token) headers['x-miru-token'] = this.token;
    let response: Response;
    try {
      response = await fetch(`${this.base}/api/${method}`, { method: 'POST', headers, body: JSON.stringify(input ?? {}), signal, credentials: 'same-origin' });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(`Cannot reach the Miru server (${(error as Error).message}). Is \`miru serve\` still running?`, method);
    }
    type Envelope = { ok: boolean; result?: unknown; error?: { message?: string } };
    // Results with typed arrays (a map's points) arrive as one binary frame instead of JSON.
    if (response.ok && response.headers.get('content-type') === FRAME_CONTENT_TYPE) return decodeFrame(await response.arrayBuffer());
    const body = (await response.json().catch(() => null)) as Envelope | null;
    if (response.status === 401) {
      throw new ApiError('The server refused the request: the access token is missing or wrong. Open the URL that `miru serve` printed (it carries ?token=).', method, 401);
    }
    if (!body || typeof body !== 'object') throw new ApiError(`${method} failed: HTTP ${response.status} without a JSON answer.`, method, response.status);
    if (!body.ok) throw new ApiError(body.error?.message ?? `${method} failed (HTTP ${response.status}).`, method, response.status);
    return body.result;
  }

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    if (!this.source && typeof EventSource !== 'undefined') {
      const url = `${this.base}/api/events${this.token ? `?token=${encodeURIComponent(this.token)}` : ''}`;
      this.source = new EventSource(url, { withCredentials: true });
      this.source.onmessage = (message: MessageEvent<string>) => {
        let event: MiruEvent;
        try {
          event = JSON.parse(message.data) as MiruEvent;
        } catch {
          return;
        }
        for (const l of this.listeners) l(event);
      };
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.source) {
        this.source.close();
        this.source = null;
      }
    };
  }

  thumbUrl(hash: string): string {
    return `${this.base}/thumb/${encodeURIComponent(hash)}`;
  }

  imageUrl(id: number): string {
    return `${this.base}/image/${id}`;
  }
}

/** Reads `?token=` from the page URL once and strips it from the address bar, keeping every other parameter. */
export function takeTokenFromLocation(): string | null {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token === null) return null;
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', url.pathname + (url.search ? url.search : '') + url.hash);
  return token;
}

export interface MiruClient {
  readonly api: MiruApi;
  readonly transport: Transport;
  /** Like `api[method](input)`, with an AbortSignal for calls whose answers may become stale (filters, pages). */
  call<M extends ApiMethod>(method: M, input: ApiInput<M>, signal?: AbortSignal): Promise<ApiResult<M>>;
  onEvent(listener: EventListener): () => void;
  thumbUrl(hash: string): string;
  imageUrl(id: number): string;
}

export function createClient(transport: Transport): MiruClient {
  const call = <M extends ApiMethod>(method: M, input: ApiInput<M>, signal?: AbortSignal) =>
    transport.call(method, input, signal) as Promise<ApiResult<M>>;
  const api = new Proxy({} as MiruApi, {
    get: (_target, method: string | symbol) => (typeof method === 'string' ? (input: unknown) => transport.call(method as ApiMethod, input) : undefined),
  });
  return {
    api,
    transport,
    call,
    onEvent: (listener) => transport.onEvent(listener),
    thumbUrl: (hash) => transport.thumbUrl(hash),
    imageUrl: (id) => transport.imageUrl(id),
  };
}

/** IPC when the Electron preload is there, else HTTP against the server that served this page. */
export function connect(): MiruClient {
  if (typeof window !== 'undefined' && window.miru && window.miru.transport === 'ipc') return createClient(new IpcTransport(window.miru));
  return createClient(new HttpTransport(takeTokenFromLocation()));
}
