import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The window size remembered between launches (position is left to the window manager: monitors come and go). */
export interface WindowState {
  width: number;
  height: number;
  maximized: boolean;
}

export const DEFAULT_WINDOW_STATE: Readonly<WindowState> = Object.freeze({ width: 1440, height: 900, maximized: false });
export const MIN_WINDOW_SIZE = Object.freeze({ width: 800, height: 560 });
const MAX_SIDE = 16384;

function side(value: unknown, min: number, fallback: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.round(Math.min(MAX_SIDE, Math.max(min, value)));
}

/** Turns whatever the settings file holds into a usable state: numbers clamped to sane bounds, junk replaced by defaults. */
export function sanitizeWindowState(raw: unknown): WindowState {
  const value = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  return {
    width: side(value.width, MIN_WINDOW_SIZE.width, DEFAULT_WINDOW_STATE.width),
    height: side(value.height, MIN_WINDOW_SIZE.height, DEFAULT_WINDOW_STATE.height),
    maximized: value.maximized === true,
  };
}

/** A JSON file under the app's userData folder. Reading never throws (a missing or corrupt file gives the defaults). */
export class WindowStateStore {
  constructor(readonly file: string) {}

  load(): WindowState {
    try {
      return sanitizeWindowState(JSON.parse(readFileSync(this.file, 'utf8')));
    } catch {
      return { ...DEFAULT_WINDOW_STATE };
    }
  }

  save(state: WindowState): void {
    const clean = sanitizeWindowState(state);
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      // Write-then-rename, so a crash mid-write leaves the previous state rather than half a file.
      const temp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temp, `${JSON.stringify(clean)}\n`);
      renameSync(temp, this.file);
    } catch {
      // Losing the window size is not worth interrupting a quit for.
    }
  }
}
