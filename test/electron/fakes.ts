// Fakes for the Electron main-process objects electron/ uses (electronTypes.ts). They record what the host does to
// them and let a test fire the events Electron would fire.
import { EventEmitter } from 'node:events';
import type {
  AppLike,
  BrowserWindowLike,
  BrowserWindowOptionsLike,
  CustomSchemeLike,
  ElectronMainLike,
  IpcMainInvokeEventLike,
  IpcMainLike,
  NavigationEventLike,
  PermissionCheckHandler,
  PermissionRequestHandler,
  ProtocolHandler,
  ProtocolLike,
  SessionLike,
  WebContentsLike,
  WebFrameMainLike,
  WindowOpenDetailsLike,
  WindowOpenResponse,
} from '../../electron/electronTypes.js';

export class FakeSession implements SessionLike {
  requestHandler: PermissionRequestHandler | null = null;
  checkHandler: PermissionCheckHandler | null = null;
  deviceHandler: ((details: unknown) => boolean) | null = null;
  setPermissionRequestHandler(handler: PermissionRequestHandler | null): void {
    this.requestHandler = handler;
  }
  setPermissionCheckHandler(handler: PermissionCheckHandler | null): void {
    this.checkHandler = handler;
  }
  setDevicePermissionHandler(handler: ((details: unknown) => boolean) | null): void {
    this.deviceHandler = handler;
  }
}

let nextId = 1;

export class FakeWebContents extends EventEmitter implements WebContentsLike {
  readonly id: number;
  url = '';
  destroyed = false;
  openHandler: ((details: WindowOpenDetailsLike) => WindowOpenResponse) | null = null;
  sent: { channel: string; args: unknown[] }[] = [];
  constructor(
    readonly session: FakeSession = new FakeSession(),
    id?: number,
  ) {
    super();
    this.id = id ?? nextId++;
  }
  setWindowOpenHandler(handler: (details: WindowOpenDetailsLike) => WindowOpenResponse): void {
    this.openHandler = handler;
  }
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  getURL(): string {
    return this.url;
  }
  /** Fires a cancellable navigation event the way Electron ≥ 25 does; returns whether it was prevented. */
  navigate(kind: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', url: string): boolean {
    let prevented = false;
    const event: NavigationEventLike = { url, preventDefault: () => (prevented = true) };
    this.emit(kind, event, url);
    return prevented;
  }
}

export class FakeBrowserWindow extends EventEmitter implements BrowserWindowLike {
  static created: FakeBrowserWindow[] = [];
  readonly webContents: FakeWebContents;
  loaded: string[] = [];
  shown = false;
  focused = false;
  maximized = false;
  minimized = false;
  destroyed = false;
  bounds = { x: 0, y: 0, width: 0, height: 0 };
  constructor(readonly options: BrowserWindowOptionsLike) {
    super();
    this.webContents = new FakeWebContents();
    this.bounds = { x: 0, y: 0, width: options.width ?? 800, height: options.height ?? 600 };
    FakeBrowserWindow.created.push(this);
  }
  async loadURL(url: string): Promise<void> {
    this.loaded.push(url);
    this.webContents.url = url;
  }
  show(): void {
    this.shown = true;
  }
  focus(): void {
    this.focused = true;
  }
  restore(): void {
    this.minimized = false;
  }
  maximize(): void {
    this.maximized = true;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  isMaximized(): boolean {
    return this.maximized;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  getBounds() {
    return { ...this.bounds };
  }
  /** What Electron does when the user closes the window. */
  close(): void {
    this.emit('close');
    this.destroyed = true;
    this.webContents.destroyed = true;
    this.emit('closed');
  }
}

export class FakeIpcMain implements IpcMainLike {
  handlers = new Map<string, (event: IpcMainInvokeEventLike, ...args: unknown[]) => unknown>();
  handle(channel: string, listener: (event: IpcMainInvokeEventLike, ...args: unknown[]) => unknown): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** Simulates ipcRenderer.invoke from `sender` in `frame`. */
  async invoke(channel: string, sender: WebContentsLike, frame: WebFrameMainLike | null, ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    return handler({ sender, senderFrame: frame }, ...args);
  }
}

export class FakeProtocol implements ProtocolLike {
  privileged: CustomSchemeLike[][] = [];
  handlers = new Map<string, ProtocolHandler>();
  constructor(private readonly order: string[] = []) {}
  registerSchemesAsPrivileged(schemes: CustomSchemeLike[]): void {
    this.order.push('registerSchemesAsPrivileged');
    this.privileged.push(schemes);
  }
  handle(scheme: string, handler: ProtocolHandler): void {
    this.order.push(`handle:${scheme}`);
    this.handlers.set(scheme, handler);
  }
}

export class FakeApp extends EventEmitter implements AppLike {
  ready = false;
  lock = true;
  sandboxed = false;
  quitCalls = 0;
  exitCode: number | null = null;
  private resolveReady!: () => void;
  private readonly readyPromise = new Promise<void>((resolve) => (this.resolveReady = resolve));
  constructor(
    readonly userData: string,
    private readonly order: string[] = [],
  ) {
    super();
  }
  whenReady(): Promise<unknown> {
    return this.readyPromise;
  }
  isReady(): boolean {
    return this.ready;
  }
  fireReady(): void {
    this.order.push('ready');
    this.ready = true;
    this.resolveReady();
  }
  requestSingleInstanceLock(): boolean {
    this.order.push('requestSingleInstanceLock');
    return this.lock;
  }
  enableSandbox(): void {
    this.order.push('enableSandbox');
    this.sandboxed = true;
  }
  getPath(): string {
    return this.userData;
  }
  quit(): void {
    this.quitCalls++;
    // Electron emits will-quit; a listener may prevent it (the host does, to close the service first).
    let prevented = false;
    this.emit('will-quit', { preventDefault: () => (prevented = true) });
    if (!prevented) this.emit('quit');
  }
  exit(code = 0): void {
    this.exitCode = code;
  }
}

export class FakeDialog {
  errors: { title: string; content: string }[] = [];
  showErrorBox(title: string, content: string): void {
    this.errors.push({ title, content });
  }
}

export function fakeElectron(userData: string): { electron: ElectronMainLike; app: FakeApp; protocol: FakeProtocol; ipcMain: FakeIpcMain; dialog: FakeDialog; order: string[] } {
  const order: string[] = [];
  const app = new FakeApp(userData, order);
  const protocol = new FakeProtocol(order);
  const ipcMain = new FakeIpcMain();
  const dialog = new FakeDialog();
  FakeBrowserWindow.created = [];
  return { electron: { app, protocol, ipcMain, dialog, BrowserWindow: FakeBrowserWindow }, app, protocol, ipcMain, dialog, order };
}

export const appFrame = (url = 'miru://app/index.html'): WebFrameMainLike => ({ url, parent: null });
