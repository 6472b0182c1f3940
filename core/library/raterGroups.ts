// Rater groups (schema v5's rater_groups): a name per rater, set by the user, so analyses such as
// `miru attribute --rater-group G` can ask what one kind of rater values. Read from a CSV (rater,group),
// a JSON object {"rater": "group"}, a JSON array [{"rater", "group"}], or a synth dataset's truth.json
// (its raters' preference groups; spammers have none).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { LibraryDb } from './openLibrary.js';

export interface RaterGroupEntry {
  /** Where the entry came from, for error messages: "line 4" of a CSV, "entry 3" or "\"alice\"" of a JSON file. */
  row: string;
  rater: string;
  /** null: the rater belongs to no group (its group, if any, is removed). */
  group: string | null;
}

export interface RaterGroupsSummary {
  /** Raters whose group was set or changed. */
  set: number;
  /** Raters whose group was removed (a null group, e.g. a synth spammer). */
  cleared: number;
  unchanged: number;
  groups: RaterGroupListing['groups'];
}

export interface RaterGroupListing {
  groups: { group: string; raters: string[] }[];
  /** Raters with ratings or a name in the library but no group. */
  ungrouped: string[];
}

const RATER_COLUMNS = ['rater', 'name', 'user', 'annotator', 'worker', 'rater_id'];
const GROUP_COLUMNS = ['group', 'group_name', 'cluster', 'preference'];

/** Reads a rater -> group mapping file; every malformed entry is an error naming its row. */
export async function readRaterGroupFile(file: string): Promise<RaterGroupEntry[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read rater groups file ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  const ext = path.extname(file).toLowerCase();
  const entries = ext === '.json' ? parseJsonGroups(text, file) : ext === '.csv' || ext === '.tsv' || ext === '.txt' ? parseCsvGroups(text, file) : null;
  if (!entries) throw new Error(`${file}: expected a .csv (columns rater,group) or a .json file (an object {"rater": "group"}, an array of {"rater", "group"}, or a synth truth.json).`);
  if (entries.length === 0) throw new Error(`${file} holds no rater groups. Nothing was changed.`);
  const seen = new Map<string, RaterGroupEntry>();
  const problems: string[] = [];
  for (const entry of entries) {
    if (!entry.rater) problems.push(`${entry.row}: the rater name is empty`);
    if (entry.group !== null && !entry.group) problems.push(`${entry.row}: the group of ${JSON.stringify(entry.rater)} is empty (leave the rater out instead)`);
    const earlier = seen.get(entry.rater);
    if (earlier && earlier.group !== entry.group) problems.push(`${entry.row}: ${JSON.stringify(entry.rater)} is already in group ${JSON.stringify(earlier.group)} (${earlier.row})`);
    seen.set(entry.rater, entry);
  }
  if (problems.length) throw new Error(`${file}: ${listProblems(problems)} Nothing was changed.`);
  return entries;
}

function parseCsvGroups(text: string, file: string): RaterGroupEntry[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, trim: true, skip_empty_lines: true, info: true, delimiter: file.toLowerCase().endsWith('.tsv') ? '\t' : ',' }) as unknown as typeof records;
  } catch (error) {
    throw new Error(`${file}: not readable as CSV: ${(error as Error).message}`);
  }
  if (records.length === 0) return [];
  const header = records[0]!.record.map((h) => h.toLowerCase());
  const raterCol = header.findIndex((h) => RATER_COLUMNS.includes(h));
  const groupCol = header.findIndex((h) => GROUP_COLUMNS.includes(h));
  if (raterCol < 0 || groupCol < 0) {
    throw new Error(`${file}: the header line must name a rater column (${RATER_COLUMNS.join(', ')}) and a group column (${GROUP_COLUMNS.join(', ')}); found ${JSON.stringify(records[0]!.record.join(','))}.`);
  }
  return records.slice(1).map(({ record, info }) => ({ row: `line ${info.lines}`, rater: record[raterCol] ?? '', group: record[groupCol] ?? '' }));
}

function parseJsonGroups(text: string, file: string): RaterGroupEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  const asGroup = (value: unknown, row: string): string | null => {
    if (value === null) return null;
    if (typeof value !== 'string') throw new Error(`${file}: ${row}: the group must be a string or null, got ${JSON.stringify(value)}.`);
    return value.trim();
  };
  // A synth dataset's truth.json: raters [{name, group}], group null for spammers.
  if (typeof data === 'object' && data !== null && !Array.isArray(data) && Array.isArray((data as { raters?: unknown }).raters) && 'weights' in data) {
    return (data as unknown as { raters: unknown[] }).raters.map((r, i) => {
      const rater = r as { name?: unknown; group?: unknown };
      return { row: `raters[${i}]`, rater: String(rater.name ?? '').trim(), group: asGroup(rater.group ?? null, `raters[${i}]`) };
    });
  }
  if (Array.isArray(data)) {
    return data.map((item, i) => {
      const row = `entry ${i + 1}`;
      if (typeof item !== 'object' || item === null) throw new Error(`${file}: ${row}: expected an object {"rater": ..., "group": ...}.`);
      const o = item as Record<string, unknown>;
      const rater = RATER_COLUMNS.map((k) => o[k]).find((v) => v !== undefined);
      const group = GROUP_COLUMNS.map((k) => o[k]).find((v) => v !== undefined);
      if (rater === undefined || group === undefined) throw new Error(`${file}: ${row}: expected an object with "rater" and "group".`);
      return { row, rater: String(rater).trim(), group: asGroup(group, row) };
    });
  }
  if (typeof data === 'object' && data !== null) {
    return Object.entries(data as Record<string, unknown>).map(([rater, group]) => ({ row: JSON.stringify(rater), rater: rater.trim(), group: asGroup(group, JSON.stringify(rater)) }));
  }
  throw new Error(`${file}: expected an object {"rater": "group"}, an array of {"rater", "group"}, or a synth truth.json.`);
}

function listProblems(problems: string[]): string {
  const shown = problems.slice(0, 10).join('; ');
  return `${shown}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}.`;
}

/**
 * Stores the groups in one transaction. Every rater must already be in the library (they arrive with their
 * ratings); if any is unknown, nothing is changed and the error names each unknown rater's row.
 */
export function setRaterGroups(db: LibraryDb, entries: RaterGroupEntry[]): RaterGroupsSummary {
  const raterId = db.prepare<[string], number>('SELECT id FROM raters WHERE name = ?').pluck();
  const ids = entries.map((e) => raterId.get(e.rater));
  const unknown = entries.filter((_, i) => ids[i] === undefined).map((e) => `${e.row}: unknown rater ${JSON.stringify(e.rater)}`);
  if (unknown.length) {
    const known = db.prepare<[], number>('SELECT count(*) FROM raters').pluck().get() ?? 0;
    throw new Error(
      `${listProblems(unknown)} The library knows ${known} raters (they are added by \`miru ratings import\`; \`miru raters groups --list\` shows them). Nothing was changed.`,
    );
  }
  const current = db.prepare<[number], string>('SELECT group_name FROM rater_groups WHERE rater_id = ?').pluck();
  const upsert = db.prepare('INSERT INTO rater_groups (rater_id, group_name) VALUES (?, ?) ON CONFLICT (rater_id) DO UPDATE SET group_name = excluded.group_name');
  const remove = db.prepare('DELETE FROM rater_groups WHERE rater_id = ?');
  const summary = { set: 0, cleared: 0, unchanged: 0 };
  db.transaction(() => {
    entries.forEach((entry, i) => {
      const id = ids[i]!;
      const before = current.get(id) ?? null;
      if (before === entry.group) summary.unchanged++;
      else if (entry.group === null) {
        remove.run(id);
        summary.cleared++;
      } else {
        upsert.run(id, entry.group);
        summary.set++;
      }
    });
  })();
  return { ...summary, groups: listRaterGroups(db).groups };
}

export function clearRaterGroups(db: LibraryDb): number {
  return db.prepare('DELETE FROM rater_groups').run().changes;
}

export function listRaterGroups(db: LibraryDb): RaterGroupListing {
  const rows = db
    .prepare<[], { name: string; group_name: string | null }>(
      'SELECT raters.name, rater_groups.group_name FROM raters LEFT JOIN rater_groups ON rater_groups.rater_id = raters.id ORDER BY rater_groups.group_name, raters.name',
    )
    .all();
  const groups = new Map<string, string[]>();
  const ungrouped: string[] = [];
  for (const r of rows) {
    if (r.group_name === null) ungrouped.push(r.name);
    else groups.set(r.group_name, [...(groups.get(r.group_name) ?? []), r.name]);
  }
  return { groups: [...groups].map(([group, raters]) => ({ group, raters })), ungrouped };
}

/** The rater ids of a group; an unknown group is an error listing the groups there are. */
export function raterIdsOfGroup(db: LibraryDb, group: string): number[] {
  const ids = db.prepare<[string], number>('SELECT rater_id FROM rater_groups WHERE group_name = ? ORDER BY rater_id').pluck().all(group);
  if (ids.length === 0) {
    const names = listRaterGroups(db).groups.map((g) => g.group);
    throw new Error(
      names.length
        ? `Unknown rater group ${JSON.stringify(group)}. Groups: ${names.join(', ')}.`
        : `Unknown rater group ${JSON.stringify(group)}: this library has no rater groups yet. Define them with \`miru raters groups --db D --set groups.csv\`.`,
    );
  }
  return ids;
}
