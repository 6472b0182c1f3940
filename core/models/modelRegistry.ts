import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { LibraryDb } from '../library/openLibrary.js';
import { inspectModel, type ModelInfo } from './onnx/inspectModel.js';
import { resolveCard, type ModelCard } from './modelCard.js';
import type { PresetName } from './presets.js';

export interface StoredModel {
  id: number;
  name: string;
  path: string;
  sha256: string;
  card: ModelCard;
  addedAt: string;
}

export interface AddModelOptions {
  name?: string;
  preset?: PresetName;
  /** Path of a card JSON file. Without one (and without a preset), `<model>.card.json` beside the model is used when present. */
  cardFile?: string;
}

/** What re-adding a name under which results were stored did with them. */
export interface ReplacedModel {
  /** The name the earlier version and its results are kept under. */
  keptAs: string;
  runs: number;
  saliencyMaps: number;
}

/**
 * Registers a model in the library: the card is resolved (preset, card file, what the graph says) and checked
 * against the model before anything is stored, so a wrong input name or layout fails here, not mid-run.
 *
 * Re-adding a name with the same file and card only updates its path (the file moved). A different file or card
 * is a different model: where the earlier version has results (runs, saliency maps), it keeps them under
 * `<name>@<sha256 prefix>`, and the name starts afresh, so old scores are never resumed or shown as the new
 * model's.
 */
export async function addModel(db: LibraryDb, modelFile: string, options: AddModelOptions = {}): Promise<{ model: StoredModel; info: ModelInfo; replaced: ReplacedModel | null }> {
  const { path: absolute, bytes, info, card, name } = await resolveModelFile(modelFile, options);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const cardJson = JSON.stringify(card);
  const now = new Date().toISOString();
  let replaced: ReplacedModel | null = null;
  db.transaction(() => {
    const existing = db.prepare<[string], { id: number; sha256: string; card: string }>('SELECT id, sha256, card FROM models WHERE name = ?').get(name);
    if (existing && existing.sha256 === sha256 && existing.card === cardJson) {
      db.prepare('UPDATE models SET path = ? WHERE id = ?').run(absolute, existing.id);
      return;
    }
    if (existing) {
      const count = (table: string) => db.prepare<[number], number>(`SELECT count(*) FROM ${table} WHERE model_id = ?`).pluck().get(existing.id) ?? 0;
      const runs = count('runs');
      const saliencyMaps = count('saliency');
      if (runs + saliencyMaps === 0) {
        db.prepare('UPDATE models SET path = ?, sha256 = ?, card = ? WHERE id = ?').run(absolute, sha256, cardJson, existing.id);
        return;
      }
      const keptAs = unusedName(db, `${name}@${existing.sha256.slice(0, 8)}`);
      db.prepare('UPDATE models SET name = ? WHERE id = ?').run(keptAs, existing.id);
      replaced = { keptAs, runs, saliencyMaps };
    }
    db.prepare('INSERT INTO models (name, path, sha256, card, added_at) VALUES (?, ?, ?, ?, ?)').run(name, absolute, sha256, cardJson, now);
  })();
  return { model: getModel(db, name), info, replaced };
}

/** `base`, or `base-2`, `base-3`... whichever no model has yet. */
function unusedName(db: LibraryDb, base: string): string {
  const taken = db.prepare<[string], number>('SELECT count(*) FROM models WHERE name = ?').pluck();
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    if (!taken.get(candidate)) return candidate;
  }
}

/**
 * A model file with its card resolved and checked (preset, card file or `<model>.card.json`, what the graph
 * says), without a library: what `models add` stores, and what `miru explain <image> --model file.onnx` runs.
 */
export async function resolveModelFile(modelFile: string, options: AddModelOptions = {}): Promise<{ path: string; name: string; bytes: Uint8Array; info: ModelInfo; card: ModelCard; cardFile: string | null }> {
  const absolute = path.resolve(modelFile);
  const bytes = await readModelFile(absolute);
  const info = await inspectModel(bytes, { sourceName: absolute });
  // A card beside the model applies only when neither --card nor --preset says how to feed it.
  const cardFile = options.cardFile ?? (options.preset ? undefined : siblingCard(absolute));
  let cardJson: unknown;
  if (cardFile) {
    try {
      cardJson = JSON.parse(await fs.readFile(cardFile, 'utf8'));
    } catch (error) {
      throw new Error(`Cannot read card ${cardFile}: ${(error as Error).message}`);
    }
  }
  const name = options.name ?? (cardJson as { name?: string } | undefined)?.name ?? path.basename(absolute, path.extname(absolute));
  const card = resolveCard({ model: info, modelName: name, preset: options.preset, card: cardJson, cardSource: cardFile });
  return { path: absolute, name, bytes, info, card, cardFile: cardFile ?? null };
}

export function listModels(db: LibraryDb): StoredModel[] {
  return (db.prepare('SELECT id, name, path, sha256, card, added_at FROM models ORDER BY name').all() as Row[]).map(toModel);
}

export function getModel(db: LibraryDb, name: string): StoredModel {
  const row = db.prepare<[string], Row>('SELECT id, name, path, sha256, card, added_at FROM models WHERE name = ?').get(name);
  if (!row) {
    const names = listModels(db).map((m) => m.name);
    throw new Error(
      `No model named ${JSON.stringify(name)} in this library${names.length ? ` (models: ${names.join(', ')})` : ''}. ` +
        'Add it with `miru models add <model.onnx> --db D [--name N]`.',
    );
  }
  return toModel(row);
}

/** Reads a stored model's file and refuses it if it changed since `models add` checked its card. */
export async function readVerifiedModel(model: StoredModel): Promise<Uint8Array> {
  const again = `\`miru models add <file> --db <library> --name ${model.name}\` (with the --card or --preset it was added with)`;
  let bytes: Uint8Array;
  try {
    bytes = await readModelFile(model.path);
  } catch (error) {
    throw new Error(`Model "${model.name}": ${(error as Error).message}. If the file moved, add it again from its new place with ${again}.`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== model.sha256) {
    throw new Error(
      `The model file ${model.path} changed since it was added as "${model.name}". Add it again with ${again} to re-check its card; ` +
        `the results of the earlier version are then kept under "${model.name}@${model.sha256.slice(0, 8)}".`,
    );
  }
  return bytes;
}

async function readModelFile(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`Cannot read model ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

function siblingCard(modelFile: string): string | undefined {
  const candidate = path.join(path.dirname(modelFile), `${path.basename(modelFile, path.extname(modelFile))}.card.json`);
  return existsSync(candidate) ? candidate : undefined;
}

interface Row {
  id: number;
  name: string;
  path: string;
  sha256: string;
  card: string;
  added_at: string;
}

function toModel(row: Row): StoredModel {
  return { id: row.id, name: row.name, path: row.path, sha256: row.sha256, card: JSON.parse(row.card) as ModelCard, addedAt: row.added_at };
}
