/**
 * The UI's shareable state lives in the URL query, spelled as `miru list` spells it, so a link (or a saved view)
 * reproduces the exact listing and back/forward walk through filter changes:
 *   ?f=ratingMean>=3&f=tag=outlier&f=path~portraits&sort=-score:miru-vit-s&model=miru-vit-s&sample=42
 * `f` holds filter expressions (repeated), `sort` a field with an optional leading "-", `model` the model whose
 * score the grid's badges show, `sample` the image open in the sample view, `view` the workbench view beside the
 * grid (map, issues, raters, backbones), `map` the projection the map shows and `color` what colours its points.
 */
import type { FilterExpression } from '../../core/api/apiTypes.js';

export type Range = [number | null, number | null];

export interface FilterState {
  /** Numeric field -> [min, max] (inclusive; null = open). */
  ranges: Record<string, Range>;
  tagsInclude: string[];
  tagsExclude: string[];
  /** Rated by every one of these raters. */
  raters: string[];
  path: string;
  status: 'ok' | 'error' | 'missing' | 'any';
  /** A stored selection (a lasso on the map): only its images. */
  selection: number | null;
  /** A rater group (e.g. a rater cluster saved as groups): only images one of its raters rated. */
  raterGroup: string | null;
  /** Expressions this UI has no control for (typed into a shared link): kept and passed through unchanged. */
  other: string[];
}

export interface UiState {
  filters: FilterState;
  sort: string | null;
  model: string | null;
  sample: number | null;
  panel: 'jobs' | 'models' | null;
  view: WorkbenchView;
  /** The projection (analysis id) the map shows; null: the newest. */
  map: number | null;
  /** The field colouring the map's points (FieldValuesInput.field); null: none. */
  color: string | null;
}

export const WORKBENCH_VIEWS = ['grid', 'map', 'issues', 'raters', 'backbones'] as const;
export type WorkbenchView = (typeof WORKBENCH_VIEWS)[number];

export const emptyFilters = (): FilterState => ({ ranges: {}, tagsInclude: [], tagsExclude: [], raters: [], path: '', status: 'ok', selection: null, raterGroup: null, other: [] });

/** Numbers in expressions: short, exact enough to round-trip what a brush or an input produced. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return String(Number(n.toPrecision(6)));
}

export function filterExpressions(state: FilterState): FilterExpression[] {
  const out: string[] = [];
  for (const field of Object.keys(state.ranges).sort()) {
    const [lo, hi] = state.ranges[field]!;
    if (lo !== null) out.push(`${field}>=${formatNumber(lo)}`);
    if (hi !== null) out.push(`${field}<=${formatNumber(hi)}`);
  }
  for (const tag of state.tagsInclude) out.push(`tag=${tag}`);
  for (const tag of state.tagsExclude) out.push(`tag!=${tag}`);
  for (const rater of state.raters) out.push(`rater=${rater}`);
  if (state.path.trim()) out.push(`path~${state.path.trim()}`);
  if (state.status !== 'ok') out.push(`status=${state.status}`);
  if (state.selection !== null) out.push(`selection=${state.selection}`);
  if (state.raterGroup !== null) out.push(`raterGroup=${state.raterGroup}`);
  out.push(...state.other);
  return out;
}

/** The filters without one field's own range: a histogram shows its field under every other filter. */
export function expressionsWithout(state: FilterState, field: string): FilterExpression[] {
  const ranges = { ...state.ranges };
  delete ranges[field];
  return filterExpressions({ ...state, ranges });
}

export function parseExpressions(list: string[]): FilterState {
  const state = emptyFilters();
  for (const raw of list) {
    const text = raw.trim();
    if (!text) continue;
    const path = /^path\s*~\s*(.+)$/i.exec(text);
    if (path) {
      state.path = path[1]!.trim();
      continue;
    }
    const m = /^([A-Za-z_][\w:.\-]*)\s*(>=|<=|!=|=)\s*(.+)$/.exec(text);
    if (!m) {
      state.other.push(text);
      continue;
    }
    const [, name, op, value] = m as unknown as [string, string, string, string];
    if (name === 'tag' && op === '=') state.tagsInclude.push(value);
    else if (name === 'tag' && op === '!=') state.tagsExclude.push(value);
    else if (name === 'rater' && op === '=') state.raters.push(value);
    else if (name === 'status' && op === '=' && ['ok', 'error', 'missing', 'any'].includes(value)) state.status = value as FilterState['status'];
    else if (name === 'selection' && op === '=' && /^\d+$/.test(value)) state.selection = Number(value);
    else if (name.toLowerCase() === 'ratergroup' && op === '=' && state.raterGroup === null) state.raterGroup = value;
    else if ((op === '>=' || op === '<=') && Number.isFinite(Number(value))) {
      const range = state.ranges[name] ?? [null, null];
      if (op === '>=') range[0] = Number(value);
      else range[1] = Number(value);
      state.ranges[name] = range;
    } else state.other.push(text);
  }
  return state;
}

export function parseQuery(search: string): UiState {
  const params = new URLSearchParams(search);
  const sample = Number(params.get('sample'));
  const panel = params.get('panel');
  const view = params.get('view');
  const map = Number(params.get('map'));
  return {
    filters: parseExpressions(params.getAll('f')),
    sort: params.get('sort') || null,
    model: params.get('model') || null,
    sample: Number.isInteger(sample) && sample > 0 ? sample : null,
    panel: panel === 'jobs' || panel === 'models' ? panel : null,
    view: (WORKBENCH_VIEWS as readonly string[]).includes(view ?? '') ? (view as WorkbenchView) : 'grid',
    map: Number.isInteger(map) && map > 0 ? map : null,
    color: params.get('color') || null,
  };
}

export function buildQuery(state: UiState, options: { forView?: boolean } = {}): string {
  const params = new URLSearchParams();
  for (const e of filterExpressions(state.filters)) params.append('f', e);
  if (state.sort) params.set('sort', state.sort);
  if (state.model) params.set('model', state.model);
  if (state.view !== 'grid') params.set('view', state.view);
  if (state.map !== null) params.set('map', String(state.map));
  if (state.color) params.set('color', state.color);
  if (!options.forView) {
    if (state.sample !== null) params.set('sample', String(state.sample));
    if (state.panel) params.set('panel', state.panel);
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A tiny store over window.history: components subscribe, navigation pushes or replaces an entry. */
type Listener = () => void;
const listeners = new Set<Listener>();
let current: UiState = parseQuery(typeof window === 'undefined' ? '' : window.location.search);
let currentSearch = typeof window === 'undefined' ? '' : window.location.search;

if (typeof window !== 'undefined') {
  window.addEventListener('popstate', () => {
    currentSearch = window.location.search;
    current = parseQuery(currentSearch);
    for (const l of listeners) l();
  });
}

export const urlStore = {
  get: (): UiState => current,
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Re-reads the address bar (after the client stripped the token from it). */
  reload(): void {
    currentSearch = window.location.search;
    current = parseQuery(currentSearch);
  },
  navigate(update: (state: UiState) => UiState, mode: 'push' | 'replace' = 'push'): void {
    const next = update(current);
    const search = buildQuery(next);
    if (search === currentSearch) return;
    const url = window.location.pathname + search + window.location.hash;
    if (mode === 'push') window.history.pushState(null, '', url);
    else window.history.replaceState(null, '', url);
    currentSearch = search;
    current = parseQuery(search);
    for (const l of listeners) l();
  },
};

/** A stable key of what the grid lists, for caches and effects. */
export function listingKey(state: UiState): string {
  return JSON.stringify([filterExpressions(state.filters), state.sort ?? '', state.model ?? '']);
}
