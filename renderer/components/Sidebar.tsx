/**
 * The filter sidebar: saved views, path search, tags (include/exclude), every numeric field with its histogram,
 * raters and status. All state is the URL's (urlState.ts); this component only proposes changes.
 */
import { useEffect, useMemo, useState } from 'react';
import type { FieldInfo, SavedView } from '../../core/api/apiTypes.js';
import { emptyFilters, expressionsWithout, type FilterState, type Range } from '../state/urlState.js';
import type { HistogramQueue } from '../state/histograms.js';
import { formatCount } from '../state/format.js';
import { FieldFilter } from './FieldFilter.js';

interface Props {
  filters: FilterState;
  fields: FieldInfo[];
  tags: { tag: string; count: number }[];
  raters: { name: string; ratings: number; group: string | null }[];
  views: SavedView[];
  /** Images in the library (null while unknown): with none, the field list gives way to one line saying so. */
  libraryImages: number | null;
  queue: HistogramQueue;
  settled: boolean;
  revision: number;
  onFilters(next: FilterState): void;
  onApplyView(view: SavedView): void;
  onSaveView(name: string): void;
  onDeleteView(name: string): void;
}

const GROUPS: { group: FieldInfo['group']; title: string }[] = [
  { group: 'scores', title: 'Scores' },
  { group: 'ratings', title: 'Ratings' },
  { group: 'statistics', title: 'Image statistics' },
  { group: 'image', title: 'File' },
];

const EXPANDED_KEY = 'miru.expandedFields';

function loadExpanded(): Set<string> {
  try {
    const raw = window.localStorage.getItem(EXPANDED_KEY);
    if (raw) return new Set(JSON.parse(raw) as string[]);
  } catch {
    // fall through to the defaults
  }
  return new Set(['ratingMean', 'ratingCount']);
}

export function Sidebar(props: Props) {
  const { filters, fields, onFilters } = props;
  const [expanded, setExpanded] = useState<Set<string>>(loadExpanded);
  const activeCount =
    Object.keys(filters.ranges).length + filters.tagsInclude.length + filters.tagsExclude.length + filters.raters.length + (filters.path ? 1 : 0) + (filters.status !== 'ok' ? 1 : 0) + (filters.selection !== null ? 1 : 0) + (filters.raterGroup !== null ? 1 : 0) + filters.other.length;

  const isExpanded = (field: FieldInfo) => expanded.has(field.name) || (field.group === 'scores' && !expanded.has(`-${field.name}`)) || filters.ranges[field.name] !== undefined;
  const toggle = (field: FieldInfo) => {
    const next = new Set(expanded);
    if (isExpanded(field)) {
      next.delete(field.name);
      if (field.group === 'scores') next.add(`-${field.name}`);
    } else {
      next.add(field.name);
      next.delete(`-${field.name}`);
    }
    setExpanded(next);
    try {
      window.localStorage.setItem(EXPANDED_KEY, JSON.stringify([...next]));
    } catch {
      // not persisted; fine
    }
  };

  const setRange = (field: string, range: Range | null) => {
    const ranges = { ...filters.ranges };
    if (range === null) delete ranges[field];
    else ranges[field] = range;
    onFilters({ ...filters, ranges });
  };

  const known = new Set(fields.map((f) => f.name));
  const orphanRanges = fields.length ? Object.keys(filters.ranges).filter((f) => !known.has(f)) : [];

  return (
    <aside className="sidebar" data-testid="sidebar">
      <div className="sidebar-head">
        <span className="section-title">Filters</span>
        {activeCount > 0 && (
          <button className="btn btn-ghost btn-small" data-testid="clear-filters" onClick={() => onFilters(emptyFilters())}>
            Clear {activeCount}
          </button>
        )}
      </div>
      <div className="sidebar-scroll">
        {filters.selection !== null && (
          <div className="selection-filter" data-testid="selection-filter">
            <span className="chip chip-filter" title="Only the images of a selection made on the map (a lasso)">
              Map selection #{filters.selection}
              <button className="icon-btn" aria-label="Remove the map selection filter" onClick={() => onFilters({ ...filters, selection: null })}>
                ×
              </button>
            </span>
          </div>
        )}
        {filters.raterGroup !== null && (
          <div className="selection-filter" data-testid="rater-group-filter">
            <span className="chip chip-filter" title="Only images rated by at least one rater of this rater group">
              Rater group {filters.raterGroup}
              <button className="icon-btn" aria-label="Remove the rater group filter" onClick={() => onFilters({ ...filters, raterGroup: null })}>
                ×
              </button>
            </span>
          </div>
        )}
        <ViewsSection views={props.views} onApply={props.onApplyView} onSave={props.onSaveView} onDelete={props.onDeleteView} />
        <PathSearch value={filters.path} onChange={(path) => onFilters({ ...filters, path })} />
        <TagsSection tags={props.tags} filters={filters} onFilters={onFilters} />
        {props.libraryImages === 0 && (
          <section className="section" data-testid="sidebar-empty">
            <div className="hint">No images to filter yet. Once a folder is indexed, every field appears here with a histogram of its values.</div>
          </section>
        )}
        {props.libraryImages !== 0 && GROUPS.map(({ group, title }) => {
          const list = fields.filter((f) => f.group === group && f.name !== 'id');
          if (list.length === 0 && group === 'scores' && fields.length > 0) {
            // Say where scores come from rather than leaving the section out without a word.
            return (
              <section className="section" key={group} data-testid="scores-empty">
                <div className="section-title">{title}</div>
                <div className="hint">No scores yet: add a model in Models, then score the library from Jobs.</div>
              </section>
            );
          }
          if (list.length === 0) return null;
          return (
            <section className="section" key={group}>
              <div className="section-title">{title}</div>
              {list.map((field) => (
                <FieldFilter
                  key={field.name}
                  field={field}
                  range={filters.ranges[field.name]}
                  filters={expressionsWithout(filters, field.name)}
                  queue={props.queue}
                  settled={props.settled}
                  revision={props.revision}
                  expanded={isExpanded(field)}
                  onToggle={() => toggle(field)}
                  onRange={(range) => setRange(field.name, range)}
                />
              ))}
            </section>
          );
        })}
        <RatersSection raters={props.raters} filters={filters} onFilters={onFilters} />
        <section className="section">
          <div className="section-title">Status</div>
          <div className="segmented" role="radiogroup" aria-label="Status">
            {(['ok', 'error', 'missing', 'any'] as const).map((s) => (
              <button key={s} role="radio" aria-checked={filters.status === s} className={filters.status === s ? 'on' : ''} onClick={() => onFilters({ ...filters, status: s })}>
                {s === 'ok' ? 'Readable' : s === 'any' ? 'All' : s[0]!.toUpperCase() + s.slice(1)}
              </button>
            ))}
          </div>
          {(filters.other.length > 0 || orphanRanges.length > 0) && (
            <div className="other-filters">
              {orphanRanges.map((field) => (
                <span key={field} className="chip chip-filter" title="A filter on a field this library does not have">
                  {field} {rangeLabel(filters.ranges[field]!)}
                  <button className="icon-btn" aria-label={`Remove ${field} filter`} onClick={() => setRange(field, null)}>
                    ×
                  </button>
                </span>
              ))}
              {filters.other.map((e) => (
                <span key={e} className="chip chip-filter">
                  {e}
                  <button className="icon-btn" aria-label={`Remove ${e}`} onClick={() => onFilters({ ...filters, other: filters.other.filter((x) => x !== e) })}>
                    ×
                  </button>
                </span>
              ))}
            </div>
          )}
        </section>
      </div>
    </aside>
  );
}

function rangeLabel([lo, hi]: Range): string {
  if (lo !== null && hi !== null) return `${lo}..${hi}`;
  return lo !== null ? `≥ ${lo}` : `≤ ${hi}`;
}

function PathSearch({ value, onChange }: { value: string; onChange(v: string): void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const t = window.setTimeout(() => onChange(text), 300);
    return () => window.clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text]);
  return (
    <section className="section">
      <input className="input" type="search" placeholder="Search paths…" aria-label="Search paths" data-testid="path-search" value={text} onChange={(e) => setText(e.target.value)} />
    </section>
  );
}

function TagsSection({ tags, filters, onFilters }: { tags: { tag: string; count: number }[]; filters: FilterState; onFilters(f: FilterState): void }) {
  const set = (tag: string, mode: 'include' | 'exclude' | 'none') => {
    const tagsInclude = filters.tagsInclude.filter((t) => t !== tag);
    const tagsExclude = filters.tagsExclude.filter((t) => t !== tag);
    if (mode === 'include') tagsInclude.push(tag);
    if (mode === 'exclude') tagsExclude.push(tag);
    onFilters({ ...filters, tagsInclude, tagsExclude });
  };
  const known = new Set(tags.map((t) => t.tag));
  const rows = [...tags, ...[...filters.tagsInclude, ...filters.tagsExclude].filter((t) => !known.has(t)).map((tag) => ({ tag, count: 0 }))];
  return (
    <section className="section" data-testid="tags-section">
      <div className="section-title">Tags</div>
      {rows.length === 0 && <div className="hint">No tags yet. Tag images with the keys 1–9 (see Tag keys in the toolbar).</div>}
      {rows.map(({ tag, count }) => {
        const mode = filters.tagsInclude.includes(tag) ? 'include' : filters.tagsExclude.includes(tag) ? 'exclude' : 'none';
        return (
          <div className={`tag-row tag-${mode}`} key={tag} data-tag={tag}>
            <span className="tag-name">{tag}</span>
            <span className="tag-count">{formatCount(count)}</span>
            <button className={`tag-toggle ${mode === 'include' ? 'on' : ''}`} title={`Only images tagged ${tag}`} aria-pressed={mode === 'include'} data-testid={`tag-include-${tag}`} onClick={() => set(tag, mode === 'include' ? 'none' : 'include')}>
              has
            </button>
            <button className={`tag-toggle ${mode === 'exclude' ? 'on' : ''}`} title={`Hide images tagged ${tag}`} aria-pressed={mode === 'exclude'} data-testid={`tag-exclude-${tag}`} onClick={() => set(tag, mode === 'exclude' ? 'none' : 'exclude')}>
              not
            </button>
          </div>
        );
      })}
    </section>
  );
}

function RatersSection({ raters, filters, onFilters }: { raters: Props['raters']; filters: FilterState; onFilters(f: FilterState): void }) {
  const [query, setQuery] = useState('');
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    const list = raters.filter((r) => !q || r.name.toLowerCase().includes(q) || (r.group ?? '').toLowerCase().includes(q));
    const chosen = list.filter((r) => filters.raters.includes(r.name));
    const rest = list.filter((r) => !filters.raters.includes(r.name)).slice(0, 8);
    return [...chosen, ...rest];
  }, [raters, query, filters.raters]);
  if (raters.length === 0) return null;
  const toggle = (name: string) => {
    const list = filters.raters.includes(name) ? filters.raters.filter((r) => r !== name) : [...filters.raters, name];
    onFilters({ ...filters, raters: list });
  };
  return (
    <section className="section">
      <div className="section-title">Rated by {filters.raters.length > 1 ? '(all of)' : ''}</div>
      {raters.length > 8 && <input className="input input-small" type="search" placeholder={`Find among ${raters.length} raters…`} value={query} onChange={(e) => setQuery(e.target.value)} />}
      {shown.map((r) => (
        <label className="check-row" key={r.name}>
          <input type="checkbox" checked={filters.raters.includes(r.name)} onChange={() => toggle(r.name)} />
          <span className="tag-name">{r.name}</span>
          {r.group && <span className="muted">{r.group}</span>}
          <span className="tag-count">{formatCount(r.ratings)}</span>
        </label>
      ))}
    </section>
  );
}

function ViewsSection({ views, onApply, onSave, onDelete }: { views: SavedView[]; onApply(v: SavedView): void; onSave(name: string): void; onDelete(name: string): void }) {
  const [naming, setNaming] = useState(false);
  const [name, setName] = useState('');
  return (
    <section className="section">
      <div className="section-row">
        <span className="section-title">Views</span>
        {!naming && (
          <button className="btn btn-ghost btn-small" data-testid="save-view" onClick={() => setNaming(true)}>
            Save current…
          </button>
        )}
      </div>
      {naming && (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!name.trim()) return;
            onSave(name.trim());
            setName('');
            setNaming(false);
          }}
        >
          <input className="input input-small" autoFocus placeholder="View name" value={name} onChange={(e) => setName(e.target.value)} onKeyDown={(e) => e.key === 'Escape' && setNaming(false)} />
          <button className="btn btn-small" type="submit">
            Save
          </button>
        </form>
      )}
      {views.length === 0 && !naming && <div className="hint">Save the current filters and sort as a named view.</div>}
      {views.map((v) => (
        <div className="view-row" key={v.name}>
          <button className="link" title={v.query} onClick={() => onApply(v)}>
            {v.name}
          </button>
          <button className="icon-btn" aria-label={`Delete view ${v.name}`} onClick={() => onDelete(v.name)}>
            ×
          </button>
        </div>
      ))}
    </section>
  );
}
