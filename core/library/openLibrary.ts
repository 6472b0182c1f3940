import Database from 'better-sqlite3';
import { mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { migrate, checkSchemaVersion } from './migrations.js';

export type LibraryDb = Database.Database;

export interface OpenLibraryOptions {
  /** Open an existing library only; fail instead of creating a new file. */
  mustExist?: boolean;
  readonly?: boolean;
  /**
   * better-sqlite3's compiled addon to load instead of its own build: the Electron host passes its Electron-ABI
   * build (DESIGN.md, "Threads and processes"); the CLI and tests use the default Node-ABI one.
   */
  nativeBinding?: string;
}

/**
 * Opens (or creates) a library database: WAL so readers never wait for the indexer, foreign keys on,
 * and the schema migrated forward to this Miru's version.
 */
export function openLibrary(dbPath: string, options: OpenLibraryOptions = {}): LibraryDb {
  const resolved = path.resolve(dbPath);
  if ((options.mustExist || options.readonly) && !existsSync(resolved)) {
    throw new Error(`No library at ${resolved}. Create one with \`miru index <folder> --db ${dbPath}\`.`);
  }
  if (!options.readonly) mkdirSync(path.dirname(resolved), { recursive: true });
  let db: LibraryDb;
  try {
    db = new Database(resolved, { readonly: options.readonly ?? false, fileMustExist: options.mustExist ?? false, ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}) });
  } catch (error) {
    throw new Error(`Cannot open library ${resolved}: ${(error as Error).message}`);
  }
  try {
    // A file that is not SQLite fails on this first read, here, rather than deep inside a command; and a library
    // from a newer Miru is refused before anything (even the journal mode) is written to it.
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

/** The folder beside the database that holds thumbnails, keyed by content hash. */
export function cacheDirFor(dbPath: string): string {
  const resolved = path.resolve(dbPath);
  return path.join(path.dirname(resolved), `${path.basename(resolved)}.cache`);
}

/**
 * Refreshes the query planner's statistics after bulk changes (an index run, a ratings import). A plain
 * `PRAGMA optimize` samples a limited number of rows per index, which makes low-cardinality indexes such as
 * images(status) look selective and sends a million-row grid query down a full sort (hundreds of ms instead of
 * one or two). 0x10002 analyses without that limit; about 1.4 s on a million images, and only when needed.
 */
export function refreshPlannerStatistics(db: LibraryDb): void {
  db.pragma('optimize=0x10002');
}
