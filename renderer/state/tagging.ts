/**
 * Hand-tagging: tags bound to keys 1-9 (kept in localStorage, so they survive restarts of either host), and an
 * undo/redo history built from what tagImages reports as actually changed: undoing "add outlier to 40 images"
 * removes it from exactly the images that did not already have it.
 */
import type { TagResult } from '../../core/api/apiTypes.js';
import type { MiruClient } from '../api/client.js';

export type TagKeys = Record<string, string>;

const STORAGE_KEY = 'miru.tagKeys';
export const DEFAULT_TAG_KEYS: TagKeys = { '1': 'outlier', '2': 'exclude', '3': 'keep' };

export function loadTagKeys(): TagKeys {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    if (!raw) return { ...DEFAULT_TAG_KEYS };
    const parsed = JSON.parse(raw) as unknown;
    if (!parsed || typeof parsed !== 'object') return { ...DEFAULT_TAG_KEYS };
    const keys: TagKeys = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (/^[1-9]$/.test(k) && typeof v === 'string' && v.trim()) keys[k] = v.trim();
    return keys;
  } catch {
    return { ...DEFAULT_TAG_KEYS };
  }
}

export function saveTagKeys(keys: TagKeys): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(keys));
  } catch {
    // Storage may be disabled (private window): the bindings then last for this session only.
  }
}

export interface TagChange {
  tag: string;
  add: boolean;
  /** The images whose tag set this change altered. */
  ids: number[];
}

export class TagHistory {
  private readonly undoStack: TagChange[] = [];
  private readonly redoStack: TagChange[] = [];
  /** Called after every change that reached the database, with what changed. */
  onApplied: ((change: TagChange, how: 'do' | 'undo' | 'redo') => void) | null = null;

  constructor(private readonly client: MiruClient) {}

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** Operations run one after another, so a fast Ctrl+Z after a key press undoes that press, not the one before. */
  private chain: Promise<unknown> = Promise.resolve();

  private queue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.chain.then(operation);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Adds or removes a tag on images; records what changed for undo. Returns the change (ids empty: a no-op). */
  apply(tag: string, add: boolean, ids: number[]): Promise<TagChange> {
    return this.queue(() => this.applyNow(tag, add, ids));
  }

  undo(): Promise<TagChange | null> {
    return this.queue(() => this.undoNow());
  }

  redo(): Promise<TagChange | null> {
    return this.queue(() => this.redoNow());
  }

  private async applyNow(tag: string, add: boolean, ids: number[]): Promise<TagChange> {
    const result = await this.send(tag, add, ids);
    const change: TagChange = { tag, add, ids: result };
    if (change.ids.length) {
      this.undoStack.push(change);
      this.redoStack.length = 0;
      this.onApplied?.(change, 'do');
    }
    return change;
  }

  private async undoNow(): Promise<TagChange | null> {
    const change = this.undoStack.pop();
    if (!change) return null;
    try {
      await this.send(change.tag, !change.add, change.ids);
    } catch (error) {
      this.undoStack.push(change);
      throw error;
    }
    this.redoStack.push(change);
    this.onApplied?.({ ...change, add: !change.add }, 'undo');
    return change;
  }

  private async redoNow(): Promise<TagChange | null> {
    const change = this.redoStack.pop();
    if (!change) return null;
    try {
      await this.send(change.tag, change.add, change.ids);
    } catch (error) {
      this.redoStack.push(change);
      throw error;
    }
    this.undoStack.push(change);
    this.onApplied?.(change, 'redo');
    return change;
  }

  private async send(tag: string, add: boolean, ids: number[]): Promise<number[]> {
    const result: TagResult = await this.client.call('tagImages', add ? { ids, add: [tag] } : { ids, remove: [tag] });
    return result.changed[tag] ?? [];
  }
}
