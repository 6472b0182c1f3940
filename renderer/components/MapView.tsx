/**
 * The embedding map view (issue 6): a stored projection drawn by the WebGL engine (viz/embeddingMap.ts), coloured
 * by any field, with the thumbnail of the point under the pointer, and a lasso whose selection becomes the grid's
 * filter (`selection=ID`); the grid's own selection is ringed on the map. Loaded lazily: three.js is only fetched
 * when someone opens the map.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import type { AnalysisInfo, FieldInfo, ImageDetail, ProjectionPoints } from '../../core/api/apiTypes.js';
import { EmbeddingMap } from '../viz/embeddingMap.js';
import { colormapGradient, colormapLut } from '../viz/saliencyColor.js';
import { useServices } from './appContext.js';
import { formatCount } from '../state/format.js';

interface Props {
  /** The projection to show (analysis id); null: the newest. */
  mapId: number | null;
  color: string | null;
  fields: FieldInfo[];
  tags: { tag: string; count: number }[];
  raterGroups: string[];
  /** The grid's selection, ringed on the map. */
  highlighted: ReadonlySet<number>;
  /** The selection filter in force, if any (its id). */
  selection: number | null;
  revision: number;
  onMap(id: number | null): void;
  onColor(field: string | null): void;
  /** A lasso was stored as selection `id`: filter the grid to it. */
  onSelection(id: number | null): void;
  onOpen(id: number): void;
  /** Opens the jobs drawer on the map job (for the empty state). */
  onCompute(): void;
}

interface ColorOption {
  value: string;
  label: string;
  group: string;
}

/** Stored analyses with one number per image that is worth colouring by. */
const COLOUR_KINDS: Record<string, string> = {
  outliers: 'Outlier score',
  'label-issues': 'Label quality',
  consensus: 'Consensus',
  'pseudo-labels': 'Pseudo-label',
  'soft-labels': 'Soft label (expected rating)',
  probe: 'Probe prediction',
  'rater-models': 'Rater-model disagreement',
  'near-duplicates': 'Duplicate group',
  'image-issues': 'Odd-image score',
};

function analysisLabel(a: AnalysisInfo): string {
  // The recipe's distinguishing parameter: a map's method, an odd-image check's issue, a probe's head.
  const recipe = [a.params.method, a.params.issue, a.params.head].find((v) => typeof v === 'string');
  const method = typeof recipe === 'string' ? recipe : a.kind;
  return `#${a.id} ${a.model ?? ''} ${method}`.replace(/\s+/g, ' ').trim();
}

/** The 2nd and 98th percentiles of the finite values: one extreme point must not wash out the colours. */
function robustRange(values: Float32Array): [number, number] | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  finite.sort();
  const lo = finite[Math.floor((finite.length - 1) * 0.02)]!;
  const hi = finite[Math.ceil((finite.length - 1) * 0.98)]!;
  return lo === hi ? [finite[0]!, finite[finite.length - 1]!] : [lo, hi];
}

function formatValue(v: number): string {
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(Math.abs(v) < 1 ? 3 : 2);
}

export function MapView(props: Props) {
  const { client, toast } = useServices();
  const host = useRef<HTMLDivElement>(null);
  const engine = useRef<EmbeddingMap | null>(null);
  const [projections, setProjections] = useState<AnalysisInfo[] | null>(null);
  const [colourAnalyses, setColourAnalyses] = useState<AnalysisInfo[]>([]);
  const [points, setPoints] = useState<ProjectionPoints | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [legend, setLegend] = useState<{ lo: number; hi: number; binary: boolean; missing: number } | null>(null);
  const [hover, setHover] = useState<{ id: number; index: number; x: number; y: number; detail: ImageDetail | null } | null>(null);
  const [lassoTool, setLassoTool] = useState(false);
  const [lassoCount, setLassoCount] = useState<number | null>(null);
  const values = useRef<Float32Array | null>(null);
  /** The points the engine shows, for the lasso callback (state would be stale inside it). */
  const pointsRef = useRef<ProjectionPoints | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const details = useRef(new Map<number, ImageDetail>());

  // The engine lives as long as the view.
  useEffect(() => {
    const map = new EmbeddingMap(
      {
        onHover: (id, index, x, y) => {
          if (id === null) return setHover(null);
          const cached = details.current.get(id) ?? null;
          setHover({ id, index, x, y, detail: cached });
          if (!cached)
            client.call('imageDetail', { id }).then((d) => {
              details.current.set(id, d);
              setHover((h) => (h && h.id === id ? { ...h, detail: d } : h));
            }, () => undefined);
        },
        onLasso: (polygon, inside) => {
          const current = pointsRef.current;
          if (inside.length === 0 || !current) return;
          client.call('saveSelection', { analysisId: current.analysisId, polygon }).then(
            (saved) => latest.current.onSelection(saved.id),
            (e: unknown) => toast('error', (e as Error).message),
          );
        },
        onOpen: (id) => latest.current.onOpen(id),
      },
      colormapLut('viridis'),
    );
    map.attach(host.current!);
    engine.current = map;
    if (map.error) setError(map.error);
    // For the benchmark and for people poking at the page: the engine of the map on screen.
    (window as unknown as { miruMap?: EmbeddingMap }).miruMap = map;
    return () => {
      map.dispose();
      engine.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // The projections there are, and the analyses that can colour them.
  useEffect(() => {
    client.call('listAnalyses', {}).then(
      (list) => {
        setProjections(list.filter((a) => a.kind === 'projection'));
        setColourAnalyses(list.filter((a) => a.kind in COLOUR_KINDS));
      },
      (e: unknown) => setError((e as Error).message),
    );
  }, [client, props.revision]);

  const current = projections?.find((p) => p.id === props.mapId) ?? projections?.[0] ?? null;

  // The chosen projection's points.
  useEffect(() => {
    if (!current) return;
    let live = true;
    setLoading(true);
    client.call('projectionPoints', { analysisId: current.id }).then(
      (p) => {
        if (!live) return;
        pointsRef.current = p;
        setPoints(p);
        engine.current?.setPoints(p);
        setLoading(false);
      },
      (e: unknown) => live && (setError((e as Error).message), setLoading(false)),
    );
    return () => {
      live = false;
    };
  }, [client, current?.id]);

  // Colours for the chosen field.
  useEffect(() => {
    const map = engine.current;
    if (!map || !points) return;
    if (!props.color) {
      values.current = null;
      map.setColors(null, 0, 1);
      setLegend(null);
      return;
    }
    let live = true;
    client.call('fieldValues', { field: props.color, analysisId: points.analysisId }).then(
      (result) => {
        if (!live) return;
        values.current = result.values;
        const binary = result.scale === 'binary';
        const range = binary ? ([0, 1] as [number, number]) : robustRange(result.values);
        const missing = result.values.reduce((n, v) => (Number.isFinite(v) ? n : n + 1), 0);
        map.setColors(result.values, range?.[0] ?? 0, range?.[1] ?? 1);
        setLegend(range ? { lo: range[0], hi: range[1], binary, missing } : null);
      },
      (e: unknown) => live && toast('error', (e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [client, toast, points, props.color, props.revision]);

  useEffect(() => {
    engine.current?.setHighlighted(props.highlighted);
  }, [props.highlighted, points]);

  // The selection in force (a lasso, or one named in the URL): the points outside it fade back.
  useEffect(() => {
    const map = engine.current;
    if (!map || !points) return;
    if (props.selection === null) return map.setMembers(null);
    let live = true;
    client.call('fieldValues', { field: `analysis:${props.selection}`, analysisId: points.analysisId }).then(
      (result) => {
        if (!live) return;
        const members = new Uint8Array(result.values.length);
        let count = 0;
        result.values.forEach((v, i) => {
          if (Number.isFinite(v)) (members[i] = 1), count++;
        });
        setLassoCount(count);
        map.setMembers(members);
      },
      () => live && map.setMembers(null),
    );
    return () => {
      live = false;
    };
  }, [client, points, props.selection]);

  useEffect(() => {
    engine.current?.setLassoTool(lassoTool);
  }, [lassoTool]);

  const options = useMemo<ColorOption[]>(() => {
    const out: ColorOption[] = [];
    for (const f of props.fields) if (f.name !== 'id') out.push({ value: f.name, label: f.label, group: f.group === 'scores' ? 'Scores' : f.group === 'ratings' ? 'Ratings' : 'Image' });
    for (const a of colourAnalyses) out.push({ value: `analysis:${a.id}`, label: `${COLOUR_KINDS[a.kind]} (${analysisLabel(a)})`, group: 'Analyses' });
    for (const g of props.raterGroups) out.push({ value: `raterGroup:${g}`, label: `Mean rating of ${g}`, group: 'Rater groups' });
    for (const t of props.tags) out.push({ value: `tag:${t.tag}`, label: `Tagged ${t.tag}`, group: 'Tags' });
    return out;
  }, [props.fields, props.tags, props.raterGroups, colourAnalyses]);
  const groups = [...new Set(options.map((o) => o.group))];

  const hoverValue = hover && values.current ? values.current[hover.index] : undefined;

  return (
    <section className="map-view" data-testid="map-view">
      <div className="map-toolbar">
        <label className="tool">
          <span>Map</span>
          <select className="input" data-testid="map-select" value={current?.id ?? ''} onChange={(e) => props.onMap(e.target.value ? Number(e.target.value) : null)} disabled={!projections?.length}>
            {!projections?.length && <option value="">none yet</option>}
            {(projections ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {analysisLabel(p)} · {formatCount(p.count)} points{p.stale.length ? ' · out of date' : ''}
              </option>
            ))}
          </select>
        </label>
        {current && current.stale.length > 0 && (
          <span className="map-stale" data-testid="map-stale" title={`${current.stale.join('; ')}: make the map again (Jobs) to include the changes`}>
            Out of date
          </span>
        )}
        <label className="tool">
          <span>Colour</span>
          <select className="input" data-testid="map-color" value={props.color ?? ''} onChange={(e) => props.onColor(e.target.value || null)}>
            <option value="">none</option>
            {groups.map((g) => (
              <optgroup key={g} label={g}>
                {options
                  .filter((o) => o.group === g)
                  .map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
              </optgroup>
            ))}
          </select>
        </label>
        <button className={`btn btn-ghost${lassoTool ? ' on' : ''}`} aria-pressed={lassoTool} data-testid="lasso-tool" title="Lasso: drag around points to select them (or hold Shift while dragging)" onClick={() => setLassoTool((on) => !on)}>
          Lasso
        </button>
        {props.selection !== null && (
          <button className="btn btn-ghost" data-testid="clear-lasso" onClick={() => (setLassoCount(null), props.onSelection(null))}>
            Clear selection{lassoCount !== null ? ` (${formatCount(lassoCount)})` : ''}
          </button>
        )}
        <span className="spacer" />
        {legend && (
          <div className="map-legend" data-testid="map-legend">
            {legend.binary ? (
              <>
                <span className="legend-swatch" style={{ background: 'rgb(68, 1, 84)' }} /> no
                <span className="legend-swatch" style={{ background: 'rgb(253, 231, 37)' }} /> yes
              </>
            ) : (
              <>
                <span className="legend-value">{formatValue(legend.lo)}</span>
                <span className="legend-bar" style={{ background: colormapGradient('viridis') }} />
                <span className="legend-value">{formatValue(legend.hi)}</span>
              </>
            )}
            {legend.missing > 0 && <span className="legend-missing" title="Points without a value are grey">{formatCount(legend.missing)} without</span>}
          </div>
        )}
      </div>
      <div className="map-stage" ref={host} data-testid="map-stage" data-points={points?.ids.length ?? 0} data-loading={loading || undefined}>
        {projections !== null && projections.length === 0 && (
          <div className="empty-state map-empty" data-testid="map-empty">
            <h3>No map yet</h3>
            <p>A map places every image by its embedding, so similar images sit together. Embed the library with a model (an embed job), then make a map of its embeddings.</p>
            <button className="btn btn-primary" data-testid="map-compute" onClick={props.onCompute}>
              Make a map…
            </button>
            <p className="hint">or from a terminal:</p>
            <code>miru embed --db LIBRARY --model MODEL</code>
            <code>miru project --db LIBRARY --embedding MODEL --method umap</code>
          </div>
        )}
        {error && <div className="empty-state map-empty">{error}</div>}
        {loading && <div className="map-loading">Loading {current ? formatCount(current.count) : ''} points…</div>}
      </div>
      {hover && (
        <div className="map-hover" style={{ left: hover.x + 14, top: hover.y + 14 }} data-testid="map-hover">
          {hover.detail?.hash ? <img src={client.thumbUrl(hover.detail.hash)} alt="" /> : <div className="map-hover-blank" />}
          <div className="map-hover-text">
            <span>#{hover.id}</span>
            {hoverValue !== undefined && Number.isFinite(hoverValue) && <span>{formatValue(hoverValue)}</span>}
          </div>
          {hover.detail && <div className="map-hover-path">{hover.detail.relPath}</div>}
        </div>
      )}
    </section>
  );
}
