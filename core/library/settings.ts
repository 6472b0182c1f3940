import type { LibraryDb } from './openLibrary.js';

/** Small per-library facts that outlive one command, such as the rating scale. */
export function getSetting(db: LibraryDb, key: string): string | undefined {
  const row = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?').get(key);
  return row?.value;
}

export function setSetting(db: LibraryDb, key: string, value: string): void {
  db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}
