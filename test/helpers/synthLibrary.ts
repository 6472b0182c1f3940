import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { miruOk } from './runMiru.js';
import { repoRoot, tempDir } from './paths.js';

/** A bundled model (assets/models/<name>.onnx) to add, and what to run with it once added. */
export interface BundledModelStep {
  name: string;
  embed?: boolean;
  score?: boolean;
}

export interface SynthCliOptions {
  images: number;
  raters: number;
  seed: number;
  /** `miru synth --size`; the CLI's default when left out. */
  size?: number;
  /** The folder that holds everything; a fresh temporary one when left out. */
  dir?: string;
  /** Names inside `dir` of the synth output folder and of the library file. */
  dataName?: string;
  dbName?: string;
  /**
   * Which ratings to import: all of ratings.csv (true, the default), none (false), or only the rows a predicate
   * keeps (written to some-ratings.csv in `dir` first, header included).
   */
  ratings?: boolean | ((row: string) => boolean);
  /** Bundled models, each added, then embedded and/or scored on the CPU, in this order. */
  models?: BundledModelStep[];
}

export interface SynthCliLibrary {
  dir: string;
  /** The `miru synth` output folder: images/, ratings.csv, truth.json. */
  synth: string;
  db: string;
  truth: string;
}

/**
 * A synthetic library made with the real CLI, the way a user would: `miru synth`, `index`, `ratings import`,
 * then `models add` + `embed`/`score` for each bundled model asked for. Any step that fails fails the test.
 */
export async function synthCliLibrary(options: SynthCliOptions): Promise<SynthCliLibrary> {
  const dir = options.dir ?? tempDir();
  const synth = path.join(dir, options.dataName ?? 'synth');
  const db = path.join(dir, options.dbName ?? 'lib.db');
  const size = options.size === undefined ? [] : ['--size', String(options.size)];
  await miruOk(['synth', synth, '--images', String(options.images), '--raters', String(options.raters), '--seed', String(options.seed), ...size]);
  await miruOk(['index', path.join(synth, 'images'), '--db', db]);
  const ratings = options.ratings ?? true;
  if (ratings !== false) {
    let csv = path.join(synth, 'ratings.csv');
    if (typeof ratings === 'function') {
      const [header, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
      csv = path.join(dir, 'some-ratings.csv');
      writeFileSync(csv, [header, ...rows.filter(ratings)].join('\n'));
    }
    await miruOk(['ratings', 'import', csv, '--db', db, '--scale', '1:5']);
  }
  for (const model of options.models ?? []) {
    await miruOk(['models', 'add', path.join(repoRoot, 'assets/models', `${model.name}.onnx`), '--db', db]);
    if (model.embed) await miruOk(['embed', '--db', db, '--model', model.name, '--ep', 'cpu']);
    if (model.score) await miruOk(['score', '--db', db, '--model', model.name, '--ep', 'cpu']);
  }
  return { dir, synth, db, truth: path.join(synth, 'truth.json') };
}
