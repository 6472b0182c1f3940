/**
 * The workbench shell: toolbar, filter sidebar, virtualized grid, sample view, jobs and models drawers. It owns
 * the library-level data (info, fields, models, tags, raters, views, jobs), keeps it fresh from the host's events,
 * and routes keys: 1-9 tag, Ctrl+Z/Ctrl+Shift+Z undo/redo, Ctrl+A select all, the rest to the grid.
 */
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { FieldInfo, ImageDetail, ImageSummary, JobInfo, MiruEvent, ModelSummary, SavedView } from '../core/api/apiTypes.js';
import type { ApiResult, MiruClient } from './api/client.js';
import { AppContext, type AppServices, type Toast } from './components/appContext.js';
import { GridView, type GridHandle } from './components/GridView.js';
import { Sidebar } from './components/Sidebar.js';
import { SampleView } from './components/SampleView.js';
import { JobsPanel, type JobPrefill } from './components/JobsPanel.js';
import { ModelsPanel } from './components/ModelsPanel.js';
import { TagKeysDialog } from './components/TagKeysDialog.js';
import { Toasts } from './components/Toasts.js';
import type { WorkbenchViewProps } from './components/workbenchView.js';
import { GridData } from './state/gridData.js';
import { HistogramQueue } from './state/histograms.js';
import { TagHistory, loadTagKeys, saveTagKeys, type TagChange, type TagKeys } from './state/tagging.js';
import { buildQuery, emptyFilters, filterExpressions, parseQuery, urlStore, WORKBENCH_VIEWS, type FilterState, type UiState, type WorkbenchView } from './state/urlState.js';
import { formatCount } from './state/format.js';
import { isTextEntry, ownsNavigationKeys } from './state/keys.js';

// The map pulls in three.js: fetched only when the map view opens, so the grid's first load stays small.
const MapView = lazy(() => import('./components/MapView.js').then((m) => ({ default: m.MapView })));
const IssuesView = lazy(() => import('./components/IssuesView.js').then((m) => ({ default: m.IssuesView })));
const RatersView = lazy(() => import('./components/RatersView.js').then((m) => ({ default: m.RatersView })));
const BackbonesView = lazy(() => import('./components/BackbonesView.js').then((m) => ({ default: m.BackbonesView })));

const VIEW_LABELS: Record<WorkbenchView, string> = { grid: 'Grid', map: 'Map', issues: 'Issues', raters: 'Raters', backbones: 'Backbones' };

type LibraryInfo = ApiResult<'libraryInfo'>;

const TILE_KEY = 'miru.tileSize';
const SELECT_ALL_LIMIT = 10_000;

function loadTileSize(): number {
  const n = Number(window.localStorage.getItem(TILE_KEY));
  return Number.isFinite(n) && n >= 96 && n <= 360 ? n : 176;
}

export function App({ client }: { client: MiruClient }) {
  const ui = useSyncExternalStore(urlStore.subscribe, urlStore.get);

  // --- toasts ---------------------------------------------------------------------------------------------------
  const [toasts, setToasts] = useState<Toast[]>([]);
  const toastId = useRef(0);
  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const toast = useCallback<AppServices['toast']>(
    (kind, message, action) => {
      const id = ++toastId.current;
      setToasts((list) => [...list.slice(-3), { id, kind, message, action }]);
      window.setTimeout(() => dismiss(id), kind === 'error' ? 12000 : 5000);
    },
    [dismiss],
  );
  const services = useMemo<AppServices>(() => ({ client, toast }), [client, toast]);

  // --- library-level data ---------------------------------------------------------------------------------------
  const [info, setInfo] = useState<LibraryInfo | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const [fields, setFields] = useState<FieldInfo[]>([]);
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [tags, setTags] = useState<{ tag: string; count: number }[]>([]);
  const [raters, setRaters] = useState<{ name: string; ratings: number; group: string | null }[]>([]);
  const [views, setViews] = useState<SavedView[]>([]);
  const [jobs, setJobs] = useState<Map<number, JobInfo>>(new Map());
  const [imagesRev, setImagesRev] = useState(0);
  /** Grows on any library change (analyses included): the analysis views reload. */
  const [analysesRev, setAnalysesRev] = useState(0);
  const [sampleRev, setSampleRev] = useState(0);
  const queue = useMemo(() => new HistogramQueue(client), [client]);

  const report = useCallback((e: unknown) => toast('error', (e as Error).message), [toast]);
  const loadInfo = useCallback(
    () =>
      client.call('libraryInfo', {}).then(
        (i) => {
          setInfo(i);
          setFatal(null);
        },
        (e: unknown) => setFatal((e as Error).message),
      ),
    [client],
  );
  const loadFields = useCallback(() => client.call('fields', {}).then(setFields, report), [client, report]);
  const loadModels = useCallback(() => client.call('listModels', {}).then(setModels, (e: unknown) => (setModels((m) => m ?? []), report(e))), [client, report]);
  const loadTags = useCallback(() => client.call('listTags', {}).then(setTags, report), [client, report]);
  const loadRaters = useCallback(() => client.call('listRaters', {}).then(setRaters, report), [client, report]);
  const loadViews = useCallback(() => client.call('listViews', {}).then(setViews, report), [client, report]);

  useEffect(() => {
    void loadInfo();
    void loadModels();
    void loadFields();
    void loadTags();
    void loadRaters();
    void loadViews();
    client.call('listJobs', {}).then((list) => setJobs(new Map(list.map((j) => [j.id, j]))), report);
  }, [client, loadInfo, loadModels, loadFields, loadTags, loadRaters, loadViews, report]);

  // --- the listing ---------------------------------------------------------------------------------------------
  const scoreModel = ui.model ?? models?.find((m) => m.scoredImages > 0)?.name ?? null;
  const filters = useMemo(() => filterExpressions(ui.filters), [ui.filters]);
  const listingKey = JSON.stringify([filters, ui.sort ?? '', scoreModel ?? '']);
  const [grid, setGrid] = useState<{ data: GridData; keepScroll: boolean } | null>(null);
  const gridRef = useRef<{ data: GridData; key: string } | null>(null);
  const [count, setCount] = useState<{ n: number; known: boolean }>({ n: 0, known: false });
  const [settled, setSettled] = useState(false);
  const [gridError, setGridError] = useState<string | null>(null);

  useEffect(() => {
    // Wait for the model list: the badges' default model comes from it, and a second listing would double the
    // first load.
    if (models === null) return;
    const previous = gridRef.current;
    const same = previous !== null && previous.key === listingKey;
    const data = new GridData(client, { filters: JSON.parse(listingKey)[0] as string[], sort: ui.sort, scoreModel }, same ? previous.data : null);
    data.onError = (message) => setGridError(message);
    setGridError(null);
    gridRef.current = { data, key: listingKey };
    setGrid({ data, keepScroll: same });
    setSettled(false);
    const fallback = window.setTimeout(() => setSettled(true), 1500);
    return () => {
      window.clearTimeout(fallback);
      data.dispose();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, listingKey, imagesRev, models === null]);

  const gridHandle = useRef<GridHandle>({ engine: null });
  const [selectionCount, setSelectionCount] = useState(0);
  /** The grid's selection, for the map (which rings it); only kept while the map is open. */
  const [selectedIds, setSelectedIds] = useState<ReadonlySet<number>>(new Set());
  const focused = useRef<ImageSummary | undefined>(undefined);
  const sampleDetail = useRef<ImageDetail | null>(null);

  // --- navigation -----------------------------------------------------------------------------------------------
  const navigate = useCallback((update: (s: UiState) => UiState, mode: 'push' | 'replace' = 'push') => urlStore.navigate(update, mode), []);
  const setFilters = useCallback(
    (next: FilterState) => {
      performance.mark('miru:filters-changed');
      navigate((s) => ({ ...s, filters: next, sample: null }));
    },
    [navigate],
  );
  const sampleOpenedHere = useRef(false);
  const openSample = useCallback(
    (id: number) => {
      sampleOpenedHere.current = true;
      navigate((s) => ({ ...s, sample: id }));
    },
    [navigate],
  );
  const closeSample = useCallback(() => {
    if (sampleOpenedHere.current) {
      sampleOpenedHere.current = false;
      window.history.back();
    } else navigate((s) => ({ ...s, sample: null }), 'replace');
    // Back in the grid: keep the keyboard there.
    window.setTimeout(() => gridHandle.current.engine?.element.focus({ preventScroll: true }), 0);
  }, [navigate]);
  const setPanel = useCallback((panel: UiState['panel']) => navigate((s) => ({ ...s, panel }), 'replace'), [navigate]);
  const [jobPrefill, setJobPrefill] = useState<JobPrefill | null>(null);
  const openJobs = useCallback(
    (prefill: JobPrefill | null = null) => {
      setJobPrefill(prefill);
      setPanel('jobs');
    },
    [setPanel],
  );

  // When the sample changes from a grid neighbour, keep the grid's focus on it (so Esc returns to the same place).
  useEffect(() => {
    if (ui.sample === null || !grid) return;
    const index = grid.data.indexOfId(ui.sample);
    if (index !== null) gridHandle.current.engine?.focusIndex(index, { select: 'replace' });
  }, [ui.sample, grid]);

  // --- tagging ----------------------------------------------------------------------------------------------------
  const [tagKeys, setTagKeys] = useState<TagKeys>(loadTagKeys);
  const [editingKeys, setEditingKeys] = useState(false);
  const history = useMemo(() => new TagHistory(client), [client]);
  const [, setHistoryRev] = useState(0);
  const latestFilters = useRef(ui.filters);
  latestFilters.current = ui.filters;

  history.onApplied = (change: TagChange) => {
    gridRef.current?.data.patchTags(change.ids, change.tag, change.add);
    setSampleRev((r) => r + 1);
    setHistoryRev((r) => r + 1);
    void loadTags();
    const f = latestFilters.current;
    if (f.tagsInclude.includes(change.tag) || f.tagsExclude.includes(change.tag)) {
      queue.invalidate();
      setImagesRev((r) => r + 1);
    }
  };

  const tagTargets = (): number[] => {
    if (ui.sample !== null) return [ui.sample];
    const selected = gridHandle.current.engine?.getSelection();
    if (selected && selected.size) return [...selected];
    return focused.current ? [focused.current.id] : [];
  };

  const tagsOf = (ids: number[]): Map<number, string[]> => {
    const want = new Set(ids);
    const out = new Map<number, string[]>();
    const d = sampleDetail.current;
    if (d && want.has(d.id)) out.set(d.id, d.tags);
    for (const [, item] of gridRef.current?.data.loaded() ?? []) if (want.has(item.id) && !out.has(item.id)) out.set(item.id, item.tags);
    return out;
  };

  const applyTag = async (tag: string, add: boolean | null, ids: number[]) => {
    if (ids.length === 0) {
      toast('info', 'Nothing to tag: select images (click, Shift-click, Ctrl-click, Ctrl+A) or open one.');
      return;
    }
    if (add === null) {
      // A tag key toggles: remove when every target already has the tag.
      const known = tagsOf(ids);
      add = !(known.size === ids.length && [...known.values()].every((t) => t.includes(tag)));
    }
    try {
      const change = await history.apply(tag, add, ids);
      const n = change.ids.length;
      if (n === 0) toast('info', `${ids.length === 1 ? 'The image' : `All ${formatCount(ids.length)} images`} ${add ? 'already had' : 'did not have'} “${tag}”.`);
      else toast('success', `${add ? 'Tagged' : 'Untagged'} ${formatCount(n)} image${n === 1 ? '' : 's'} “${tag}”`, { label: 'Undo', run: () => void undo() });
    } catch (e) {
      report(e);
    }
  };

  const undo = async () => {
    try {
      const change = await history.undo();
      if (change) toast('info', `Undid ${change.add ? 'adding' : 'removing'} “${change.tag}” on ${formatCount(change.ids.length)} image${change.ids.length === 1 ? '' : 's'}`);
      else toast('info', 'Nothing to undo.');
    } catch (e) {
      report(e);
    }
  };
  const redo = async () => {
    try {
      const change = await history.redo();
      if (change) toast('info', `Redid ${change.add ? 'adding' : 'removing'} “${change.tag}” on ${formatCount(change.ids.length)} image${change.ids.length === 1 ? '' : 's'}`);
      else toast('info', 'Nothing to redo.');
    } catch (e) {
      report(e);
    }
  };

  const selectAllInView = async () => {
    const engine = gridHandle.current.engine;
    const data = gridRef.current?.data;
    if (!engine || !data) return;
    if (data.countKnown && data.count <= SELECT_ALL_LIMIT) {
      const ids: number[] = [];
      let after: string | null = null;
      try {
        do {
          const page: ApiResult<'listImages'> = await client.call('listImages', { filters, sort: ui.sort ?? undefined, limit: 1000, after });
          for (const item of page.items) ids.push(item.id);
          after = page.next;
        } while (after);
      } catch (e) {
        return report(e);
      }
      engine.setSelection(ids);
      toast('info', `Selected all ${formatCount(ids.length)} images in this view.`);
    } else {
      const ids = engine.visibleIds();
      engine.setSelection(ids);
      toast('info', `Selected the ${formatCount(ids.length)} images on screen. Narrow the filters below ${formatCount(SELECT_ALL_LIMIT)} images to select a whole view.`);
    }
  };

  // --- events from the host ---------------------------------------------------------------------------------------
  const jobStatus = useRef(new Map<number, JobInfo['status']>());
  const pendingRefresh = useRef(new Set<string>());
  const refreshTimer = useRef(0);
  const latestUi = useRef(ui);
  latestUi.current = ui;

  const runRefresh = useCallback(() => {
    refreshTimer.current = 0;
    const what = new Set(pendingRefresh.current);
    pendingRefresh.current.clear();
    if (what.has('images') || what.has('ratings') || what.has('scores')) {
      queue.invalidate();
      setImagesRev((r) => r + 1);
      setSampleRev((r) => r + 1);
      void loadInfo();
    }
    if (what.has('images') || what.has('scores') || what.has('models')) void loadFields();
    if (what.has('scores') || what.has('models')) void loadModels();
    if (what.has('ratings') || what.has('images')) void loadRaters();
    if (what.has('tags') || what.has('images')) void loadTags();
    if (what.size > 0) setAnalysesRev((r) => r + 1);
  }, [queue, loadInfo, loadFields, loadModels, loadRaters, loadTags]);

  const scheduleRefresh = useCallback(
    (what: string, soon = false) => {
      pendingRefresh.current.add(what);
      if (soon) {
        window.clearTimeout(refreshTimer.current);
        runRefresh();
        return;
      }
      // Throttled: a running job reports every batch; the grid refreshes at most every 2 s.
      if (!refreshTimer.current) refreshTimer.current = window.setTimeout(runRefresh, 2000);
    },
    [runRefresh],
  );

  useEffect(() => {
    const onEvent = (event: MiruEvent) => {
      if (event.type === 'job') {
        const job = event.job;
        setJobs((m) => new Map(m).set(job.id, job));
        const before = jobStatus.current.get(job.id);
        jobStatus.current.set(job.id, job.status);
        if (before === job.status || job.status === 'running') return;
        const name = `${job.kind[0]!.toUpperCase()}${job.kind.slice(1)} job #${job.id}`;
        if (job.status === 'failed') toast('error', `${name} failed: ${job.error ?? 'no reason given'}`, { label: 'Show jobs', run: () => openJobs() });
        else if (job.status === 'cancelled') toast('info', `${name} was cancelled.`);
        else {
          const failed = job.failures.length ? ` (${job.failures.length} file${job.failures.length === 1 ? '' : 's'} failed)` : '';
          toast('success', `${name} finished${failed}.`, failed ? { label: 'Show jobs', run: () => openJobs() } : undefined);
        }
        scheduleRefresh(job.kind === 'index' ? 'images' : job.kind === 'explain' ? 'saliency' : job.kind === 'score' || job.kind === 'embed' ? 'scores' : 'analyses', true);
        if (job.kind === 'score' || job.kind === 'embed') scheduleRefresh('models', true);
      } else if (event.what !== 'saliency') scheduleRefresh(event.what);
    };
    return client.onEvent(onEvent);
  }, [client, toast, openJobs, scheduleRefresh]);

  // --- keys -------------------------------------------------------------------------------------------------------
  const keyHandler = useRef<(e: KeyboardEvent) => void>(() => undefined);
  keyHandler.current = (e: KeyboardEvent) => {
    if (isTextEntry(e.target) || editingKeys) return;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (e.key === 'z' || e.key === 'Z')) {
      e.preventDefault();
      void (e.shiftKey ? redo() : undo());
      return;
    }
    if (mod && (e.key === 'y' || e.key === 'Y')) {
      e.preventDefault();
      void redo();
      return;
    }
    if (!mod && !e.altKey && /^[1-9]$/.test(e.key)) {
      const tag = tagKeys[e.key];
      e.preventDefault();
      if (!tag) toast('info', `Key ${e.key} has no tag yet: bind one in Tag keys.`, { label: 'Tag keys', run: () => setEditingKeys(true) });
      else void applyTag(tag, null, tagTargets());
      return;
    }
    if (ui.sample !== null) return;
    if (mod && (e.key === 'a' || e.key === 'A')) {
      e.preventDefault();
      void selectAllInView();
      return;
    }
    if (e.key === 'Escape' && ui.panel) {
      setPanel(null);
      return;
    }
    if (ownsNavigationKeys(e.target) && e.target !== gridHandle.current.engine?.element) return;
    if (gridHandle.current.engine?.handleKey(e)) e.preventDefault();
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => keyHandler.current(e);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // --- views ------------------------------------------------------------------------------------------------------
  const saveView = (name: string) =>
    client.call('saveView', { name, query: buildQuery(ui, { forView: true }).replace(/^\?/, '') }).then((list) => {
      setViews(list);
      toast('success', `Saved view “${name}”.`);
    }, report);
  const applyView = (view: SavedView) => {
    const next = parseQuery(view.query.startsWith('?') ? view.query : `?${view.query}`);
    navigate((s) => ({ ...next, sample: null, panel: s.panel }));
  };
  const deleteView = (name: string) => client.call('deleteView', { name }).then(setViews, report);

  // --- render -------------------------------------------------------------------------------------------------------
  const [tileSize, setTileSize] = useState(loadTileSize);
  const runningJobs = [...jobs.values()].filter((j) => j.status === 'running').length;
  const sortFields = fields.length ? fields : [{ name: 'ratingMean', label: 'Mean rating', group: 'ratings' as const }];
  const sortField = ui.sort?.replace(/^-/, '') ?? '';
  const descending = ui.sort?.startsWith('-') ?? false;
  const filtered = filters.length > 0;

  if (fatal && !info) {
    return (
      <div className="fatal" role="alert">
        <h1>Miru cannot open the library</h1>
        <p>{fatal}</p>
        <button className="btn btn-primary" onClick={() => void loadInfo()}>
          Try again
        </button>
      </div>
    );
  }

  const viewProps: WorkbenchViewProps = {
    filters: ui.filters,
    setFilters,
    openSample,
    applyTag: (tag, add, ids) => applyTag(tag, add, ids),
    openJobs: (prefill) => openJobs(prefill),
    tags,
    raters,
    models: models ?? [],
    revision: analysesRev,
  };

  return (
    <AppContext.Provider value={services}>
      <div className="app">
        <header className="toolbar">
          <div className="brand" title="Miru (見る, to look)">
            <svg className="brand-mark" viewBox="0 0 26 26" aria-hidden="true">
              <defs>
                <linearGradient id="brand-gradient" x1="0" y1="0" x2="1" y2="1">
                  <stop offset="0" stopColor="#6ea8fe" />
                  <stop offset="1" stopColor="#c59cf4" />
                </linearGradient>
              </defs>
              <rect width="26" height="26" rx="6" fill="url(#brand-gradient)" />
              <path d="M4 13c2.6-4.2 5.6-6.3 9-6.3s6.4 2.1 9 6.3c-2.6 4.2-5.6 6.3-9 6.3S6.6 17.2 4 13z" fill="#111317" />
              <circle cx="13" cy="13" r="3.4" fill="#e4e6eb" />
            </svg>
            <span className="brand-name">Miru</span>
          </div>
          <div className="library" title={info?.path}>
            <span className="library-name">{info ? baseName(info.path) : '…'}</span>
            <span className="library-count" data-testid="count">
              {count.known ? formatCount(count.n) : '…'}
              {info && filtered ? ` of ${formatCount(info.images)}` : ''} images
            </span>
          </div>
          <nav className="segmented view-switch" aria-label="View" data-testid="view-switch">
            {WORKBENCH_VIEWS.map((v) => (
              <button key={v} className={ui.view === v ? 'on' : ''} aria-pressed={ui.view === v} data-testid={`view-${v}`} onClick={() => navigate((s) => ({ ...s, view: v }))}>
                {VIEW_LABELS[v]}
              </button>
            ))}
          </nav>
          <span className="spacer" />
          <label className="tool">
            <span>Sort</span>
            <select
              className="input"
              value={sortField}
              data-testid="sort-field"
              onChange={(e) => navigate((s) => ({ ...s, sort: e.target.value ? `${descending ? '-' : ''}${e.target.value}` : null }))}
            >
              <option value="">library order</option>
              {sortFields.map((f) => (
                <option key={f.name} value={f.name}>
                  {f.label}
                </option>
              ))}
            </select>
            <button
              className="btn btn-ghost btn-icon"
              disabled={!sortField}
              data-testid="sort-direction"
              title={descending ? 'Descending: click for ascending' : 'Ascending: click for descending'}
              onClick={() => navigate((s) => ({ ...s, sort: sortField ? `${descending ? '' : '-'}${sortField}` : null }))}
            >
              {descending ? '↓' : '↑'}
            </button>
          </label>
          <label className="tool">
            <span>Badges</span>
            <select className="input" value={scoreModel ?? ''} data-testid="score-model" onChange={(e) => navigate((s) => ({ ...s, model: e.target.value || null }), 'replace')}>
              <option value="">no score</option>
              {(models ?? []).map((m) => (
                <option key={m.name} value={m.name}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
          <label className="tool" title="Thumbnail size">
            <span>Size</span>
            <input
              type="range"
              min={96}
              max={360}
              step={8}
              value={tileSize}
              data-testid="density"
              onChange={(e) => {
                const v = Number(e.target.value);
                setTileSize(v);
                window.localStorage.setItem(TILE_KEY, String(v));
              }}
            />
          </label>
          <button className="btn btn-ghost" onClick={() => setPanel(ui.panel === 'jobs' ? null : 'jobs')} data-testid="open-jobs" aria-pressed={ui.panel === 'jobs'}>
            Jobs{runningJobs > 0 && <span className="count-badge">{runningJobs}</span>}
          </button>
          <button className="btn btn-ghost" onClick={() => setPanel(ui.panel === 'models' ? null : 'models')} data-testid="open-models" aria-pressed={ui.panel === 'models'}>
            Models
          </button>
        </header>
        <div className={`main view-${ui.view}`}>
          <Sidebar
            filters={ui.filters}
            fields={fields}
            tags={tags}
            raters={raters}
            views={views}
            libraryImages={info ? indexedImages(info) : null}
            queue={queue}
            settled={settled}
            revision={imagesRev}
            onFilters={setFilters}
            onApplyView={applyView}
            onSaveView={(name) => void saveView(name)}
            onDeleteView={(name) => void deleteView(name)}
          />
          {ui.view === 'map' && (
            <Suspense fallback={<section className="map-view" />}>
              <MapView
                mapId={ui.map}
                color={ui.color}
                fields={fields}
                tags={tags}
                raterGroups={[...new Set(raters.map((r) => r.group).filter((g): g is string => g !== null))]}
                highlighted={selectedIds}
                selection={ui.filters.selection}
                revision={analysesRev}
                onMap={(id) => navigate((s) => ({ ...s, map: id }), 'replace')}
                onColor={(color) => navigate((s) => ({ ...s, color }), 'replace')}
                onSelection={(id) => setFilters({ ...ui.filters, selection: id })}
                onOpen={openSample}
                onCompute={() => openJobs({ kind: 'project' })}
              />
            </Suspense>
          )}
          {(ui.view === 'issues' || ui.view === 'raters' || ui.view === 'backbones') && (
            <Suspense fallback={<section className="analysis-view" />}>
              {ui.view === 'issues' && <IssuesView {...viewProps} />}
              {ui.view === 'raters' && <RatersView {...viewProps} />}
              {ui.view === 'backbones' && <BackbonesView {...viewProps} />}
            </Suspense>
          )}
          <div className="grid-area">
            <div className="statusbar">
              <span className="selection-hint" data-testid="selection-count">{selectionCount > 0 ? `${formatCount(selectionCount)} selected` : 'Click to select · Shift/Ctrl-click for more · Enter or double-click opens'}</span>
              {selectionCount > 0 && (
                <button className="btn btn-ghost btn-small" onClick={() => gridHandle.current.engine?.setSelection([])}>
                  Clear
                </button>
              )}
              <button className="btn btn-ghost btn-small" onClick={() => void selectAllInView()} title="Ctrl+A">
                Select all
              </button>
              <span className="spacer" />
              <span className="tag-keys" data-testid="tag-keys">
                {Object.entries(tagKeys)
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(([k, tag]) => (
                    <button key={k} className="tag-key" title={`Press ${k} to toggle “${tag}”`} onClick={() => void applyTag(tag, null, tagTargets())}>
                      <kbd>{k}</kbd> {tag}
                    </button>
                  ))}
                <button className="btn btn-ghost btn-small" onClick={() => setEditingKeys(true)} data-testid="edit-tag-keys">
                  Tag keys…
                </button>
              </span>
              <span className="undo-buttons">
                <button className="btn btn-ghost btn-small" disabled={!history.canUndo} onClick={() => void undo()} title="Undo (Ctrl+Z)" data-testid="undo">
                  Undo
                </button>
                <button className="btn btn-ghost btn-small" disabled={!history.canRedo} onClick={() => void redo()} title="Redo (Ctrl+Shift+Z)">
                  Redo
                </button>
              </span>
            </div>
            <div className="grid-wrap">
              <GridView
                data={grid?.data ?? null}
                keepScroll={grid?.keepScroll ?? false}
                tileSize={tileSize}
                handle={gridHandle}
                onOpen={(_, item) => openSample(item.id)}
                onSelectionChange={(ids) => {
                  setSelectionCount(ids.size);
                  if (urlStore.get().view === 'map') setSelectedIds(new Set(ids));
                }}
                onFocusChange={(_, item) => (focused.current = item)}
                onCount={(n, known) => setCount((c) => (c.n === n && c.known === known ? c : { n, known }))}
                onReady={() => setSettled(true)}
              />
              {info && indexedImages(info) === 0 && !filtered && (
                <div className="empty" data-testid="empty-library">
                  <h2>No images yet</h2>
                  <p>Index a folder of images into this library. Miru reads JPEG, PNG, WebP, GIF, AVIF and TIFF, makes thumbnails and computes image statistics.</p>
                  <button className="btn btn-primary" onClick={() => openJobs({ kind: 'index' })}>
                    Index a folder…
                  </button>
                  <p className="hint">
                    or from a terminal: <code>miru index /path/to/images --db {info.path}</code>
                  </p>
                </div>
              )}
              {gridError && (
                <div className="empty" data-testid="grid-error" role="alert">
                  <h2>The images could not be listed</h2>
                  <p>{gridError}</p>
                  <div className="form-actions">
                    {filtered && (
                      <button className="btn" onClick={() => setFilters(emptyFilters())}>
                        Clear filters
                      </button>
                    )}
                    <button className="btn btn-primary" onClick={() => setImagesRev((r) => r + 1)}>
                      Try again
                    </button>
                  </div>
                </div>
              )}
              {!gridError && info && indexedImages(info) > 0 && count.known && count.n === 0 && (
                <div className="empty" data-testid="empty-filtered">
                  <h2>{filtered ? 'No images match' : 'No readable images'}</h2>
                  <p>
                    {filtered
                      ? 'No image passes every filter. Loosen a range or remove a tag filter.'
                      : `Every indexed file (${formatCount(info.errors + info.missing)}) could not be read or is missing on disk; Status → All lists them with the reason.`}
                  </p>
                  {filtered ? (
                    <button className="btn btn-primary" onClick={() => setFilters(emptyFilters())}>
                      Clear filters
                    </button>
                  ) : (
                    <button className="btn btn-primary" onClick={() => setFilters({ ...emptyFilters(), status: 'any' })}>
                      Show them
                    </button>
                  )}
                </div>
              )}
            </div>
          </div>
        </div>
        {ui.sample !== null && (
          <SampleView
            key="sample"
            id={ui.sample}
            filters={filters}
            sort={ui.sort}
            models={models ?? []}
            scoreModel={scoreModel}
            knownTags={tags.map((t) => t.tag)}
            revision={sampleRev}
            onClose={closeSample}
            onNavigate={(id) => navigate((s) => ({ ...s, sample: id }), 'replace')}
            onTag={(tag, add, ids) => void applyTag(tag, add, ids)}
            onDetail={(d) => (sampleDetail.current = d)}
            onOpenModels={() => setPanel('models')}
          />
        )}
        {ui.panel === 'jobs' && (
          <JobsPanel
            jobs={[...jobs.values()]}
            models={models ?? []}
            roots={info?.roots ?? []}
            dbPath={info?.path ?? ''}
            filters={filters}
            prefill={jobPrefill}
            onClose={() => setPanel(null)}
            onStarted={(job) => {
              // A quick job's events can arrive before startJob's answer: what they said is newer, keep it.
              if (!jobStatus.current.has(job.id)) jobStatus.current.set(job.id, job.status);
              setJobs((m) => (m.has(job.id) ? m : new Map(m).set(job.id, job)));
            }}
          />
        )}
        {ui.panel === 'models' && (
          <ModelsPanel
            models={models ?? []}
            scoreModel={scoreModel}
            dbPath={info?.path ?? ''}
            onClose={() => setPanel(null)}
            onAdded={(m) => {
              toast('success', `Added model ${m.name}.`, { label: 'Score library', run: () => openJobs({ kind: 'score', model: m.name }) });
              void loadModels();
              void loadFields();
            }}
            onScore={(name) => openJobs({ kind: 'score', model: name })}
            onShowScores={(name) => navigate((s) => ({ ...s, model: name }), 'replace')}
          />
        )}
        {editingKeys && (
          <TagKeysDialog
            keys={tagKeys}
            onClose={() => setEditingKeys(false)}
            onSave={(k) => {
              setTagKeys(k);
              saveTagKeys(k);
              setEditingKeys(false);
            }}
          />
        )}
        <Toasts toasts={toasts} onDismiss={dismiss} />
      </div>
    </AppContext.Provider>
  );
}

/** Every indexed image, readable or not: a library of unreadable files is not an empty one (Status → Error lists them). */
function indexedImages(info: LibraryInfo): number {
  return info.images + info.errors + info.missing;
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] || p;
}
