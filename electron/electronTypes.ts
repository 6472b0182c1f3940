/**
 * The small structural slice of Electron's API that the desktop host uses. The `electron` npm package (which ships
 * electron.d.ts) is an optional dependency that is often absent (its binary download needs the internet), so the
 * host must compile without it: main.ts imports the real module at runtime and hands it over typed as these
 * interfaces, and the unit tests hand over fakes. Only what electron/ calls is declared here; names and shapes
 * follow Electron's own (docs/api/*.md) so the real objects satisfy them.
 */

export interface WebPreferencesLike {
  preload?: string;
  contextIsolation?: boolean;
  sandbox?: boolean;
  nodeIntegration?: boolean;
  nodeIntegrationInWorker?: boolean;
  nodeIntegrationInSubFrames?: boolean;
  webviewTag?: boolean;
  webSecurity?: boolean;
  allowRunningInsecureContent?: boolean;
  experimentalFeatures?: boolean;
  enableBlinkFeatures?: string;
  navigateOnDragDrop?: boolean;
  spellcheck?: boolean;
  safeDialogs?: boolean;
  devTools?: boolean;
  partition?: string;
}

export interface BrowserWindowOptionsLike {
  width?: number;
  height?: number;
  minWidth?: number;
  minHeight?: number;
  x?: number;
  y?: number;
  title?: string;
  show?: boolean;
  backgroundColor?: string;
  autoHideMenuBar?: boolean;
  webPreferences?: WebPreferencesLike;
}

/** The cancellable navigation events (will-navigate, will-redirect, will-frame-navigate): Electron ≥ 25 puts the target on `event.url` and still passes it as the second argument. */
export interface NavigationEventLike {
  url?: string;
  isMainFrame?: boolean;
  preventDefault(): void;
}

export interface PreventableEventLike {
  preventDefault(): void;
}

export type PermissionRequestHandler = (webContents: unknown, permission: string, callback: (granted: boolean) => void, details?: unknown) => void;
export type PermissionCheckHandler = (webContents: unknown, permission: string, requestingOrigin?: string, details?: unknown) => boolean;

export interface SessionLike {
  setPermissionRequestHandler(handler: PermissionRequestHandler | null): void;
  setPermissionCheckHandler(handler: PermissionCheckHandler | null): void;
  /** WebHID/WebSerial/WebUSB device access (Electron ≥ 16). */
  setDevicePermissionHandler?(handler: ((details: unknown) => boolean) | null): void;
}

export interface WebFrameMainLike {
  url: string;
  /** null for a top-level frame. */
  parent: WebFrameMainLike | null;
}

export interface WindowOpenDetailsLike {
  url: string;
}

export type WindowOpenResponse = { action: 'deny' } | { action: 'allow' };

export interface WebContentsLike {
  readonly id: number;
  readonly session: SessionLike;
  on(event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', listener: (event: NavigationEventLike, url?: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: PreventableEventLike) => void): unknown;
  on(event: 'render-process-gone', listener: (event: unknown, details: { reason: string; exitCode?: number }) => void): unknown;
  setWindowOpenHandler(handler: (details: WindowOpenDetailsLike) => WindowOpenResponse): void;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  getURL(): string;
}

export interface RectangleLike {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface BrowserWindowLike {
  readonly webContents: WebContentsLike;
  loadURL(url: string): Promise<void>;
  once(event: 'ready-to-show', listener: () => void): unknown;
  on(event: 'close' | 'closed', listener: () => void): unknown;
  show(): void;
  focus(): void;
  restore(): void;
  maximize(): void;
  isMinimized(): boolean;
  isMaximized(): boolean;
  isDestroyed(): boolean;
  getBounds(): RectangleLike;
}

export interface BrowserWindowConstructorLike {
  new (options: BrowserWindowOptionsLike): BrowserWindowLike;
}

export interface SchemePrivilegesLike {
  standard?: boolean;
  secure?: boolean;
  bypassCSP?: boolean;
  allowServiceWorkers?: boolean;
  supportFetchAPI?: boolean;
  corsEnabled?: boolean;
  stream?: boolean;
  codeCache?: boolean;
}

export interface CustomSchemeLike {
  scheme: string;
  privileges: SchemePrivilegesLike;
}

/** protocol.handle (Electron ≥ 25) takes a fetch-style handler: a WHATWG Request in, a Response out. */
export type ProtocolHandler = (request: Request) => Response | Promise<Response>;

export interface ProtocolLike {
  registerSchemesAsPrivileged(schemes: CustomSchemeLike[]): void;
  handle(scheme: string, handler: ProtocolHandler): void;
}

export interface IpcMainInvokeEventLike {
  /** The webContents that sent the message. */
  readonly sender: WebContentsLike;
  /** The frame that sent it; null when that frame navigated away or was destroyed before the message arrived. */
  readonly senderFrame: WebFrameMainLike | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEventLike, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface AppLike {
  whenReady(): Promise<unknown>;
  isReady(): boolean;
  requestSingleInstanceLock(): boolean;
  /** Forces the sandbox on every renderer, including any a future code path might create without the factory. */
  enableSandbox(): void;
  getPath(name: 'userData'): string;
  on(event: 'second-instance' | 'window-all-closed' | 'activate', listener: () => void): unknown;
  on(event: 'will-quit', listener: (event: PreventableEventLike) => void): unknown;
  on(event: 'web-contents-created', listener: (event: unknown, contents: WebContentsLike) => void): unknown;
  quit(): void;
  exit(code?: number): void;
}

export interface DialogLike {
  showErrorBox(title: string, content: string): void;
}

/** The main-process module as main.ts receives it from `import('electron')`. */
export interface ElectronMainLike {
  app: AppLike;
  BrowserWindow: BrowserWindowConstructorLike;
  protocol: ProtocolLike;
  ipcMain: IpcMainLike;
  dialog: DialogLike;
}

/** What a sandboxed preload gets from `require('electron')` (the two objects it uses). */
export interface ContextBridgeLike {
  exposeInMainWorld(apiKey: string, api: unknown): void;
}

export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export interface ElectronPreloadLike {
  contextBridge: ContextBridgeLike;
  ipcRenderer: IpcRendererLike;
}
