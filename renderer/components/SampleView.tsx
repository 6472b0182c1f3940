/**
 * The sample view: one image at full resolution, its saliency overlay (model, method, layer, target, colormap,
 * opacity), an optional second pane comparing two methods or two models, and the facts about the image: score and
 * class probabilities, ratings per rater, statistics, editable tags. Left/right arrows walk the current listing.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { scaleLinear } from 'd3-scale';
import type { FilterExpression, ImageDetail, ModelSummary } from '../../core/api/apiTypes.js';
import { COLORMAPS, colormapGradient, type ColormapName } from '../viz/saliencyColor.js';
import { cardGeometry } from '../viz/saliencyGeometry.js';
import { formatBytes, formatValue } from '../state/format.js';
import { SaliencyPane, ViewLink, type OverlayRequest } from './SaliencyPane.js';
import { useServices } from './appContext.js';
import { isTextEntry, ownsNavigationKeys } from '../state/keys.js';

export const SALIENCY_METHODS = ['gradcam', 'hirescam', 'xgradcam', 'gradcam++', 'layercam', 'ablationcam', 'scorecam', 'eigencam', 'occlusion', 'rise', 'gradients', 'integrated-gradients', 'smoothgrad'];

interface Props {
  id: number;
  filters: FilterExpression[];
  sort: string | null;
  models: ModelSummary[];
  scoreModel: string | null;
  knownTags: string[];
  revision: number;
  onClose(): void;
  onNavigate(id: number): void;
  onTag(tag: string, add: boolean, ids: number[]): void;
  onDetail(detail: ImageDetail | null): void;
  onOpenModels(): void;
}

interface OverlaySettings {
  on: boolean;
  model: string;
  method: string;
  layer: string;
  target: string;
  colormap: ColormapName;
  opacity: number;
  compare: 'off' | 'methods' | 'models';
  method2: string;
  model2: string;
}

const SETTINGS_KEY = 'miru.overlay';

function loadSettings(): Partial<OverlaySettings> {
  try {
    return JSON.parse(window.localStorage.getItem(SETTINGS_KEY) ?? '{}') as Partial<OverlaySettings>;
  } catch {
    return {};
  }
}

export function SampleView(props: Props) {
  const { client, toast } = useServices();
  const [detail, setDetail] = useState<ImageDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [neighbours, setNeighbours] = useState<{ for: number; previous: number | null; next: number | null }>({ for: -1, previous: null, next: null });
  /** An arrow pressed before this image's neighbours arrived: followed as soon as they do. */
  const pendingStep = useRef<'previous' | 'next' | null>(null);
  const [settings, setSettings] = useState<OverlaySettings>(() => {
    const saved = loadSettings();
    const first = props.scoreModel ?? props.models[0]?.name ?? '';
    return {
      on: false,
      model: saved.model && props.models.some((m) => m.name === saved.model) ? saved.model : first,
      method: saved.method ?? 'gradcam',
      layer: '',
      target: '',
      colormap: saved.colormap ?? 'inferno',
      opacity: saved.opacity ?? 0.55,
      compare: 'off',
      method2: saved.method2 ?? 'scorecam',
      model2: props.models.find((m) => m.name !== first)?.name ?? first,
    };
  });
  const link = useMemo(() => new ViewLink(), []);
  const latest = useRef(props);
  latest.current = props;

  const update = (patch: Partial<OverlaySettings>) =>
    setSettings((s) => {
      const next = { ...s, ...patch };
      try {
        window.localStorage.setItem(SETTINGS_KEY, JSON.stringify({ model: next.model, method: next.method, colormap: next.colormap, opacity: next.opacity, method2: next.method2 }));
      } catch {
        // not persisted
      }
      return next;
    });

  useEffect(() => {
    let live = true;
    setError(null);
    client.call('imageDetail', { id: props.id }).then(
      (d) => {
        if (!live) return;
        setDetail(d);
        latest.current.onDetail(d);
      },
      (e: unknown) => live && setError((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [client, props.id, props.revision]);

  useEffect(() => () => latest.current.onDetail(null), []);

  useEffect(() => {
    let live = true;
    client.call('neighbours', { id: props.id, filters: props.filters, sort: props.sort ?? undefined }).then(
      (n) => {
        if (!live) return;
        setNeighbours({ for: props.id, ...n });
        const step = pendingStep.current;
        pendingStep.current = null;
        const target = step ? n[step] : null;
        if (target !== null) latest.current.onNavigate(target);
      },
      () => live && setNeighbours({ for: props.id, previous: null, next: null }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, props.id, JSON.stringify(props.filters), props.sort]);

  const step = (direction: 'previous' | 'next') => {
    if (neighbours.for !== latest.current.id) pendingStep.current = direction;
    else if (neighbours[direction] !== null) latest.current.onNavigate(neighbours[direction]);
  };
  const settled = neighbours.for === props.id;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTextEntry(e.target)) return;
      if (e.key === 'Escape') {
        // Esc in a control only leaves the control; a second Esc closes the view.
        if (e.target instanceof HTMLElement && e.target !== document.body && ownsNavigationKeys(e.target)) e.target.blur();
        else latest.current.onClose();
        e.preventDefault();
        return;
      }
      if (ownsNavigationKeys(e.target)) return;
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') step(e.key === 'ArrowLeft' ? 'previous' : 'next');
      else if (e.key === 'o' && !e.ctrlKey && !e.metaKey) update({ on: !settings.on });
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [neighbours, settings.on]);

  const modelA = props.models.find((m) => m.name === settings.model) ?? null;
  const modelB = props.models.find((m) => m.name === (settings.compare === 'models' ? settings.model2 : settings.model)) ?? null;
  const overlayA: OverlayRequest | null = settings.on && modelA ? { model: modelA.name, method: settings.method, layer: settings.layer, target: settings.target } : null;
  const overlayB: OverlayRequest | null =
    settings.compare === 'off' || !modelB
      ? null
      : { model: modelB.name, method: settings.compare === 'methods' ? settings.method2 : settings.method, layer: settings.compare === 'methods' ? settings.layer : '', target: settings.target };
  const labels = useMemo(() => targetLabels(modelA), [modelA]);

  const imageUrl = client.imageUrl(props.id);
  const thumbUrl = detail?.hash ? client.thumbUrl(detail.hash) : null;
  const comparing = settings.compare !== 'off';

  return (
    <div className="sample" data-testid="sample-view" data-image-id={props.id}>
      <header className="sample-bar">
        <button className="btn btn-ghost" onClick={props.onClose} title="Back to the grid (Esc)" data-testid="sample-close">
          ← Grid
        </button>
        <div className="sample-path" title={detail?.path}>
          {detail?.relPath ?? '…'}
        </div>
        <div className="sample-nav">
          <button className="btn btn-ghost" disabled={settled && neighbours.previous === null} onClick={() => step('previous')} title="Previous (←)" data-testid="sample-prev">
            ‹ Prev
          </button>
          <button className="btn btn-ghost" disabled={settled && neighbours.next === null} onClick={() => step('next')} title="Next (→)" data-testid="sample-next">
            Next ›
          </button>
        </div>
      </header>
      <div className="sample-body">
        <div className={`sample-panes ${comparing ? 'compare' : ''}`}>
          <SaliencyPane
            testId="pane-a"
            imageId={props.id}
            imageUrl={imageUrl}
            thumbUrl={thumbUrl}
            width={detail?.width ?? null}
            height={detail?.height ?? null}
            overlay={overlayA}
            geometry={cardGeometry(modelA?.card)}
            colormap={settings.colormap}
            opacity={settings.opacity}
            link={link}
          />
          {comparing && (
            <SaliencyPane
              testId="pane-b"
              imageId={props.id}
              imageUrl={imageUrl}
              thumbUrl={thumbUrl}
              width={detail?.width ?? null}
              height={detail?.height ?? null}
              overlay={overlayB}
              geometry={cardGeometry(modelB?.card)}
              colormap={settings.colormap}
              opacity={settings.opacity}
              link={link}
            />
          )}
        </div>
        <aside className="sample-info">
          {error && (
            <div className="inline-error" role="alert">
              {error}
            </div>
          )}
          <section className="section" data-testid="overlay-controls">
            <div className="section-row">
              <span className="section-title">Saliency overlay</span>
              <label className="switch">
                <input type="checkbox" checked={settings.on} disabled={props.models.length === 0} onChange={(e) => update({ on: e.target.checked })} data-testid="overlay-toggle" />
                <span>{settings.on ? 'On' : 'Off'}</span>
              </label>
            </div>
            {props.models.length === 0 ? (
              <div className="hint">
                No models yet, so nothing to explain. Add one in{' '}
                <button className="link" onClick={props.onOpenModels}>
                  Models
                </button>{' '}
                or with <code>miru models add model.onnx --db …</code>.
              </div>
            ) : (
              <div className="form-grid">
                <label>Model</label>
                <select className="input" value={settings.model} onChange={(e) => update({ model: e.target.value, target: '' })} data-testid="overlay-model">
                  {props.models.map((m) => (
                    <option key={m.name}>{m.name}</option>
                  ))}
                </select>
                <label>Method</label>
                <select className="input" value={settings.method} onChange={(e) => update({ method: e.target.value })} data-testid="overlay-method">
                  {SALIENCY_METHODS.map((m) => (
                    <option key={m}>{m}</option>
                  ))}
                </select>
                <label>Layer</label>
                <input className="input" placeholder={defaultLayer(modelA) ?? 'card default'} defaultValue={settings.layer} onKeyDown={(e) => e.key === 'Enter' && update({ layer: e.currentTarget.value.trim() })} onBlur={(e) => update({ layer: e.currentTarget.value.trim() })} />
                <label>Target</label>
                <select className="input" value={settings.target} onChange={(e) => update({ target: e.target.value })} data-testid="overlay-target">
                  <option value="">score</option>
                  {labels.map((l) => (
                    <option key={l} value={`label:${l}`}>
                      class {l}
                    </option>
                  ))}
                </select>
                <label>Colours</label>
                <select className="input" value={settings.colormap} onChange={(e) => update({ colormap: e.target.value as ColormapName })}>
                  {Object.keys(COLORMAPS).map((c) => (
                    <option key={c}>{c}</option>
                  ))}
                </select>
                <label>Opacity</label>
                <input type="range" min={0} max={1} step={0.05} value={settings.opacity} onChange={(e) => update({ opacity: Number(e.target.value) })} aria-label="Overlay opacity" data-testid="overlay-opacity" />
                <span />
                <div className="legend">
                  <span>0</span>
                  <span className="legend-bar" style={{ background: colormapGradient(settings.colormap) }} />
                  <span>1</span>
                </div>
                <label>Compare</label>
                <select className="input" value={settings.compare} onChange={(e) => update({ compare: e.target.value as OverlaySettings['compare'], on: true })} data-testid="compare-mode">
                  <option value="off">off</option>
                  <option value="methods">two methods</option>
                  <option value="models">two models</option>
                </select>
                {settings.compare === 'methods' && (
                  <>
                    <label>Method B</label>
                    <select className="input" value={settings.method2} onChange={(e) => update({ method2: e.target.value })} data-testid="compare-method">
                      {SALIENCY_METHODS.map((m) => (
                        <option key={m}>{m}</option>
                      ))}
                    </select>
                  </>
                )}
                {settings.compare === 'models' && (
                  <>
                    <label>Model B</label>
                    <select className="input" value={settings.model2} onChange={(e) => update({ model2: e.target.value })} data-testid="compare-model">
                      {props.models.map((m) => (
                        <option key={m.name}>{m.name}</option>
                      ))}
                    </select>
                  </>
                )}
              </div>
            )}
          </section>
          {detail && <ScoresSection detail={detail} hasModels={props.models.length > 0} onOpenModels={props.onOpenModels} />}
          {detail && <TagsEditor detail={detail} knownTags={props.knownTags} onTag={(tag, add) => props.onTag(tag, add, [detail.id])} toastError={(m) => toast('error', m)} />}
          {detail && <RatingsSection detail={detail} />}
          {detail && <StatsSection detail={detail} />}
        </aside>
      </div>
    </div>
  );
}

function defaultLayer(model: ModelSummary | null): string | null {
  const layer = (model?.card as { saliency?: { layer?: unknown } } | undefined)?.saliency?.layer;
  return typeof layer === 'string' ? layer : null;
}

function targetLabels(model: ModelSummary | null): string[] {
  const labels = (model?.card as { outputs?: { score?: { labels?: unknown } } } | undefined)?.outputs?.score?.labels;
  return Array.isArray(labels) ? labels.filter((l): l is string => typeof l === 'string').slice(0, 50) : [];
}

function ScoresSection({ detail, hasModels, onOpenModels }: { detail: ImageDetail; hasModels: boolean; onOpenModels(): void }) {
  if (detail.scores.length === 0) {
    return (
      <section className="section" data-testid="scores">
        <div className="section-title">Scores</div>
        {hasModels ? (
          <div className="hint">Not scored yet. Start a score job in Jobs.</div>
        ) : (
          <div className="hint">
            No scores yet: there are no models. Add one in{' '}
            <button className="link" onClick={onOpenModels}>
              Models
            </button>
            , then score the library from Jobs.
          </div>
        )}
      </section>
    );
  }
  return (
    <section className="section" data-testid="scores">
      <div className="section-title">Scores</div>
      {detail.scores.map((s) => (
        <div className="score-block" key={`${s.model}-${s.run}`}>
          <div className="score-head">
            <span className="score-model">{s.model}</span>
            <span className="score-value">{s.score.toFixed(3)}</span>
          </div>
          <ProbBars labels={s.labels} probs={s.probs} top={s.topLabels} />
        </div>
      ))}
    </section>
  );
}

/** A small horizontal bar chart of class probabilities (the top ones when there are many classes). */
function ProbBars({ labels, probs, top }: { labels: string[] | null; probs: number[] | null; top: { label: string; p: number }[] | null }) {
  const rows = top && top.length ? top.slice(0, 10) : probs ? probs.map((p, i) => ({ label: labels?.[i] ?? String(i), p })).slice(0, 12) : [];
  if (rows.length === 0) return null;
  const width = 140;
  const x = scaleLinear().domain([0, 1]).range([0, width]);
  const best = Math.max(...rows.map((r) => r.p));
  return (
    <svg className="probs" width={width + 90} height={rows.length * 16} role="img" aria-label="Class probabilities">
      {rows.map((r, i) => (
        <g key={r.label} transform={`translate(0, ${i * 16})`}>
          <text x={40} y={11} textAnchor="end" className="probs-label">
            {r.label.length > 6 ? `${r.label.slice(0, 6)}…` : r.label}
          </text>
          <rect x={46} y={3} width={width} height={10} className="probs-track" />
          <rect x={46} y={3} width={Math.max(1, x(r.p))} height={10} className={r.p === best ? 'probs-bar best' : 'probs-bar'} />
          <text x={50 + width} y={11} className="probs-value">
            {(r.p * 100).toFixed(1)}%
          </text>
        </g>
      ))}
    </svg>
  );
}

function TagsEditor({ detail, knownTags, onTag, toastError }: { detail: ImageDetail; knownTags: string[]; onTag(tag: string, add: boolean): void; toastError(m: string): void }) {
  const [text, setText] = useState('');
  const add = () => {
    const tag = text.trim();
    if (!tag) return;
    if (/\s/.test(tag)) return toastError('Tags are single words (use - or _ to join words).');
    onTag(tag, true);
    setText('');
  };
  return (
    <section className="section" data-testid="sample-tags">
      <div className="section-title">Tags</div>
      <div className="chips">
        {detail.tags.length === 0 && <span className="hint">No tags. Press 1–9 or type one below.</span>}
        {detail.tags.map((t) => (
          <span className="chip chip-tag" key={t} data-tag={t}>
            {t}
            <button className="icon-btn" aria-label={`Remove tag ${t}`} onClick={() => onTag(t, false)}>
              ×
            </button>
          </span>
        ))}
      </div>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          add();
        }}
      >
        <input className="input input-small" list="known-tags" placeholder="Add a tag…" value={text} onChange={(e) => setText(e.target.value)} data-testid="tag-input" />
        <datalist id="known-tags">
          {knownTags.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
        <button className="btn btn-small" type="submit">
          Add
        </button>
      </form>
    </section>
  );
}

function RatingsSection({ detail }: { detail: ImageDetail }) {
  const values = detail.ratings.map((r) => r.value);
  const hi = Math.max(5, ...values);
  const lo = Math.min(0, ...values);
  const x = scaleLinear().domain([lo, hi]).range([0, 100]);
  return (
    <section className="section" data-testid="ratings">
      <div className="section-row">
        <span className="section-title">Ratings</span>
        <span className="muted">{detail.ratingCount > 0 && detail.ratingMean !== null ? `mean ${detail.ratingMean.toFixed(2)} · ${detail.ratingCount}` : 'none'}</span>
      </div>
      {detail.ratings.length === 0 && (
        <div className="hint">
          No ratings for this image. Raters’ scores come from a CSV: <code>miru ratings import ratings.csv --db …</code>
        </div>
      )}
      <div className="ratings-list">
        {[...detail.ratings]
          .sort((a, b) => a.rater.localeCompare(b.rater))
          .map((r) => (
            <div className="rating-row" key={r.rater}>
              <span className="rating-rater">{r.rater}</span>
              <span className="rating-bar">
                <span style={{ width: `${x(r.value)}%` }} />
              </span>
              <span className="rating-value">{Number.isInteger(r.value) ? r.value : r.value.toFixed(2)}</span>
            </div>
          ))}
      </div>
    </section>
  );
}

function StatsSection({ detail }: { detail: ImageDetail }) {
  const entries = Object.entries(detail.stats);
  return (
    <section className="section" data-testid="stats">
      <div className="section-title">Image</div>
      <dl className="stats">
        <dt>size</dt>
        <dd>
          {detail.width ?? '?'} × {detail.height ?? '?'} · {detail.format ?? '?'} · {formatBytes(detail.bytes)}
        </dd>
        {entries.map(([k, v]) => (
          <FragmentRow key={k} name={k} value={typeof v === 'boolean' ? (v ? 'yes' : 'no') : formatValue(k, v)} />
        ))}
        <dt>id</dt>
        <dd>{detail.id}</dd>
      </dl>
    </section>
  );
}

function FragmentRow({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>{value}</dd>
    </>
  );
}
