/**
 * The Raters view (issue 6), beside the grid: how much the raters agree (Krippendorff's alpha), who agrees with
 * whom (a pairwise kappa heatmap in dendrogram order, with the tree and the clusters), where each rater sits among
 * the others (a map of the raters), and a sortable table of per-rater statistics. Clicking a rater filters the
 * grid to the images it rated (`rater=NAME`), a heatmap cell to those both raters rated, a cluster to its group's
 * images (`raterGroup=NAME`, once the clusters are saved as rater groups). The analysis runs on the host and is
 * kept there until the ratings change, so reopening the view or switching back to earlier settings is instant.
 */
import { memo, useCallback, useEffect, useMemo, useRef, useState, type MouseEvent as ReactMouseEvent, type ReactNode, type RefObject } from 'react';
import type { RaterConsensusMethod, RaterReport, RaterReportInput, RaterReportRow } from '../../core/api/types/raterReport.js';
import type { WorkbenchViewProps } from './workbenchView.js';
import { useServices } from './appContext.js';
import { formatCount, formatElapsed } from '../state/format.js';
import { clusterColor, drawHeatmap, heatmapGeometry, hitTest, kappaGradient, KAPPA_NEGATIVE_FLOOR, type HeatmapGeometry, type HeatmapInput } from '../viz/agreementHeatmap.js';
import './ratersView.css';
import { useWidth } from './useWidth.js';

const ALPHA_METRICS = ['nominal', 'ordinal', 'interval', 'ratio'] as const;
const K_CHOICES = [2, 3, 4, 5, 6, 7, 8] as const;
const CONSENSUS_LABELS: Record<RaterConsensusMethod, string> = { mean: 'Mean', median: 'Median', crowdlab: 'CROWDLAB' };
const SETTINGS_KEY = 'miru.raters';

interface Settings {
  consensus: RaterConsensusMethod;
  clusters: number | 'auto';
  /** CROWDLAB's model (its class probabilities weigh in); null: raters only. */
  model: string | null;
}

function loadSettings(): Settings {
  const fallback: Settings = { consensus: 'mean', clusters: 'auto', model: null };
  try {
    const saved = JSON.parse(window.localStorage.getItem(SETTINGS_KEY) ?? 'null') as Partial<Settings> | null;
    if (!saved) return fallback;
    return {
      consensus: saved.consensus && saved.consensus in CONSENSUS_LABELS ? saved.consensus : 'mean',
      clusters: saved.clusters === 'auto' || K_CHOICES.includes(saved.clusters as (typeof K_CHOICES)[number]) ? saved.clusters! : 'auto',
      model: typeof saved.model === 'string' ? saved.model : null,
    };
  } catch {
    return fallback;
  }
}

function reportInput(s: Settings): RaterReportInput {
  const input: RaterReportInput = { clusters: s.clusters, consensus: s.consensus };
  if (s.consensus === 'crowdlab' && s.model) input.model = s.model;
  return input;
}

const fixed = (v: number | null | undefined, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const signed = (v: number | null) => (v === null ? '–' : `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toFixed(2)}`);

/** Krippendorff's own reading of alpha: data are reliable from 0.8, tentatively usable from 0.667. */
function alphaClass(a: number | null): string {
  if (a === null) return 'alpha-none';
  return a >= 0.8 ? 'alpha-good' : a >= 0.667 ? 'alpha-fair' : 'alpha-low';
}


type Hover =
  | { kind: 'rater'; rater: string; x: number; y: number }
  | { kind: 'pair'; a: string; b: string; kappa: number | null; common: number; x: number; y: number };

type Pending = { kind: 'save' } | { kind: 'filter'; group: string };

const sameTarget = (a: Hover, b: Hover) => (a.kind === 'rater' && b.kind === 'rater' ? a.rater === b.rater : a.kind === 'pair' && b.kind === 'pair' ? a.a === b.a && a.b === b.b : false);

export function RatersView(props: WorkbenchViewProps) {
  const { client, toast } = useServices();
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const [library, setLibrary] = useState<{ path: string; raters: number; ratings: number } | null>(null);
  const [report, setReport] = useState<RaterReport | null>(null);
  /** The input the shown report answers (settings may already ask for the next one). */
  const [reportFor, setReportFor] = useState<RaterReportInput>({});
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [hover, setHover] = useState<Hover | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [saving, setSaving] = useState(false);
  /** The answer whose clusters this view saved as groups (the rater list the shell holds catches up later). */
  const [savedFor, setSavedFor] = useState<string | null>(null);

  const input = useMemo(() => reportInput(settings), [settings]);
  const inputKey = JSON.stringify(input);
  const update = (next: Partial<Settings>) => {
    const merged = { ...settings, ...next };
    setSettings(merged);
    try {
      window.localStorage.setItem(SETTINGS_KEY, JSON.stringify(merged));
    } catch {
      // not remembered; fine
    }
  };

  // How many ratings there are decides between an empty state and asking for the analysis.
  useEffect(() => {
    let live = true;
    client.call('libraryInfo', {}).then(
      (info) => live && setLibrary({ path: info.path, raters: info.raters, ratings: info.ratings }),
      (e: unknown) => live && setError((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [client, props.revision, attempt]);

  const enough = library !== null && library.ratings > 0 && library.raters >= 2;
  useEffect(() => {
    if (!enough) return;
    let live = true;
    setLoading(true);
    const asked = JSON.parse(inputKey) as RaterReportInput;
    client.call('raterReport', asked).then(
      (r) => {
        if (!live) return;
        setReport(r);
        setReportFor(asked);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError((e as Error).message);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [client, inputKey, enough, props.revision, attempt]);

  const rowOf = useMemo(() => new Map((report?.raters ?? []).map((r) => [r.rater, r])), [report]);
  const heat = useMemo(() => (report ? heatmapInput(report) : null), [report]);

  // Hover: the panels re-render only when what is under the pointer changes; the card just follows the pointer.
  const hoverNow = useRef<Hover | null>(null);
  const card = useRef<HTMLDivElement>(null);
  const onHover = useCallback((next: Hover | null) => {
    const previous = hoverNow.current;
    hoverNow.current = next;
    if (next && previous && sameTarget(next, previous)) {
      if (card.current) Object.assign(card.current.style, cardPosition(next));
      return;
    }
    setHover(next);
  }, []);
  const identity = report ? `${report.computedAt}|${report.clustering.k}|${report.consensus.method}` : null;
  // A question about the clusters of an answer that is no longer shown is moot.
  useEffect(() => setPending(null), [identity]);

  // Saved clusters: every rater's group is its cluster's name (or none outside the clusters).
  const groupOf = useMemo(() => new Map(props.raters.map((r) => [r.name, r.group])), [props.raters]);
  const wanted = (r: RaterReportRow) => (r.cluster === null ? null : `cluster-${r.cluster}`);
  const saved = report !== null && report.clusters.length > 0 && (savedFor === identity || report.raters.every((r) => (groupOf.get(r.rater) ?? null) === wanted(r)));
  // Marked in every panel: the raters the grid is filtered to, or the members of the cluster it is filtered to.
  const activeCluster = saved ? report.clusters.find((c) => c.name === props.filters.raterGroup) : undefined;
  const selectedKey = [...props.filters.raters, ...(activeCluster?.raters ?? [])].join('\u0000');
  const selectedRaters = useMemo<ReadonlySet<string>>(() => new Set(selectedKey ? selectedKey.split('\u0000') : []), [selectedKey]);
  /** Raters whose own group (not one this view saved) saving would replace or clear. */
  const overwritten = report ? report.raters.filter((r) => {
    const now = groupOf.get(r.rater) ?? null;
    return now !== null && now !== wanted(r) && !/^cluster-\d+$/.test(now);
  }) : [];

  // The panels keep stable callbacks (they are memoized); the latest filters are read when a click happens.
  const latest = useRef(props);
  latest.current = props;
  const filterRaters = useCallback((names: string[]) => {
    const { filters, setFilters } = latest.current;
    const same = names.length === filters.raters.length && names.every((n) => filters.raters.includes(n));
    setFilters({ ...filters, raterGroup: null, raters: same ? [] : names });
  }, []);
  const pickRater = useCallback((name: string) => filterRaters([name]), [filterRaters]);

  const saveGroups = async (then: Pending | null) => {
    if (!report) return;
    setSaving(true);
    setPending(null);
    try {
      // The clusters saved are those on screen, even while the next answer is on its way.
      const result = await client.call('raterReport', { ...reportFor, saveGroups: true });
      setReport(result);
      setSavedFor(`${result.computedAt}|${result.clustering.k}|${result.consensus.method}`);
      const names = result.clusters.map((c) => c.name);
      toast('success', `Saved ${names.length} cluster${names.length === 1 ? '' : 's'} as rater groups ${names.join(', ')}.`);
      if (then?.kind === 'filter') props.setFilters({ ...props.filters, raters: [], raterGroup: then.group });
    } catch (e) {
      toast('error', (e as Error).message);
    } finally {
      setSaving(false);
    }
  };

  const clickCluster = (group: string) => {
    if (saving) return;
    if (saved) {
      props.setFilters({ ...props.filters, raters: [], raterGroup: props.filters.raterGroup === group ? null : group });
      return;
    }
    // Saving replaces groups a person defined: ask first. Otherwise the click is the consent.
    if (overwritten.length > 0) setPending({ kind: 'filter', group });
    else void saveGroups({ kind: 'filter', group });
  };

  // ------------------------------------------------------------------------------------------------ states
  if (library !== null && library.ratings === 0) {
    return (
      <Shell>
        <div className="raters-empty" data-testid="raters-empty">
          <h3>No ratings yet</h3>
          <p>This view compares human raters: how much they agree, who agrees with whom, and which raters share a taste. Import ratings (columns image, rater, score) with</p>
          <code>miru ratings import ratings.csv --db {library.path} --scale 1:5</code>
          <p>then reopen this view.</p>
        </div>
      </Shell>
    );
  }
  if (library !== null && library.raters < 2) {
    return (
      <Shell>
        <div className="raters-empty" data-testid="raters-empty">
          <h3>Too few raters</h3>
          <p>Agreement needs at least two raters who rated some of the same images; this library has ratings from {library.raters === 1 ? 'one rater' : 'no rater'}. Import more ratings with <code>miru ratings import</code>.</p>
        </div>
      </Shell>
    );
  }
  if (!report) {
    return (
      <Shell>
        {error ? (
          <div className="raters-empty" data-testid="raters-error" role="alert">
            <h3>The rater analysis failed</h3>
            <p>{error}</p>
            <button className="btn btn-primary" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
          </div>
        ) : (
          <div className="raters-empty raters-loading" data-testid="raters-loading">
            <span className="raters-spinner" aria-hidden="true" />
            Analysing the ratings…
          </div>
        )}
      </Shell>
    );
  }

  const spammers = report.raters.filter((r) => r.spammer);
  return (
    <Shell busy={loading}>
      <header className="raters-header">
        <div className="raters-heading">
          <h2>Raters</h2>
          <span className="raters-counts" data-testid="raters-counts" data-raters={report.raterCount}>
            {formatCount(report.raterCount)} raters · {formatCount(report.ratings)} ratings · {formatCount(report.images)} images
          </span>
          <span className="spacer" />
          <span className="raters-status muted" data-testid="raters-status" data-computed={`${report.clustering.requested}|${report.consensus.method}|${report.computedAt}`}>
            {loading ? 'Updating…' : report.cached ? 'from memory' : `computed in ${formatElapsed(report.elapsedMs)}`}
          </span>
        </div>
        <div className="raters-alpha" data-testid="raters-alpha" title="Krippendorff's alpha: 1 is perfect agreement, 0 is chance. Data are reliable from 0.8 and tentatively usable from 0.667.">
          <span className="raters-alpha-label">
            Krippendorff’s α
            <span className="muted"> · {formatCount(report.alphaDetail.pairableUnits)} images rated twice or more</span>
          </span>
          <div className="raters-alpha-tiles">
            {ALPHA_METRICS.map((m) => (
              <div key={m} className={`raters-alpha-tile ${alphaClass(report.alpha[m])}`} data-testid={`raters-alpha-${m}`} data-value={report.alpha[m] ?? ''} title={report.alphaDetail.notes[m] ?? `${m} metric`}>
                <span className="raters-alpha-value">{fixed(report.alpha[m])}</span>
                <span className="raters-alpha-metric">{m}</span>
              </div>
            ))}
          </div>
        </div>
        <div className="raters-controls">
          {/* Not <label>: a click on the caption would press the group's first button. */}
          <div className="tool">
            <span>Consensus</span>
            <span className="segmented" role="radiogroup" aria-label="Consensus" data-testid="raters-consensus">
              {(Object.keys(CONSENSUS_LABELS) as RaterConsensusMethod[]).map((c) => (
                <button key={c} role="radio" aria-checked={settings.consensus === c} className={settings.consensus === c ? 'on' : ''} onClick={() => update({ consensus: c })}>
                  {CONSENSUS_LABELS[c]}
                </button>
              ))}
            </span>
          </div>
          {settings.consensus === 'crowdlab' && (
            <label className="tool" title="CROWDLAB can weigh a model's class probabilities in, by how well the model agrees with the raters">
              <span>Model</span>
              <select className="input input-small" data-testid="raters-model" value={settings.model ?? ''} onChange={(e) => update({ model: e.target.value || null })}>
                <option value="">raters only</option>
                {props.models
                  .filter((m) => m.scoredImages > 0)
                  .map((m) => (
                    <option key={m.name} value={m.name}>
                      {m.name}
                    </option>
                  ))}
              </select>
            </label>
          )}
          <div className="tool">
            <span>Clusters</span>
            <span className="segmented" role="radiogroup" aria-label="Clusters" data-testid="raters-k">
              {(['auto', ...K_CHOICES] as const).map((k) => (
                <button key={k} role="radio" aria-checked={settings.clusters === k} className={settings.clusters === k ? 'on' : ''} onClick={() => update({ clusters: k })} title={k === 'auto' ? 'Choose k by the mean silhouette' : undefined}>
                  {k === 'auto' ? 'Auto' : k}
                </button>
              ))}
            </span>
          </div>
        </div>
      </header>

      {error && (
        <div className="raters-banner raters-banner-error" role="alert" data-testid="raters-error">
          {error}
          <button className="btn btn-small" onClick={() => setAttempt((n) => n + 1)}>
            Try again
          </button>
        </div>
      )}
      {pending && (
        <div className="raters-banner" data-testid="raters-confirm">
          <span>
            Saving the clusters as rater groups replaces the groups of {overwritten.length} rater{overwritten.length === 1 ? '' : 's'} ({overwritten.slice(0, 3).map((r) => `${r.rater}: ${groupOf.get(r.rater)}`).join(', ')}
            {overwritten.length > 3 ? ', …' : ''}).
          </span>
          <span className="spacer" />
          <button className="btn btn-small btn-primary" data-testid="raters-confirm-save" onClick={() => void saveGroups(pending)}>
            {pending.kind === 'filter' ? 'Save and filter' : 'Save'}
          </button>
          <button className="btn btn-small btn-ghost" onClick={() => setPending(null)}>
            Cancel
          </button>
        </div>
      )}

      <ClusterBar report={report} saved={saved} activeGroup={props.filters.raterGroup} spammers={spammers} onCluster={clickCluster}>
        <button
          className="btn btn-small"
          data-testid="raters-save-groups"
          disabled={saving || report.clusters.length === 0 || saved}
          title={saved ? 'These clusters are the rater groups now' : 'Store the clusters as rater groups cluster-1, cluster-2, … (for the raterGroup filter and `miru attribute --rater-group`)'}
          onClick={() => (overwritten.length > 0 ? setPending({ kind: 'save' }) : void saveGroups(null))}
        >
          {saved ? 'Saved as rater groups' : saving ? 'Saving…' : 'Save clusters as rater groups'}
        </button>
      </ClusterBar>

      <div className="raters-panels">
        <section className="raters-panel raters-panel-heatmap">
          <div className="raters-panel-head">
            <h3>Agreement</h3>
            <span className="muted">quadratic weighted κ between raters sharing {report.kappa.minCommon}+ images · rows in dendrogram order</span>
          </div>
          <AgreementPanel report={report} input={heat!} selected={selectedRaters} hovered={hover} onHover={onHover} onPick={filterRaters} />
        </section>
        <section className="raters-panel raters-panel-map">
          <div className="raters-panel-head">
            <h3>Rater map</h3>
            <span className="muted">close together: agree with the same people</span>
          </div>
          <RaterMapPanel report={report} rowOf={rowOf} selected={selectedRaters} hovered={hover} onHover={onHover} onPick={pickRater} />
        </section>
      </div>

      <section className="raters-panel">
        <div className="raters-panel-head">
          <h3>Per rater</h3>
          <span className="muted">Spearman and bias against the leave-one-out consensus · quality: CROWDLAB · click a row to filter the grid</span>
        </div>
        <RaterTable report={report} order={heat!.names} selected={selectedRaters} hovered={hover} onHover={onHover} onPick={pickRater} />
      </section>

      {(report.notes.length > 0 || report.clustering.excluded.length > 0) && (
        <section className="raters-notes" data-testid="raters-notes">
          {report.notes.map((n) => (
            <p key={n}>{n}</p>
          ))}
          {report.clustering.excluded.length > 0 && (
            <p>
              Not clustered: {report.clustering.excluded.map((e) => `${e.rater} (${e.reason})`).join('; ')}.
            </p>
          )}
        </section>
      )}
      {hover && <HoverCard hover={hover} rowOf={rowOf} cardRef={card} />}
    </Shell>
  );
}

function Shell({ children, busy }: { children: ReactNode; busy?: boolean }) {
  return (
    <section className="analysis-view raters-view" data-testid="raters-view" aria-busy={busy || undefined}>
      {children}
    </section>
  );
}

// ------------------------------------------------------------------------------------------------------ clusters

function ClusterBar(props: { report: RaterReport; saved: boolean; activeGroup: string | null; spammers: RaterReportRow[]; onCluster(group: string): void; children: ReactNode }) {
  const { report } = props;
  const { clustering } = report;
  const how = clustering.requested === 'auto' ? (clustering.k > 1 ? `chosen by silhouette ${fixed(clustering.silhouette)}` : 'no clear structure') : `asked for, silhouette ${fixed(clustering.silhouette)}`;
  return (
    <div className="raters-clusters" data-testid="raters-clusters">
      <span className="section-title">Clusters</span>
      {report.clusters.length === 0 && <span className="muted">No rater could be clustered (the notes at the bottom say why for each).</span>}
      {report.clusters.map((c) => (
        <button
          key={c.id}
          className={`raters-cluster${props.activeGroup === c.name ? ' on' : ''}`}
          style={{ ['--cluster' as string]: clusterColor(c.id) }}
          data-testid={`raters-cluster-${c.id}`}
          title={`${c.raters.join(', ')}\n${props.saved ? `Click: show the images ${c.name}'s raters rated` : 'Click: save the clusters as rater groups, then show the images this cluster rated'}`}
          onClick={() => props.onCluster(c.name)}
        >
          <span className="raters-swatch" />
          {c.name}
          <span className="raters-cluster-meta">
            {c.size} rater{c.size === 1 ? '' : 's'} · mean {fixed(c.meanConsensus, 2)}
          </span>
        </button>
      ))}
      {props.spammers.length > 0 && (
        <span className="raters-cluster raters-cluster-spam" title={`Flagged as spammers (agree with no cluster), kept out of the clusters:\n${props.spammers.map((s) => s.rater).join(', ')}`} data-testid="raters-spammers">
          <span className="raters-swatch" />
          {props.spammers.length} spammer{props.spammers.length === 1 ? '' : 's'}
        </span>
      )}
      {clustering.k > 0 && (
        <span className="muted raters-k" data-testid="raters-k-chosen">
          k = {clustering.k}, {how}
        </span>
      )}
      <span className="spacer" />
      {props.children}
    </div>
  );
}

// ------------------------------------------------------------------------------------------------------ heatmap

/** Heatmap rows: the dendrogram's leaves, then spammers, then other raters outside every cluster. */
function heatmapInput(report: RaterReport): HeatmapInput & { names: string[] } {
  const clusterOf = new Map(report.raters.map((r) => [r.rater, r]));
  const leaves = report.dendrogram.leafOrder;
  const inTree = new Set(leaves);
  const rest = report.raters.filter((r) => !inTree.has(r.rater)).sort((a, b) => Number(b.spammer) - Number(a.spammer));
  const names = [...leaves, ...rest.map((r) => r.rater)];
  const index = new Map(report.kappa.raters.map((r, i) => [r, i]));
  const order = names.map((n) => index.get(n)!);
  const leafRow = new Map(leaves.map((n, i) => [n, i]));
  const n = leaves.length;
  // Merges name leaves by their index in dendrogram.raters; the drawing wants them by row.
  const remap = (node: number) => (node < n ? leafRow.get(report.dendrogram.raters[node]!)! : node);
  return {
    names,
    rows: names.map((name) => ({ rater: name, cluster: clusterOf.get(name)?.cluster ?? null, spammer: clusterOf.get(name)?.spammer ?? false })),
    kappa: order.map((i) => order.map((j) => report.kappa.matrix[i]![j] ?? null)),
    merges: report.dendrogram.merges.map((m) => ({ left: remap(m.left), right: remap(m.right), height: m.height })),
    leaves: n,
    k: report.clustering.k,
  };
}

const AgreementPanel = memo(function AgreementPanel(props: { report: RaterReport; input: ReturnType<typeof heatmapInput>; selected: ReadonlySet<string>; hovered: Hover | null; onHover(h: Hover | null): void; onPick(raters: string[]): void }) {
  const host = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const width = useWidth(host);
  const input = props.input;
  const geometry = useMemo<HeatmapGeometry | null>(() => (width > 0 ? heatmapGeometry(width, input) : null), [width, input]);
  const common = props.report.kappa.common;
  const index = useMemo(() => new Map(props.report.kappa.raters.map((r, i) => [r, i])), [props.report]);

  useEffect(() => {
    if (canvas.current && geometry) drawHeatmap(canvas.current, input, geometry);
  }, [input, geometry]);

  const at = (e: ReactMouseEvent) => {
    if (!geometry || !canvas.current) return null;
    const box = canvas.current.getBoundingClientRect();
    return hitTest(geometry, e.clientX - box.left, e.clientY - box.top);
  };
  const rowOfName = useMemo(() => new Map(input.names.map((n, i) => [n, i])), [input]);
  // Crosshair bands: the hovered rater (from any panel) and, over a cell, the other rater's column.
  const hoverRow = props.hovered ? rowOfName.get(props.hovered.kind === 'rater' ? props.hovered.rater : props.hovered.a) : undefined;
  const hoverCol = props.hovered?.kind === 'pair' ? rowOfName.get(props.hovered.b) : undefined;
  // A few filtered raters get a band each; a whole cluster is already marked by its colour strip, and dozens of
  // bands would hide the cells they frame.
  const selectedRows = props.selected.size > 16 ? [] : input.names.map((n, i) => (props.selected.has(n) ? i : -1)).filter((i) => i >= 0);

  return (
    <div className="raters-heatmap-host" ref={host}>
      {geometry && (
        <div className="raters-heatmap-frame" style={{ width: geometry.width, height: geometry.height }}>
          <canvas
            ref={canvas}
            className="raters-heatmap"
            data-testid="raters-heatmap"
            data-raters={input.names.length}
            data-order={input.names.join(',')}
            data-cell={geometry.cell}
            data-width={geometry.width}
            data-grid-x={geometry.gridX}
            data-grid-y={geometry.gridY}
            onMouseMove={(e) => {
              const hit = at(e);
              if (!hit) return props.onHover(null);
              const a = input.names[hit.row]!;
              if (hit.col === null || hit.col === hit.row) return props.onHover({ kind: 'rater', rater: a, x: e.clientX, y: e.clientY });
              const b = input.names[hit.col]!;
              props.onHover({ kind: 'pair', a, b, kappa: input.kappa[hit.row]![hit.col] ?? null, common: common[index.get(a)!]![index.get(b)!]!, x: e.clientX, y: e.clientY });
            }}
            onMouseLeave={() => props.onHover(null)}
            onClick={(e) => {
              const hit = at(e);
              if (!hit) return;
              const a = input.names[hit.row]!;
              props.onPick(hit.col === null || hit.col === hit.row ? [a] : [a, input.names[hit.col]!]);
            }}
          />
          {selectedRows.map((row) => (
            <div key={`s${row}`} className="raters-band raters-band-selected" style={{ top: geometry.gridY + row * geometry.cell, left: geometry.stripX, width: geometry.gridX - geometry.stripX + geometry.n * geometry.cell, height: geometry.cell }} />
          ))}
          {hoverRow !== undefined && (
            <div className="raters-band" style={{ top: geometry.gridY + hoverRow * geometry.cell, left: geometry.stripX, width: geometry.gridX - geometry.stripX + geometry.n * geometry.cell, height: geometry.cell }} />
          )}
          {hoverCol !== undefined && <div className="raters-band" style={{ left: geometry.gridX + hoverCol * geometry.cell, top: 0, height: geometry.gridY + geometry.n * geometry.cell, width: geometry.cell }} />}
        </div>
      )}
      {!props.report.kappa.matrix.some((row, i) => row.some((k, j) => i !== j && k !== null)) && (
        <p className="raters-panel-hint" data-testid="raters-no-pairs">
          No two raters share {props.report.kappa.minCommon} or more images, so no pair has a kappa yet: more ratings per rater (or on the same images) fill this in.
        </p>
      )}
      <div className="raters-legend">
        <span>{KAPPA_NEGATIVE_FLOOR}</span>
        <span className="raters-legend-bar" style={{ background: kappaGradient() }} />
        <span>1</span>
        <span className="raters-legend-item">
          <span className="raters-legend-swatch raters-legend-missing" /> under {props.report.kappa.minCommon} shared images
        </span>
        {input.leaves > 0 && input.leaves < input.names.length && <span className="raters-legend-item">below the dashed line: not clustered</span>}
      </div>
    </div>
  );
});

// ------------------------------------------------------------------------------------------------------ map

const RaterMapPanel = memo(function RaterMapPanel(props: { report: RaterReport; rowOf: Map<string, RaterReportRow>; selected: ReadonlySet<string>; hovered: Hover | null; onHover(h: Hover | null): void; onPick(rater: string): void }) {
  const host = useRef<HTMLDivElement>(null);
  const width = useWidth(host);
  const { points, explained, excluded } = props.report.embedding;
  // Beside the heatmap the map is a column (about square); under it, a wide strip.
  const height = Math.round(width > 480 ? Math.min(340, width * 0.55) : Math.min(420, Math.max(220, width * 0.85)));
  const pad = 16;
  // One scale for both axes: distances on the map mean something, so it must not stretch.
  const layout = useMemo(() => {
    if (points.length === 0 || width === 0) return null;
    const xs = points.map((p) => p.x);
    const ys = points.map((p) => p.y);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const span = Math.max(x1 - x0, y1 - y0, 1e-9);
    const scale = Math.min((width - 2 * pad) / Math.max(x1 - x0, span * 0.2), (height - 2 * pad) / Math.max(y1 - y0, span * 0.2));
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    return { x: (v: number) => width / 2 + (v - cx) * scale, y: (v: number) => height / 2 - (v - cy) * scale };
  }, [points, width, height]);
  const hovered = props.hovered?.kind === 'rater' ? props.hovered.rater : props.hovered?.kind === 'pair' ? props.hovered.a : null;
  const hoveredPoint = hovered === null ? undefined : points.find((p) => p.rater === hovered);
  const radius = points.length > 80 ? 3.5 : 5;
  const { rowOf, selected, onHover, onPick } = props;
  // The points do not depend on the hover (a ring is drawn over the hovered one), so moving the pointer over a
  // 200-rater panel re-renders one element here, not 200.
  const dots = useMemo(() => {
    if (!layout) return null;
    // Selected points are drawn last, on top.
    const ordered = [...points].sort((a, b) => Number(selected.has(a.rater)) - Number(selected.has(b.rater)));
    return ordered.map((p) => {
      const row = rowOf.get(p.rater);
      const chosen = selected.has(p.rater);
      const color = clusterColor(row?.cluster ?? null, row?.spammer ?? false);
      return (
        <circle
          key={p.rater}
          data-rater={p.rater}
          className={`raters-point${row?.spammer ? ' spammer' : ''}${chosen ? ' selected' : ''}`}
          cx={layout.x(p.x)}
          cy={layout.y(p.y)}
          r={chosen ? radius + 2.5 : radius}
          fill={row?.spammer ? 'transparent' : color}
          stroke={row?.spammer ? color : undefined}
          onMouseMove={(e) => onHover({ kind: 'rater', rater: p.rater, x: e.clientX, y: e.clientY })}
          onClick={() => onPick(p.rater)}
        />
      );
    });
  }, [layout, points, rowOf, selected, radius, onHover, onPick]);
  return (
    <div className="raters-map-host" ref={host}>
      {points.length < 2 ? (
        <p className="raters-panel-hint" data-testid="raters-map-empty">
          Nothing to place yet: a rater is on the map once it shares {props.report.kappa.minCommon} or more images with at least two others.
        </p>
      ) : (
      <svg className="raters-map" data-testid="raters-map" data-points={points.length} width={width} height={height} onMouseLeave={() => props.onHover(null)}>
        {layout && (
          <>
            <line className="raters-map-axis" x1={pad} x2={width - pad} y1={layout.y(0)} y2={layout.y(0)} />
            <line className="raters-map-axis" y1={pad} y2={height - pad} x1={layout.x(0)} x2={layout.x(0)} />
            {dots}
            {hoveredPoint && <circle className="raters-point-ring" cx={layout.x(hoveredPoint.x)} cy={layout.y(hoveredPoint.y)} r={radius + 4} />}
          </>
        )}
      </svg>
      )}
      <div className="raters-legend">
        {points.length >= 2 && (
          <span title="Classical multidimensional scaling of the raters' agreement profiles: how much of their spread each axis shows">
            axis 1 {Math.round(explained[0] * 100)}% · axis 2 {Math.round(explained[1] * 100)}% of the spread
          </span>
        )}
        {points.length >= 2 && (
          <span className="raters-legend-item">
            <span className="raters-legend-swatch raters-legend-spam" /> spammer
          </span>
        )}
        {excluded.length > 0 && <span title={excluded.map((e) => `${e.rater}: ${e.reason}`).join('\n')}>{excluded.length} not on the map</span>}
      </div>
    </div>
  );
});

// ------------------------------------------------------------------------------------------------------ table

type SortKey = 'order' | 'rater' | 'cluster' | 'count' | 'spearman' | 'bias' | 'quality';
const COLUMNS: { key: SortKey; label: string; numeric: boolean; title: string }[] = [
  { key: 'rater', label: 'Rater', numeric: false, title: 'Rater name' },
  { key: 'cluster', label: 'Cluster', numeric: false, title: 'Rater cluster (– outside every cluster)' },
  { key: 'count', label: 'Ratings', numeric: true, title: 'Ratings by this rater' },
  { key: 'spearman', label: 'Spearman', numeric: true, title: 'Spearman correlation with the mean of the other raters on the same images' },
  { key: 'bias', label: 'Bias', numeric: true, title: 'Mean offset from the other raters (positive: more generous)' },
  { key: 'quality', label: 'Quality', numeric: true, title: 'CROWDLAB rater quality, 0..1' },
];

function sortValue(r: RaterReportRow, key: SortKey, order: Map<string, number>): number | string | null {
  switch (key) {
    case 'order':
      return order.get(r.rater) ?? Number.MAX_SAFE_INTEGER;
    case 'rater':
      return r.rater;
    case 'cluster':
      return r.cluster ?? (r.spammer ? 1000 : 999);
    default:
      return r[key];
  }
}

const RaterTable = memo(function RaterTable(props: { report: RaterReport; order: string[]; selected: ReadonlySet<string>; hovered: Hover | null; onHover(h: Hover | null): void; onPick(rater: string): void }) {
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: 'order', descending: false });
  const order = useMemo(() => new Map(props.order.map((n, i) => [n, i])), [props.order]);
  const rows = useMemo(() => {
    const list = [...props.report.raters];
    list.sort((a, b) => {
      const va = sortValue(a, sort.key, order);
      const vb = sortValue(b, sort.key, order);
      // Missing values sort last either way.
      if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
      const c = typeof va === 'string' ? va.localeCompare(vb as string) : va - (vb as number);
      return sort.descending ? -c : c;
    });
    return list;
  }, [props.report, sort, order]);
  const hovered = props.hovered?.kind === 'rater' ? props.hovered.rater : props.hovered?.kind === 'pair' ? props.hovered.a : null;
  const body = useRef<HTMLTableSectionElement>(null);
  // The hovered row is marked on the element itself: a hover must not re-render 200 rows.
  useEffect(() => {
    if (hovered === null || !body.current) return;
    const row = [...body.current.rows].find((r) => r.dataset.rater === hovered);
    row?.classList.add('hovered');
    return () => row?.classList.remove('hovered');
  }, [hovered, rows]);
  const maxCount = Math.max(1, ...props.report.raters.map((r) => r.count));
  const { selected, onPick, onHover } = props;
  const bodyRows = useMemo(
    () =>
      rows.map((r) => (
        <tr
          key={r.rater}
          data-rater={r.rater}
          className={`${selected.has(r.rater) ? 'selected' : ''}${r.spammer ? ' spammer' : ''}`}
          title={r.notes.join('\n') || undefined}
          onClick={() => onPick(r.rater)}
          onMouseEnter={(e) => onHover({ kind: 'rater', rater: r.rater, x: e.clientX, y: e.clientY })}
          onMouseLeave={() => onHover(null)}
        >
          <td className="raters-name">{r.rater}</td>
          <td>
            {r.cluster !== null ? (
              <span className="raters-cluster-tag" style={{ ['--cluster' as string]: clusterColor(r.cluster) }}>
                <span className="raters-swatch" />
                {r.cluster}
              </span>
            ) : (
              <span className="muted">–</span>
            )}
          </td>
          <td className="num">
            <span className="raters-count-bar" style={{ width: `${(r.count / maxCount) * 100}%` }} />
            <span className="raters-cell-text">{formatCount(r.count)}</span>
          </td>
          <td className="num">{fixed(r.spearman)}</td>
          <td className={`num ${r.bias !== null && Math.abs(r.bias) >= 0.3 ? (r.bias > 0 ? 'raters-bias-up' : 'raters-bias-down') : ''}`}>{signed(r.bias)}</td>
          <td className="num raters-quality">
            {r.quality !== null && <span className="raters-quality-bar" style={{ width: `${Math.max(0, Math.min(1, r.quality)) * 100}%` }} />}
            <span className="raters-cell-text">{fixed(r.quality)}</span>
          </td>
          <td>{r.spammer && <span className="raters-spam-pill">spammer</span>}</td>
        </tr>
      )),
    [rows, selected, onPick, onHover, maxCount],
  );
  const toggle = (key: SortKey) => setSort((s) => (s.key === key ? { key, descending: !s.descending } : { key, descending: COLUMNS.find((c) => c.key === key)!.numeric }));
  return (
    <div className="raters-table-wrap">
      <table className="raters-table" data-testid="raters-table">
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th key={c.key} className={c.numeric ? 'num' : ''} title={c.title} aria-sort={sort.key === c.key ? (sort.descending ? 'descending' : 'ascending') : 'none'}>
                <button className="raters-sort" data-testid={`raters-sort-${c.key}`} onClick={() => toggle(c.key)}>
                  {c.label}
                  <span className="raters-sort-mark">{sort.key === c.key ? (sort.descending ? '↓' : '↑') : ''}</span>
                </button>
              </th>
            ))}
            <th title="Flagged as a spammer: agrees with no cluster">Spammer</th>
          </tr>
        </thead>
        <tbody ref={body}>{bodyRows}</tbody>
      </table>
    </div>
  );
});

// ------------------------------------------------------------------------------------------------------ hover

function cardPosition(hover: Hover): { left: string; top: string } {
  return { left: `${Math.min(hover.x + 14, window.innerWidth - 260)}px`, top: `${Math.min(hover.y + 14, window.innerHeight - 170)}px` };
}

function HoverCard({ hover, rowOf, cardRef }: { hover: Hover; rowOf: Map<string, RaterReportRow>; cardRef: RefObject<HTMLDivElement | null> }) {
  const style = cardPosition(hover);
  if (hover.kind === 'pair') {
    return (
      <div className="raters-hover" style={style} ref={cardRef} data-testid="raters-hover">
        <div className="raters-hover-title">
          {hover.a} × {hover.b}
        </div>
        <div>{hover.kappa === null ? `κ not computed: ${hover.common} shared image${hover.common === 1 ? '' : 's'}` : `κ ${hover.kappa.toFixed(3)} over ${formatCount(hover.common)} shared images`}</div>
        <div className="muted">Click: images both rated</div>
      </div>
    );
  }
  const r = rowOf.get(hover.rater);
  if (!r) return null;
  return (
    <div className="raters-hover" style={style} ref={cardRef} data-testid="raters-hover">
      <div className="raters-hover-title">
        {r.rater}
        {r.spammer ? <span className="raters-spam-pill">spammer</span> : r.cluster !== null ? <span className="muted"> · cluster-{r.cluster}</span> : null}
      </div>
      <div className="raters-hover-grid">
        <span>ratings</span>
        <span>{formatCount(r.count)}</span>
        <span>Spearman</span>
        <span>{fixed(r.spearman)}</span>
        <span>bias</span>
        <span>{signed(r.bias)}</span>
        <span>quality</span>
        <span>{fixed(r.quality)}</span>
        <span>scale</span>
        <span>
          {r.scale.min}–{r.scale.max} ({Math.round(r.scale.coverage * 100)}%)
        </span>
      </div>
      {r.notes.length > 0 && <div className="raters-hover-notes">{r.notes[0]}</div>}
      <div className="muted">Click: images this rater rated</div>
    </div>
  );
}
