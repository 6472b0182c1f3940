import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { openLibrary, type LibraryDb } from '../library/openLibrary.js';
import { checkSchemaVersion, migrate } from '../library/migrations.js';

export interface ServiceDbOptions {
  readonly?: boolean;
  /**
   * better-sqlite3's compiled addon to load instead of its own: the Electron host passes its Electron-ABI build
   * (DESIGN.md, "Threads and processes"). Without it this is plain openLibrary.
   */
  nativeBinding?: string;
}

/**
 * Opens a library for a host: openLibrary, or, when the host runs better-sqlite3 from another native build,
 * the same steps (schema check, WAL, pragmas, migrations) with that build. Writable opens create the library
 * when it is missing; read-only ones (the query worker's) need it to exist.
 */
export function openServiceDb(dbPath: string, options: ServiceDbOptions = {}): LibraryDb {
  if (!options.nativeBinding) return openLibrary(dbPath, { readonly: options.readonly });
  const resolved = path.resolve(dbPath);
  if (options.readonly && !existsSync(resolved)) throw new Error(`No library at ${resolved}.`);
  if (!options.readonly) mkdirSync(path.dirname(resolved), { recursive: true });
  let db: LibraryDb;
  try {
    db = new Database(resolved, { readonly: options.readonly ?? false, nativeBinding: options.nativeBinding });
  } catch (error) {
    throw new Error(`Cannot open library ${resolved}: ${(error as Error).message}`);
  }
  try {
    checkSchemaVersion(db.pragma('user_version', { simple: true }) as number);
    if (!options.readonly) db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    if (!options.readonly) migrate(db);
  } catch (error) {
    db.close();
    const message = (error as Error).message;
    if (/file is not a database|file is encrypted/i.test(message)) {
      throw new Error(`${resolved} is not a Miru library (not an SQLite database). Point --db at a library file or a new path.`);
    }
    throw error;
  }
  return db;
}
