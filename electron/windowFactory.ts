/**
 * The one place BrowserWindows are made (VS Code's pattern: its window factory forces `sandbox: true`). Every
 * item of Electron's security checklist that is a window setting is applied here and cannot be overridden: callers
 * pass only size and title (typed, and filtered again at runtime against a list, so a cast cannot smuggle in
 * `webPreferences`). Each window's webContents is hardened as it is made: navigation only within the app origin,
 * no new windows, no <webview>, and its session denies every permission request and check.
 */
import path from 'node:path';
import { APP_ORIGIN, isAppUrl } from './appOrigin.js';
import type {
  BrowserWindowConstructorLike,
  BrowserWindowLike,
  BrowserWindowOptionsLike,
  NavigationEventLike,
  SessionLike,
  WebContentsLike,
  WebPreferencesLike,
} from './electronTypes.js';
import { MIN_WINDOW_SIZE, type WindowState, type WindowStateStore } from './windowState.js';

/** The dark background painted before the UI's first frame (matches the renderer's theme): no white flash. */
export const WINDOW_BACKGROUND = '#15171c';

/** What a caller may choose. Everything else (webPreferences, background, ...) is the factory's. */
export interface CallerWindowOptions {
  width?: number;
  height?: number;
  title?: string;
  show?: boolean;
}
const CALLER_KEYS = ['width', 'height', 'title', 'show'] as const satisfies readonly (keyof CallerWindowOptions)[];

/**
 * The checklist's webPreferences, fixed. `sandbox` keeps the renderer in Chromium's OS sandbox and limits the
 * preload to a small `require`; `contextIsolation` keeps the preload's objects out of the page's world;
 * no Node in the page, its workers or subframes; no <webview>; same-origin policy on; no http content in the
 * https-like miru:// page; no experimental Blink features; dropping a file does not navigate to file://; no
 * spellchecker (it would fetch dictionaries from the internet).
 */
export function secureWebPreferences(preloadPath: string, devTools = true): WebPreferencesLike {
  if (!path.isAbsolute(preloadPath)) throw new Error(`The preload path must be absolute (got ${preloadPath}).`);
  return Object.freeze({
    preload: preloadPath,
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
    safeDialogs: true,
    devTools,
  });
}

function finiteSize(value: unknown, min: number): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(min, Math.round(value)) : undefined;
}

/** The options a BrowserWindow is constructed with: caller's size/title (whitelisted), then the fixed settings on top. */
export function buildWindowOptions(caller: CallerWindowOptions, preloadPath: string, state?: WindowState, devTools = true): BrowserWindowOptionsLike {
  const picked: Record<string, unknown> = {};
  const input = (caller ?? {}) as Record<string, unknown>;
  for (const key of CALLER_KEYS) if (Object.prototype.hasOwnProperty.call(input, key)) picked[key] = input[key];
  return {
    width: finiteSize(picked.width, MIN_WINDOW_SIZE.width) ?? state?.width,
    height: finiteSize(picked.height, MIN_WINDOW_SIZE.height) ?? state?.height,
    minWidth: MIN_WINDOW_SIZE.width,
    minHeight: MIN_WINDOW_SIZE.height,
    title: typeof picked.title === 'string' ? picked.title : 'Miru',
    // Shown on ready-to-show unless the caller wants it hidden (tests): no flash of an empty window.
    show: false,
    backgroundColor: WINDOW_BACKGROUND,
    autoHideMenuBar: true,
    webPreferences: secureWebPreferences(preloadPath, devTools),
  };
}

/** The windows this host made, by webContents: IPC answers only these, and events go only to these. */
export class WindowRegistry {
  private readonly contents = new Map<number, WebContentsLike>();

  add(webContents: WebContentsLike): void {
    this.contents.set(webContents.id, webContents);
  }

  delete(webContents: WebContentsLike): void {
    if (this.contents.get(webContents.id) === webContents) this.contents.delete(webContents.id);
  }

  /** Identity, not just id: a webContents object we did not make never matches, even with a recycled id. */
  has(webContents: unknown): boolean {
    if (webContents === null || typeof webContents !== 'object') return false;
    const id = (webContents as { id?: unknown }).id;
    return typeof id === 'number' && this.contents.get(id) === webContents;
  }

  /** Live webContents currently showing the app origin. */
  live(): WebContentsLike[] {
    return [...this.contents.values()].filter((wc) => !wc.isDestroyed() && isAppUrl(wc.getURL()));
  }

  get size(): number {
    return this.contents.size;
  }
}

export type SecurityLog = (message: string) => void;

const denyAllPermissions = (_webContents: unknown, _permission: string, callback: (granted: boolean) => void): void => callback(false);
const denyAllChecks = (): boolean => false;
const hardenedSessions = new WeakSet<SessionLike>();

/** Camera, microphone, notifications, geolocation, clipboard-read, HID/USB/serial, ...: the UI needs none of them. */
export function hardenSession(session: SessionLike): void {
  if (hardenedSessions.has(session)) return;
  session.setPermissionRequestHandler(denyAllPermissions);
  session.setPermissionCheckHandler(denyAllChecks);
  session.setDevicePermissionHandler?.(() => false);
  hardenedSessions.add(session);
}

/** Navigation only within miru://app; no new windows (window.open, target=_blank, middle click); no <webview>. */
export function hardenWebContents(webContents: WebContentsLike, log: SecurityLog = () => {}): void {
  const guard = (kind: string) => (event: NavigationEventLike, url?: string) => {
    const target = event.url ?? url;
    if (!isAppUrl(target)) {
      event.preventDefault();
      log(`blocked ${kind} to ${String(target)}`);
    }
  };
  webContents.on('will-navigate', guard('navigation'));
  webContents.on('will-redirect', guard('redirect'));
  // Subframes navigate without will-navigate; the CSP forbids frames anyway (frame-src 'none').
  webContents.on('will-frame-navigate', guard('frame navigation'));
  webContents.on('will-attach-webview', (event) => {
    event.preventDefault();
    log('blocked a <webview>');
  });
  webContents.setWindowOpenHandler((details) => {
    log(`blocked a new window for ${details.url}`);
    return { action: 'deny' };
  });
  hardenSession(webContents.session);
}

export interface WindowFactoryOptions {
  BrowserWindow: BrowserWindowConstructorLike;
  /** Absolute path of the compiled, sandboxed preload (dist/electron/preload.cjs). */
  preloadPath: string;
  registry: WindowRegistry;
  stateStore?: WindowStateStore;
  devTools?: boolean;
  log?: SecurityLog;
}

export type WindowFactory = (caller?: CallerWindowOptions) => BrowserWindowLike;

export function createWindowFactory(options: WindowFactoryOptions): WindowFactory {
  const log = options.log ?? (() => {});
  return (caller: CallerWindowOptions = {}) => {
    const state = options.stateStore?.load();
    const window = new options.BrowserWindow(buildWindowOptions(caller, options.preloadPath, state, options.devTools ?? true));
    const webContents = window.webContents;
    hardenWebContents(webContents, log);
    options.registry.add(webContents);
    if (state?.maximized) window.maximize();
    if (caller.show !== false) window.once('ready-to-show', () => window.show());
    window.on('close', () => {
      if (!options.stateStore || window.isDestroyed()) return;
      const bounds = window.getBounds();
      // A maximized window's bounds are the screen's: keep the last normal size by saving only the flag.
      const previous = options.stateStore.load();
      options.stateStore.save(window.isMaximized() ? { ...previous, maximized: true } : { width: bounds.width, height: bounds.height, maximized: false });
    });
    // After 'closed' the webContents is gone; the captured reference is all the registry needs to drop it.
    window.on('closed', () => options.registry.delete(webContents));
    return window;
  };
}

export { APP_ORIGIN };
