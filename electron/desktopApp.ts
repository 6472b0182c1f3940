/**
 * The desktop host's lifecycle, with Electron and the service injected (main.ts passes the real ones, the tests
 * pass fakes): privileged scheme and forced sandbox before `ready`, single-instance lock, then the library service,
 * the miru:// protocol, the IPC binding and the window; the service is closed when the app quits. Inference never
 * runs here: the service's jobs use core's worker pools, so this thread only routes calls and short queries.
 */
import path from 'node:path';
import type { MiruEvent } from '../core/api/apiTypes.js';
import { cacheDirFor, type LibraryDb } from '../core/library/openLibrary.js';
import { APP_ENTRY_URL } from './appOrigin.js';
import type { BrowserWindowLike, ElectronMainLike } from './electronTypes.js';
import { bindIpc, type IpcBinding } from './ipc.js';
import { handleMiruProtocol, registerMiruScheme } from './protocol.js';
import { createWindowFactory, WindowRegistry, type WindowFactory } from './windowFactory.js';
import { WindowStateStore } from './windowState.js';

/** The part of core/api's MiruService the host needs. */
export interface HostedService {
  readonly db: LibraryDb;
  readonly dbPath: string;
  subscribe(listener: (event: MiruEvent) => void): () => void;
  close(): void | Promise<void>;
}

export type DesktopArgs = { ok: true; dbPath: string } | { ok: false; message: string };

export const DESKTOP_USAGE = 'Usage: miru app --db <library.db>   (or: electron dist/electron/main.js --db <library.db>)';

/**
 * `--db D` or `--db=D` anywhere in argv (Electron and Playwright put their own switches around ours).
 * Relative paths are taken from the working directory.
 */
export function parseDesktopArgs(argv: readonly string[], cwd = process.cwd()): DesktopArgs {
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--db') value = argv[i + 1];
    else if (arg.startsWith('--db=')) value = arg.slice('--db='.length);
  }
  if (value === undefined || value === '' || value.startsWith('--')) return { ok: false, message: `Name the library to open with --db.\n${DESKTOP_USAGE}` };
  return { ok: true, dbPath: path.resolve(cwd, value) };
}

export interface DesktopAppOptions<S extends HostedService> {
  electron: ElectronMainLike;
  argv: readonly string[];
  /** dist/renderer (the built UI) and the compiled preload (dist/electron/preload.cjs). */
  appDir: string;
  preloadPath: string;
  /** Opens the library; throws an Error whose message a person can act on. */
  openService(dbPath: string): S;
  /** core/api's callApi: validates the method name and input, then runs it. */
  callApi(service: S, method: string, input: unknown): Promise<unknown>;
  platform?: NodeJS.Platform;
  log?: (message: string) => void;
  /** Refuse to start, before ready, with this message (e.g. a missing Electron-ABI native build). */
  startupError?: string | null;
}

export interface DesktopApp<S extends HostedService> {
  service: S;
  registry: WindowRegistry;
  ipc: IpcBinding;
  createWindow: WindowFactory;
  mainWindow(): BrowserWindowLike | null;
}

/** Opens a window on the app's entry page. */
async function openMainWindow(createWindow: WindowFactory, log: (message: string) => void): Promise<BrowserWindowLike> {
  const window = createWindow();
  try {
    await window.loadURL(APP_ENTRY_URL);
  } catch (error) {
    log(`could not load ${APP_ENTRY_URL}: ${(error as Error).message}`);
  }
  return window;
}

export async function runDesktopApp<S extends HostedService>(options: DesktopAppOptions<S>): Promise<DesktopApp<S> | null> {
  const { app, protocol, ipcMain, dialog, BrowserWindow } = options.electron;
  const log = options.log ?? ((message: string) => console.warn(`miru: ${message}`));

  // Before `ready`, synchronously: the scheme's privileges and the sandbox for every renderer.
  registerMiruScheme(protocol);
  app.enableSandbox();

  if (!app.requestSingleInstanceLock()) {
    log('Miru is already open; focusing that window instead.');
    app.quit();
    return null;
  }
  // A backstop for any webContents not made by the factory (devtools, a future code path): no popups, no <webview>.
  app.on('web-contents-created', (_event, contents) => {
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });

  const fail = (title: string, message: string, code: number): null => {
    console.error(`miru: ${message}`);
    dialog.showErrorBox(title, message);
    app.exit(code);
    return null;
  };

  const args = parseDesktopArgs(options.argv);
  await app.whenReady();
  if (options.startupError) return fail('Miru cannot start', options.startupError, 1);
  if (!args.ok) return fail('Miru: no library named', args.message, 2);

  let service: S;
  try {
    service = options.openService(args.dbPath);
  } catch (error) {
    return fail('Miru cannot open the library', (error as Error).message, 1);
  }

  handleMiruProtocol(protocol, { appDir: options.appDir, cacheDir: cacheDirFor(service.dbPath), db: service.db });
  const registry = new WindowRegistry();
  const createWindow = createWindowFactory({
    BrowserWindow,
    preloadPath: options.preloadPath,
    registry,
    stateStore: new WindowStateStore(path.join(app.getPath('userData'), 'window-state.json')),
    log,
  });
  const ipc = bindIpc({
    ipcMain,
    registry,
    call: (method, input) => options.callApi(service, method, input),
    subscribe: (listener) => service.subscribe(listener),
    log,
  });

  let main: BrowserWindowLike | null = await openMainWindow(createWindow, log);
  main.on('closed', () => {
    main = null;
  });

  app.on('second-instance', () => {
    if (!main || main.isDestroyed()) return;
    if (main.isMinimized()) main.restore();
    main.focus();
  });
  const platform = options.platform ?? process.platform;
  app.on('window-all-closed', () => {
    // macOS keeps an app running without windows; elsewhere closing the last window quits.
    if (platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (main && !main.isDestroyed()) return;
    void openMainWindow(createWindow, log).then((window) => {
      main = window;
      window.on('closed', () => {
        if (main === window) main = null;
      });
    });
  });

  // Quitting waits for the service to close (worker pools end, the WAL is checkpointed), then quits for real.
  let closing = false;
  let closed = false;
  app.on('will-quit', (event) => {
    if (closed) return;
    event.preventDefault();
    if (closing) return;
    closing = true;
    ipc.dispose();
    Promise.resolve()
      .then(() => service.close())
      .catch((error: unknown) => log(`closing the library failed: ${(error as Error).message}`))
      .finally(() => {
        closed = true;
        app.quit();
      });
  });

  return { service, registry, ipc, createWindow, mainWindow: () => main };
}
