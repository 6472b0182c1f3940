/**
 * The Issues view (issue 6, "Data quality"): which images are likely mislabelled, outliers, duplicates or odd, and
 * tagging them in bulk. The categories come from `issueSummary` (flagged counts, or the job that computes a
 * category never computed); the chosen category's images from `issueItems`, strongest first, fetched a page at a
 * time and drawn as a virtual list (a million-image library may flag tens of thousands). Rows select like the
 * grid's tiles (Ctrl-click toggles, Shift-click extends; a plain click opens the sample); bulk actions tag the
 * selection, or everything listed, through the shell (so Ctrl+Z undoes them), or show it in the grid.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { KeyboardEvent as ReactKeyboardEvent, MouseEvent as ReactMouseEvent } from 'react';
import type { IssueCategory, IssueCategoryKey, IssueItem, IssueItemsResult, IssueSummary } from '../../core/api/types/issues.js';
import { useServices } from './appContext.js';
import type { WorkbenchViewProps } from './workbenchView.js';
import { formatCount } from '../state/format.js';
import './issuesView.css';

const ROW_HEIGHT = 64;
/** Items per issueItems call while scrolling. */
const PAGE = 100;
/** Items per call when collecting every id (select all, tag all): the API's largest page. */
const ID_PAGE = 1000;
/** The most ids one tagImages or saveSelection call takes (API_LIMITS.ids). */
const MAX_BULK = 100_000;
const OVERSCAN = 6;
const BULK_TAGS = ['outlier', 'exclude'] as const;
const MAIN_CATEGORIES: IssueCategoryKey[] = ['label-issues', 'outliers', 'near-duplicates', 'rater-disagreement'];

type ListFilter = { mode: 'flagged' } | { mode: 'score'; min: number };

interface ListMeta {
  total: number;
  flagged: number;
  scale: IssueItemsResult['scale'];
  histogram: number[];
}

function timeAgo(iso: string): string {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 90) return 'just now';
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** A hue per duplicate group, far apart for neighbouring ids (the golden angle). */
function groupColour(id: number): string {
  return `hsl(${Math.round((id * 137.508) % 360)} 65% 62%)`;
}

/** The first category worth opening: the first computed one that flags something, else the first computed one. */
function initialCategory(summary: IssueSummary): IssueCategoryKey {
  const computed = summary.categories.filter((c) => c.analysisId !== null);
  return (computed.find((c) => (c.flagged ?? 0) > 0) ?? computed[0] ?? summary.categories[0]!).key;
}

export function IssuesView(props: WorkbenchViewProps) {
  const { client, toast } = useServices();
  const [summary, setSummary] = useState<IssueSummary | null>(null);
  const [summaryError, setSummaryError] = useState<string | null>(null);
  const [selectedKey, setSelectedKey] = useState<IssueCategoryKey | null>(null);
  const [filter, setFilter] = useState<ListFilter>({ mode: 'flagged' });
  const [slider, setSlider] = useState(0.5);

  // Summary: on open and whenever the library changes (a finished job, new tags).
  const loadSummary = useCallback(() => {
    client.call('issueSummary', {}).then(
      (s) => {
        setSummary(s);
        setSummaryError(null);
        setSelectedKey((key) => key ?? initialCategory(s));
      },
      (e: unknown) => setSummaryError((e as Error).message),
    );
  }, [client]);
  useEffect(loadSummary, [loadSummary, props.revision]);

  const category = summary?.categories.find((c) => c.key === selectedKey) ?? null;
  const choose = (key: IssueCategoryKey) => {
    if (key === selectedKey) return;
    setSelectedKey(key);
    setFilter({ mode: 'flagged' });
  };

  /** The model a new job starts on: one whose embeddings an earlier analysis used, else the first model. */
  const preferredModel = summary?.categories.find((c) => c.source?.model)?.source?.model ?? props.models[0]?.name;
  const startJob = (c: IssueCategory) => props.openJobs({ kind: c.job, model: c.source?.model ?? preferredModel ?? undefined });
  const nothingComputed = summary !== null && summary.categories.every((c) => c.analysisId === null);
  const odd = summary?.categories.filter((c) => c.group === 'image') ?? [];
  const main = MAIN_CATEGORIES.map((k) => summary?.categories.find((c) => c.key === k)).filter((c): c is IssueCategory => c !== undefined);

  return (
    <section className="analysis-view issues-view" data-testid="issues-view" aria-busy={summary === null}>
      <header className="issues-header">
        <div className="issues-heading">
          <h2>Issues</h2>
          <span className="muted">images to check before training</span>
          <span className="spacer" />
          <button className="btn btn-small" data-testid="issues-find" onClick={() => props.openJobs({ kind: 'issues', model: preferredModel ?? undefined })} title="Label issues and odd images from an embedding run (the issues job)">
            Find issues…
          </button>
        </div>
        {summaryError && (
          <div className="inline-error" role="alert" data-testid="issues-summary-error">
            {summaryError}{' '}
            <button className="link" onClick={loadSummary}>
              Try again
            </button>
          </div>
        )}
        {summary === null && !summaryError && <div className="issues-loading">Counting issues…</div>}
        <div className="issue-tiles" role="tablist" aria-label="Issue categories">
          {main.map((c) => (
            <button
              key={c.key}
              role="tab"
              aria-selected={c.key === selectedKey}
              className={`issue-tile${c.key === selectedKey ? ' on' : ''}${c.analysisId === null ? ' missing' : ''}${(c.flagged ?? 0) > 0 ? ' has-issues' : ''}`}
              data-testid={`issue-category-${c.key}`}
              data-count={c.flagged ?? ''}
              title={c.description}
              onClick={() => choose(c.key)}
            >
              <span className="issue-tile-label">{c.label}</span>
              <span className="issue-tile-count">{c.flagged === null ? '—' : formatCount(c.flagged)}</span>
              <span className="issue-tile-sub">
                {c.analysisId === null
                  ? 'not computed'
                  : c.key === 'near-duplicates'
                    ? `${formatCount(c.groups ?? 0)} group${c.groups === 1 ? '' : 's'}`
                    : `of ${formatCount(c.checked ?? 0)}`}
              </span>
            </button>
          ))}
        </div>
        {odd.length > 0 && (
          <div className="issue-odd" role="tablist" aria-label="Odd images">
            <span className="issue-odd-label">Odd images</span>
            {odd.map((c) => (
              <button
                key={c.key}
                role="tab"
                aria-selected={c.key === selectedKey}
                className={`issue-chip${c.key === selectedKey ? ' on' : ''}${c.analysisId === null ? ' missing' : ''}${(c.flagged ?? 0) > 0 ? ' has-issues' : ''}`}
                data-testid={`issue-category-${c.key}`}
                data-count={c.flagged ?? ''}
                title={c.description}
                onClick={() => choose(c.key)}
              >
                {c.label}
                <span className="issue-chip-count">{c.flagged === null ? '—' : formatCount(c.flagged)}</span>
              </button>
            ))}
          </div>
        )}
      </header>
      {category && category.analysisId === null && <NotComputed category={category} everything={nothingComputed} onStart={startJob} onStartKind={(kind) => props.openJobs({ kind, model: preferredModel ?? undefined })} />}
      {category && category.analysisId !== null && (
        <IssueList key={`${category.key}:${category.analysisId}`} category={category} filter={filter} slider={slider} onFilter={setFilter} onSlider={setSlider} onRecompute={() => startJob(category)} view={props} toast={toast} />
      )}
    </section>
  );
}

function NotComputed(props: { category: IssueCategory; everything: boolean; onStart(c: IssueCategory): void; onStartKind(kind: 'issues' | 'outliers' | 'duplicates'): void }) {
  const c = props.category;
  if (props.everything) {
    return (
      <div className="issues-empty" data-testid="issues-empty">
        <h3>No issues computed yet</h3>
        <p>
          Miru looks for likely label errors and odd images (the <b>issues</b> job), images unlike the rest (<b>outliers</b>) and copies (<b>duplicates</b>). Each reads an embedding
          run: embed the library with a model first (an embed job).
        </p>
        <div className="form-actions">
          <button className="btn btn-primary" data-testid="issues-empty-find" onClick={() => props.onStartKind('issues')}>
            Find issues…
          </button>
          <button className="btn" onClick={() => props.onStartKind('outliers')}>
            Find outliers…
          </button>
          <button className="btn" onClick={() => props.onStartKind('duplicates')}>
            Find duplicates…
          </button>
        </div>
        <p className="hint">or from a terminal:</p>
        <code>miru issues --db LIBRARY --embedding MODEL</code>
        <code>miru outliers --db LIBRARY --embedding MODEL</code>
        <code>miru duplicates --db LIBRARY</code>
      </div>
    );
  }
  return (
    <div className="issues-empty" data-testid="issues-not-computed">
      <h3>{c.label}: not computed yet</h3>
      <p>{c.description}</p>
      <button className="btn btn-primary" onClick={() => props.onStart(c)}>
        Run the {c.job} job…
      </button>
      <p className="hint">or from a terminal:</p>
      <code>{c.command}</code>
    </div>
  );
}

interface ListProps {
  category: IssueCategory;
  filter: ListFilter;
  slider: number;
  onFilter(filter: ListFilter): void;
  onSlider(value: number): void;
  onRecompute(): void;
  view: WorkbenchViewProps;
  toast: ReturnType<typeof useServices>['toast'];
}

/** One category's items: threshold, bulk actions and the virtual list. Remounted per category and analysis. */
function IssueList(props: ListProps) {
  const { client } = useServices();
  const { category, filter, view } = props;
  const [meta, setMeta] = useState<ListMeta | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [, setPagesVersion] = useState(0);
  const pages = useRef(new Map<number, { generation: number; items: IssueItem[] }>());
  const inFlight = useRef(new Set<string>());
  /** Grows when what is listed may have changed (tags, a refresh): loaded pages are fetched again when in view. */
  const generation = useRef(0);
  const [selection, setSelection] = useState<ReadonlySet<number>>(new Set());
  const anchor = useRef<number | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 600 });

  const minScore = filter.mode === 'score' ? filter.min : undefined;
  const filterKey = filter.mode === 'score' ? `score:${filter.min}` : 'flagged';
  const listKey = useRef(filterKey);

  // A new filter: a new list, from the top, with nothing selected.
  useEffect(() => {
    listKey.current = filterKey;
    pages.current.clear();
    inFlight.current.clear();
    setMeta(null);
    setError(null);
    setSelection(new Set());
    anchor.current = null;
    if (scroller.current) scroller.current.scrollTop = 0;
    setViewport((v) => ({ ...v, top: 0 }));
    setPagesVersion((n) => n + 1);
  }, [filterKey]);

  const fetchPage = useCallback(
    (page: number) => {
      const key = listKey.current;
      const gen = generation.current;
      const token = `${key}#${gen}#${page}`;
      if (inFlight.current.has(token)) return;
      inFlight.current.add(token);
      client.call('issueItems', { category: category.key, limit: PAGE, offset: page * PAGE, ...(minScore !== undefined ? { minScore } : {}) }).then(
        (result) => {
          inFlight.current.delete(token);
          if (listKey.current !== key) return;
          pages.current.set(page, { generation: gen, items: result.items });
          setMeta({ total: result.total, flagged: result.flagged, scale: result.scale, histogram: result.histogram });
          setError(null);
          setPagesVersion((n) => n + 1);
        },
        (e: unknown) => {
          inFlight.current.delete(token);
          if (listKey.current === key) setError((e as Error).message);
        },
      );
    },
    [client, category.key, minScore],
  );

  // The pages in view (and the first, which carries the totals), fetched when missing or stale.
  const total = meta?.total ?? 0;
  const first = Math.max(0, Math.floor(viewport.top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(total, Math.ceil((viewport.top + viewport.height) / ROW_HEIGHT) + OVERSCAN);
  useEffect(() => {
    if (error) return;
    const wanted = meta === null ? [0] : total === 0 ? [0] : [...new Set([Math.floor(first / PAGE), Math.floor(Math.max(first, last - 1) / PAGE)])];
    for (const p of wanted) {
      const have = pages.current.get(p);
      if (!have || have.generation !== generation.current) fetchPage(p);
    }
  });

  // The library changed (tags, ratings, a job): what is on screen is fetched again, the scroll position kept.
  const refresh = useCallback(() => {
    generation.current++;
    setPagesVersion((n) => n + 1);
  }, []);
  const firstRevision = useRef(view.revision);
  useEffect(() => {
    if (view.revision !== firstRevision.current) refresh();
  }, [view.revision, refresh]);
  // Tags show on the rows: a tag change (a bulk action here, an undo, a hotkey in the grid) is drawn at once, not
  // when the shell's throttled refresh comes round.
  useEffect(
    () =>
      client.onEvent((event) => {
        if (event.type === 'library-changed' && event.what === 'tags') refresh();
      }),
    [client, refresh],
  );

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setViewport({ top: el.scrollTop, height: el.clientHeight }));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const itemAt = (index: number): IssueItem | undefined => pages.current.get(Math.floor(index / PAGE))?.items[index % PAGE];

  /** Every listed id, strongest first (at most MAX_BULK), walking the list in the API's largest pages. */
  const allIds = async (): Promise<number[]> => {
    const ids: number[] = [];
    for (let offset = 0; offset < Math.min(total, MAX_BULK); offset += ID_PAGE) {
      const page = await client.call('issueItems', { category: category.key, limit: ID_PAGE, offset, ...(minScore !== undefined ? { minScore } : {}) });
      ids.push(...page.items.map((i) => i.id));
      if (page.items.length < ID_PAGE) break;
    }
    if (total > MAX_BULK) props.toast('info', `Only the first ${formatCount(MAX_BULK)} of ${formatCount(total)} images are taken at once; raise the threshold to narrow the list.`);
    return ids;
  };

  /** Ids of rows lo..hi (inclusive), fetching the pages in between that were scrolled past too fast to load. */
  const idsBetween = async (lo: number, hi: number): Promise<number[]> => {
    const ids: number[] = [];
    for (let start = lo; start <= hi; start = (Math.floor(start / PAGE) + 1) * PAGE) {
      const p = Math.floor(start / PAGE);
      let items = pages.current.get(p)?.items;
      if (!items) {
        items = (await client.call('issueItems', { category: category.key, limit: PAGE, offset: p * PAGE, ...(minScore !== undefined ? { minScore } : {}) })).items;
        pages.current.set(p, { generation: generation.current, items });
      }
      for (let i = start; i <= Math.min(hi, p * PAGE + PAGE - 1); i++) {
        const item = items[i - p * PAGE];
        if (item) ids.push(item.id);
      }
    }
    return ids;
  };

  const toggle = (id: number) =>
    setSelection((s) => {
      const next = new Set(s);
      if (!next.delete(id)) next.add(id);
      return next;
    });

  const extendTo = (index: number) => {
    const from = anchor.current ?? index;
    void idsBetween(Math.min(from, index), Math.max(from, index)).then(
      (ids) => setSelection((s) => new Set([...s, ...ids])),
      (e: unknown) => props.toast('error', (e as Error).message),
    );
  };

  const onRowClick = (event: ReactMouseEvent, index: number, item: IssueItem) => {
    if (event.shiftKey) extendTo(index);
    else if (event.ctrlKey || event.metaKey) {
      toggle(item.id);
      anchor.current = index;
    } else view.openSample(item.id);
  };

  const onCheck = (event: ReactMouseEvent, index: number, item: IssueItem) => {
    event.stopPropagation();
    if (event.shiftKey && anchor.current !== null) extendTo(index);
    else {
      toggle(item.id);
      anchor.current = index;
    }
  };

  /** Rows take the keyboard: Enter opens, Space selects, arrows move (kept from the grid's global shortcuts). */
  const onRowKey = (event: ReactKeyboardEvent, index: number, item: IssueItem) => {
    const move = event.key === 'ArrowDown' ? 1 : event.key === 'ArrowUp' ? -1 : 0;
    if (event.key !== 'Enter' && event.key !== ' ' && move === 0) return;
    event.preventDefault();
    event.stopPropagation();
    if (event.key === 'Enter') return view.openSample(item.id);
    if (event.key === ' ') {
      if (event.shiftKey) extendTo(index);
      else {
        toggle(item.id);
        anchor.current = index;
      }
      return;
    }
    const next = index + move;
    if (next < 0 || next >= total) return;
    const el = scroller.current;
    if (el) {
      if (next * ROW_HEIGHT < el.scrollTop) el.scrollTop = next * ROW_HEIGHT;
      else if ((next + 1) * ROW_HEIGHT > el.scrollTop + el.clientHeight) el.scrollTop = (next + 1) * ROW_HEIGHT - el.clientHeight;
    }
    // The row may only be drawn once the scroll has been rendered.
    requestAnimationFrame(() => el?.querySelector<HTMLElement>(`[data-index="${next}"]`)?.focus());
  };

  const allSelected = total > 0 && selection.size >= Math.min(total, MAX_BULK);
  const selectAll = async () => {
    setBusy('select');
    try {
      setSelection(new Set(await allIds()));
    } catch (e) {
      props.toast('error', (e as Error).message);
    } finally {
      setBusy(null);
    }
  };

  /** The images a bulk action applies to: the selection, or everything listed. */
  const targets = async (): Promise<number[]> => (selection.size > 0 ? [...selection] : allIds());

  const tagAll = async (tag: string) => {
    setBusy(tag);
    try {
      const ids = await targets();
      await view.applyTag(tag, true, ids);
      refresh();
    } catch (e) {
      props.toast('error', (e as Error).message);
    } finally {
      setBusy(null);
    }
  };

  const showInGrid = async () => {
    setBusy('grid');
    try {
      const ids = await targets();
      if (ids.length === 0) return;
      const saved = await client.call('saveSelection', { ids });
      view.setFilters({ ...view.filters, selection: saved.id });
      props.toast('info', `The grid shows the ${formatCount(saved.count)} image${saved.count === 1 ? '' : 's'} of this list (selection ${saved.id}).`);
    } catch (e) {
      props.toast('error', (e as Error).message);
    } finally {
      setBusy(null);
    }
  };

  // The slider moves at once; the list follows when it rests.
  const { onFilter, slider } = props;
  useEffect(() => {
    if (filter.mode !== 'score' || filter.min === slider) return;
    const timer = window.setTimeout(() => onFilter({ mode: 'score', min: slider }), 250);
    return () => window.clearTimeout(timer);
  }, [slider, filter, onFilter]);

  const rows: { index: number; item: IssueItem | undefined }[] = [];
  for (let i = first; i < last; i++) rows.push({ index: i, item: itemAt(i) });

  const target = selection.size > 0 ? `${formatCount(selection.size)} selected` : `all ${formatCount(total)}`;
  const source = category.source ? `${category.source.model ?? 'run'} · run ${category.source.runId}` : 'image statistics';
  const cut = filter.mode === 'score' ? slider : (meta?.scale.flagAbove ?? null);

  return (
    <div className="issues-body">
      <div className="issues-category-head">
        <div className="issues-category-title">
          <h3 data-testid="issues-category-title">{category.label}</h3>
          <span className="issues-source" title={category.computedAt ?? ''}>
            {source} · {category.computedAt ? timeAgo(category.computedAt) : ''}
          </span>
          <span className="spacer" />
          <button className="btn btn-ghost btn-small" onClick={props.onRecompute} title={`Compute again (${category.command})`}>
            Recompute…
          </button>
        </div>
        <p className="issues-description">{category.description}</p>
        <div className="issues-threshold">
          <div className="segmented" role="radiogroup" aria-label="Which images to list">
            <button role="radio" aria-checked={filter.mode === 'flagged'} className={filter.mode === 'flagged' ? 'on' : ''} data-testid="issues-mode-flagged" onClick={() => props.onFilter({ mode: 'flagged' })}>
              Flagged
            </button>
            <button
              role="radio"
              aria-checked={filter.mode === 'score'}
              className={filter.mode === 'score' ? 'on' : ''}
              data-testid="issues-mode-score"
              onClick={() => {
                const start = Math.round((meta?.scale.flagAbove ?? 0.5) * 100) / 100;
                props.onSlider(start);
                props.onFilter({ mode: 'score', min: start });
              }}
            >
              By score
            </button>
          </div>
          <div className="issues-histogram-box">
            <ScoreHistogram counts={meta?.histogram ?? []} cut={cut} />
            <input
              type="range"
              min={0}
              max={1}
              step={0.01}
              value={filter.mode === 'score' ? slider : (meta?.scale.flagAbove ?? 0)}
              aria-label="Lowest score listed"
              className={filter.mode === 'score' ? '' : 'idle'}
              data-testid="issues-threshold"
              title={meta ? `score = ${meta.scale.score}` : ''}
              onChange={(e) => {
                const v = Number(e.target.value);
                props.onSlider(v);
                if (filter.mode !== 'score') props.onFilter({ mode: 'score', min: v });
              }}
            />
          </div>
          <span className="issues-count" data-testid="issues-total" data-total={meta?.total ?? ''}>
            {meta === null
              ? '…'
              : filter.mode === 'flagged'
                ? `${formatCount(meta.total)} flagged`
                : `${formatCount(meta.total)} with score ≥ ${slider.toFixed(2)} (${formatCount(meta.flagged)} flagged)`}
          </span>
        </div>
        <div className="issues-bulk" data-testid="issues-bulk">
          <label className="issues-select-all" title={selection.size > 0 ? 'Clear the selection' : 'Select every image listed'}>
            <input
              type="checkbox"
              checked={allSelected}
              ref={(el) => {
                if (el) el.indeterminate = selection.size > 0 && !allSelected;
              }}
              disabled={total === 0 || busy !== null}
              onChange={() => (selection.size > 0 ? setSelection(new Set()) : void selectAll())}
              data-testid="issues-select-all"
            />
            {selection.size > 0 ? `${formatCount(selection.size)} selected` : 'Select all'}
          </label>
          <div className="issues-actions">
            <span className="issues-bulk-target" data-testid="issues-bulk-target">
              Apply to {target}:
            </span>
            {BULK_TAGS.map((tag) => (
              <button key={tag} className="btn btn-small" disabled={total === 0 || busy !== null} data-testid={`issues-tag-${tag}`} title={`Tag ${target} “${tag}” (Ctrl+Z undoes)`} onClick={() => void tagAll(tag)}>
                {busy === tag ? 'Tagging…' : `Tag ${tag}`}
              </button>
            ))}
            <button className="btn btn-small btn-primary" disabled={total === 0 || busy !== null} data-testid="issues-show-in-grid" title={`Filter the grid to ${target}`} onClick={() => void showInGrid()}>
              Show in grid
            </button>
          </div>
        </div>
      </div>
      <div
        className="issues-scroller"
        ref={scroller}
        data-testid="issues-list"
        data-loading={meta === null || undefined}
        onScroll={(e) => {
          const el = e.currentTarget;
          setViewport({ top: el.scrollTop, height: el.clientHeight });
        }}
      >
        <div className="issues-canvas" style={{ height: total * ROW_HEIGHT }} role="list">
          {rows.map(({ index, item }) => {
            const top = index * ROW_HEIGHT;
            if (!item) return <div key={index} className="issue-row placeholder" style={{ top }} />;
            const previous = index > 0 ? itemAt(index - 1) : undefined;
            const groupStart = item.group !== undefined && previous?.group?.id !== item.group.id;
            const selected = selection.has(item.id);
            return (
              <div
                key={index}
                role="listitem"
                className={`issue-row${selected ? ' selected' : ''}${groupStart && index > 0 ? ' group-start' : ''}${item.flagged ? '' : ' unflagged'}`}
                style={{ top }}
                data-testid="issue-row"
                data-id={item.id}
                data-index={index}
                onClick={(e) => onRowClick(e, index, item)}
                onKeyDown={(e) => onRowKey(e, index, item)}
                tabIndex={0}
                title="Click or Enter to open · Ctrl-click or Space to select · Shift-click to select a range"
              >
                {item.group && <span className="issue-group-band" style={{ background: groupColour(item.group.id) }} />}
                <input type="checkbox" className="issue-check" checked={selected} aria-label={`Select image ${item.id}`} onClick={(e) => onCheck(e, index, item)} onChange={() => undefined} />
                {item.hash ? <img className="issue-thumb" src={client.thumbUrl(item.hash)} alt="" loading="lazy" draggable={false} /> : <span className="issue-thumb" />}
                <div className="issue-text">
                  <div className="issue-path" title={item.relPath}>
                    {item.relPath}
                  </div>
                  <div className="issue-detail">{item.detail}</div>
                  <div className="issue-tags">
                    {item.tags.map((t) => (
                      <span key={t} className="chip">
                        {t}
                      </span>
                    ))}
                  </div>
                </div>
                <div className="issue-score" title={meta ? `score = ${meta.scale.score}${item.value !== null ? `; ${meta.scale.value} ${item.value.toPrecision(3)}` : ''}` : ''}>
                  <span className="issue-score-value">{item.score.toFixed(2)}</span>
                  <span className="issue-score-bar">
                    <span style={{ width: `${Math.round(item.score * 100)}%` }} />
                  </span>
                  {!item.flagged && <span className="issue-unflagged-note">not flagged</span>}
                </div>
              </div>
            );
          })}
        </div>
        {error && (
          <div className="issues-empty" role="alert" data-testid="issues-error">
            <h3>The list could not be loaded</h3>
            <p>{error}</p>
            <button className="btn btn-primary" onClick={() => (setError(null), refresh())}>
              Try again
            </button>
          </div>
        )}
        {!error && meta !== null && meta.total === 0 && (
          <div className="issues-empty" data-testid="issues-none">
            <h3>
              {filter.mode === 'score'
                ? `No image scores ${slider.toFixed(2)} or more`
                : category.group === 'image'
                  ? `No image is flagged as ${category.label.toLowerCase()}`
                  : `No ${category.label.toLowerCase()} flagged`}
            </h3>
            <p>
              {formatCount(category.checked ?? 0)} images were checked.{' '}
              {category.key === 'near-duplicates'
                ? 'No two of them lie within the duplicate distance; recompute with a larger distance to find looser copies.'
                : filter.mode === 'flagged'
                  ? 'Switch to “By score” to see the closest ones anyway.'
                  : 'Lower the threshold to see more.'}
            </p>
            {filter.mode === 'flagged' && meta.histogram.some((n) => n > 0) && (
              <button
                className="btn"
                onClick={() => {
                  // Start where the strongest tenth of the images begins.
                  const start = Math.round(topDecileScore(meta.histogram) * 100) / 100;
                  props.onSlider(start);
                  props.onFilter({ mode: 'score', min: start });
                }}
              >
                Show the strongest anyway
              </button>
            )}
          </div>
        )}
      </div>
    </div>
  );
}

/** The lower edge of the histogram bin where the top 10 % of the scores begin. */
function topDecileScore(counts: number[]): number {
  const all = counts.reduce((s, n) => s + n, 0);
  let seen = 0;
  for (let i = counts.length - 1; i >= 0; i--) {
    seen += counts[i]!;
    if (seen >= all * 0.1) return i / counts.length;
  }
  return 0;
}

/** Every checked image by score (square-root heights, so a few strong issues stay visible beside the bulk). */
function ScoreHistogram(props: { counts: number[]; cut: number | null }) {
  const bins = props.counts.length || 20;
  const top = Math.sqrt(Math.max(1, ...props.counts));
  return (
    <svg className="issues-histogram" viewBox={`0 0 ${bins} 10`} preserveAspectRatio="none" aria-hidden="true">
      {props.counts.map((n, i) => {
        const h = n > 0 ? Math.max(0.6, (Math.sqrt(n) / top) * 10) : 0;
        const strong = props.cut !== null && (i + 1) / bins > props.cut;
        return <rect key={i} x={i + 0.08} y={10 - h} width={0.84} height={h} className={strong ? 'on' : ''} />;
      })}
      {props.cut !== null && <line x1={props.cut * bins} x2={props.cut * bins} y1={0} y2={10} />}
    </svg>
  );
}
