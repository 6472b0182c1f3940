/**
 * The Backbones view's charts (issue 6): per-metric interval plots (fold mean with its 95% interval, one row per
 * backbone × head, the best marked), the learning curve (Spearman against the number of training labels, one line
 * per backbone × head with its interval as a band) and the strip that places predictions on the rating scale.
 * d3 supplies the scales; React draws. The interval rows and strips are HTML positioned in percent (crisp at any
 * width); the learning curve is SVG sized to its box.
 */
import { useRef, useState } from 'react';
import { scaleLinear, scaleLog } from 'd3-scale';
import type { ProbeHeadName, ProbeMetricInterval, ProbeMetricName } from '../../core/api/types/probeReport.js';
import { useWidth } from './useWidth.js';

export interface MetricInfo {
  name: ProbeMetricName;
  label: string;
  /** For a narrow column header. */
  short: string;
  lowerIsBetter: boolean;
  /** The values the metric can take (intervals are clipped to it); null: unbounded on that side. */
  range: [number | null, number | null];
  hint: string;
}

export const METRICS: readonly MetricInfo[] = [
  { name: 'spearman', label: 'Spearman ρ', short: 'Spearman', lowerIsBetter: false, range: [-1, 1], hint: 'rank correlation of the predictions with the target' },
  { name: 'pearson', label: 'Pearson r', short: 'Pearson', lowerIsBetter: false, range: [-1, 1], hint: 'linear correlation of the predictions with the target' },
  { name: 'qwk', label: 'Quadratic κ', short: 'QWK', lowerIsBetter: false, range: [-1, 1], hint: 'agreement of predicted and target classes, far misses weighted more' },
  { name: 'accuracy', label: 'Accuracy', short: 'Accuracy', lowerIsBetter: false, range: [0, 1], hint: 'share of images whose predicted class is the target class' },
  { name: 'mae', label: 'MAE', short: 'MAE', lowerIsBetter: true, range: [0, null], hint: 'mean absolute error on the rating scale' },
  { name: 'emd', label: 'EMD', short: 'EMD', lowerIsBetter: true, range: [0, null], hint: "earth mover's distance between the predicted and the raters' rating distributions" },
];

/** One colour per backbone, readable on the dark theme; more backbones than colours repeat them. */
const PALETTE = ['#6ea8fe', '#f4a261', '#5cc689', '#c59cf4', '#e8b04b', '#4fd1c5', '#f0716b', '#a3a9b5'];
export const backboneColor = (index: number) => PALETTE[index % PALETTE.length]!;

/** Heads are told apart by the line's dash in the learning curve. */
export const HEAD_DASH: Record<ProbeHeadName, string> = { ridge: '', logistic: '7 4', ordinal: '2 3', knn: '9 3 2 3' };
export const HEAD_LABEL: Record<ProbeHeadName, string> = { ridge: 'ridge', logistic: 'logistic', ordinal: 'ordinal', knn: 'kNN' };

export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const text = v.toFixed(digits);
  // -0.0004 rounds to "-0.000": a sign on zero reads as a difference that is not there.
  return Number(text) === 0 ? text.replace('-', '') : text;
}


function clip(x: number, range: [number | null, number | null]): number {
  return Math.min(range[1] ?? Infinity, Math.max(range[0] ?? -Infinity, x));
}

// ------------------------------------------------------------------------------------------ interval panels

export interface IntervalRow {
  run: number;
  model: string;
  head: ProbeHeadName;
  color: string;
  interval: ProbeMetricInterval;
}

/** The rows whose mean is best for the metric (ties share it); empty when no row has a value. */
export function bestRows(rows: readonly IntervalRow[], metric: MetricInfo): Set<IntervalRow> {
  const values = rows.map((r) => r.interval.mean).filter((v): v is number => v !== null);
  if (values.length === 0) return new Set();
  const best = metric.lowerIsBetter ? Math.min(...values) : Math.max(...values);
  return new Set(rows.filter((r) => r.interval.mean === best));
}

/** A metric's axis over every row's interval, clipped to what the metric can take, with a few round ticks. */
function metricAxis(metric: MetricInfo, rows: readonly IntervalRow[]) {
  const values = rows.flatMap((r) => [r.interval.lo, r.interval.hi, r.interval.mean]).filter((v): v is number => v !== null);
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const pad = Math.max((hi - lo) * 0.08, 0.01);
  const x = scaleLinear()
    .domain([clip(lo - pad, metric.range), clip(hi + pad, metric.range)])
    .nice(3)
    .range([0, 100]);
  // Two labelled ticks fit a narrow column: the outermost round values.
  const all = x.ticks(3);
  return { x, ticks: all.length > 2 ? [all[0]!, all[all.length - 1]!] : all };
}

export interface BackboneGroup {
  run: number;
  model: string;
  dim: number;
  color: string;
  /** One per head, in the report's head order. */
  rows: Record<ProbeMetricName, IntervalRow>[];
}

/**
 * Every metric side by side: a column per metric (its own axis), a row per backbone × head, each cell the fold
 * mean (printed, and a dot) with its 95% interval (a bar); the best value of each column starred.
 */
export function MetricTable({ groups }: { groups: readonly BackboneGroup[] }) {
  const columns = METRICS.map((metric) => {
    const rows = groups.flatMap((g) => g.rows.map((r) => r[metric.name]));
    return { metric, ...metricAxis(metric, rows), best: bestRows(rows, metric) };
  });
  return (
    <div className="bb-mtable" role="table" aria-label="Probe metrics per backbone and head" style={{ gridTemplateColumns: `minmax(72px, 0.9fr) repeat(${METRICS.length}, minmax(62px, 1fr))` }}>
      <div className="bb-mhead" role="row">
        <span role="columnheader" />
        {columns.map((c) => (
          <span key={c.metric.name} role="columnheader" className="bb-mcol" title={`${c.metric.label}: ${c.metric.hint} (${c.metric.lowerIsBetter ? 'lower' : 'higher'} is better)`}>
            {c.metric.short}
            <span className="bb-mdir">{c.metric.lowerIsBetter ? '↓' : '↑'}</span>
          </span>
        ))}
      </div>
      {groups.map((g) => (
        <div key={g.run} className="bb-mgroup" role="rowgroup" data-testid="metric-group" data-run={g.run}>
          <div className="bb-mgroup-title" role="row">
            <span className="bb-swatch" style={{ background: g.color }} />
            <strong>{g.model}</strong>
            <span className="muted">
              run {g.run} · {g.dim}-d
            </span>
          </div>
          {g.rows.map((row) => {
            const head = row.spearman.head;
            return (
              <div key={head} className="bb-mrow" role="row">
                <span className="bb-mlabel" role="rowheader">
                  {HEAD_LABEL[head]}
                </span>
                {columns.map(({ metric, x, ticks, best }) => {
                  const r = row[metric.name];
                  const i = r.interval;
                  const isBest = best.has(r);
                  const ci = i.lo !== null && i.hi !== null ? ` [${fmt(i.lo)}, ${fmt(i.hi)}]` : ' (no interval: fewer than two folds had a value)';
                  return (
                    <span
                      key={metric.name}
                      role="cell"
                      className={`bb-cell${isBest ? ' bb-best' : ''}`}
                      data-testid="metric-cell"
                      data-metric={metric.name}
                      data-run={r.run}
                      data-head={head}
                      data-mean={i.mean ?? ''}
                      data-best={isBest || undefined}
                      title={`${metric.label}, ${r.model} · ${HEAD_LABEL[head]}: ${fmt(i.mean)}${ci} over ${i.folds} folds${isBest ? ' (best)' : ''}`}
                    >
                      <span className="bb-cell-value" data-testid="metric-value">
                        {fmt(i.mean)}
                        {isBest && (
                          <span className="bb-star" aria-label="best">
                            ★
                          </span>
                        )}
                      </span>
                      <span className="bb-cell-plot">
                        {ticks.map((t) => (
                          <span key={t} className="bb-gridline" style={{ left: `${x(t)}%` }} />
                        ))}
                        {i.lo !== null && i.hi !== null && <span className="bb-interval" style={{ left: `${x(i.lo)}%`, width: `${Math.max(0.5, x(i.hi) - x(i.lo))}%`, background: r.color }} />}
                        {i.mean !== null && <span className="bb-mean" style={{ left: `${x(i.mean)}%`, borderColor: r.color }} />}
                      </span>
                    </span>
                  );
                })}
              </div>
            );
          })}
        </div>
      ))}
      <div className="bb-maxis" role="row" aria-hidden="true">
        <span />
        {columns.map(({ metric, x, ticks }) => (
          <span key={metric.name} className="bb-cell-plot">
            {ticks.map((t) => (
              <span key={t} className={`bb-tick${x(t) < 15 ? ' bb-tick-start' : x(t) > 85 ? ' bb-tick-end' : ''}`} style={{ left: `${x(t)}%` }}>
                {Number(t.toFixed(3))}
              </span>
            ))}
          </span>
        ))}
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------- learning curve

export interface CurvePoint {
  labels: number;
  mean: number | null;
  lo: number | null;
  hi: number | null;
  /** The cross-validated result with whole training folds (the curve's end). */
  full?: boolean;
}

export interface CurveSeries {
  run: number;
  model: string;
  head: ProbeHeadName;
  color: string;
  points: CurvePoint[];
}

const M = { left: 44, right: 16, top: 12, bottom: 34 };

/** Path through the points that have a value; a missing value breaks the line. */
function linePath(points: { x: number; y: number | null }[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.y === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Spearman against the number of training labels per fold; one line per backbone × head, its 95% interval as a band. */
export function LearningCurve({ series, height = 240 }: { series: readonly CurveSeries[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const all = series.flatMap((s) => s.points);
  const counts = [...new Set(all.map((p) => p.labels))].sort((a, b) => a - b);
  const ys = all.flatMap((p) => [p.lo, p.hi, p.mean]).filter((v): v is number => v !== null);
  const innerW = Math.max(10, width - M.left - M.right);
  const innerH = height - M.top - M.bottom;
  const minX = counts[0] ?? 1;
  const maxX = counts[counts.length - 1] ?? 2;
  // Label counts usually double from step to step: a log axis spaces them evenly.
  const x = (maxX / minX >= 4 ? scaleLog().base(2) : scaleLinear()).domain(minX === maxX ? [minX * 0.9, maxX * 1.1] : [minX, maxX]).range([0, innerW]);
  const yLo = ys.length ? Math.min(...ys) : 0;
  const yHi = ys.length ? Math.max(...ys) : 1;
  const y = scaleLinear()
    .domain([Math.max(-1, yLo - 0.03), Math.min(1, yHi + 0.03)])
    .nice(5)
    .range([innerH, 0]);
  const fullAt = all.find((p) => p.full)?.labels;
  // Bands of many lines hide each other: with more than three, only the line under the pointer shows its band.
  const [focus, setFocus] = useState<string | null>(null);
  const keyOf = (s: CurveSeries) => `${s.run}:${s.head}`;
  const banded = (s: CurveSeries) => (focus === null ? series.length <= 3 : focus === keyOf(s));
  const faded = (s: CurveSeries) => focus !== null && focus !== keyOf(s);
  return (
    <div className="bb-curve" ref={box} data-testid="learning-curve" data-series={series.length}>
      {width > 0 && (
        <svg width={width} height={height} role="img" aria-label="Learning curve: Spearman against the number of training labels">
          <g transform={`translate(${M.left},${M.top})`}>
            {y.ticks(5).map((t) => (
              <g key={t} transform={`translate(0,${y(t)})`}>
                <line className="bb-svg-grid" x2={innerW} />
                <text className="bb-svg-tick" x={-8} dy="0.32em" textAnchor="end">
                  {Number(t.toFixed(2))}
                </text>
              </g>
            ))}
            {counts.map((c) => (
              <g key={c} transform={`translate(${x(c)},${innerH})`}>
                <line className="bb-svg-grid" y1={-innerH} y2={0} />
                <text className="bb-svg-tick" y={16} textAnchor="middle">
                  {c === fullAt ? `all ${c}` : c}
                </text>
              </g>
            ))}
            <text className="bb-svg-axis" x={innerW / 2} y={innerH + 30} textAnchor="middle">
              training labels per fold
            </text>
            <text className="bb-svg-axis" transform={`translate(${-34},${innerH / 2}) rotate(-90)`} textAnchor="middle">
              Spearman ρ
            </text>
            {series.map((s) => {
              const withInterval = s.points.filter((p) => p.lo !== null && p.hi !== null);
              if (!banded(s) || withInterval.length < 2) return null;
              const band = `${linePath(withInterval.map((p) => ({ x: x(p.labels), y: y(p.hi!) })))}${linePath([...withInterval].reverse().map((p) => ({ x: x(p.labels), y: y(p.lo!) }))).replace(/^M/, 'L')}Z`;
              return <path key={`band-${keyOf(s)}`} className="bb-band" d={band} fill={s.color} />;
            })}
            {series.map((s) => (
              <g
                key={`line-${keyOf(s)}`}
                className={faded(s) ? 'bb-faded' : undefined}
                data-testid="curve-line"
                data-run={s.run}
                data-head={s.head}
                onMouseEnter={() => setFocus(keyOf(s))}
                onMouseLeave={() => setFocus(null)}
              >
                <path className="bb-line-hit" d={linePath(s.points.map((p) => ({ x: x(p.labels), y: p.mean === null ? null : y(p.mean) })))} />
                <path className="bb-line" d={linePath(s.points.map((p) => ({ x: x(p.labels), y: p.mean === null ? null : y(p.mean) })))} stroke={s.color} strokeDasharray={HEAD_DASH[s.head]} />
                {s.points.map((p) =>
                  p.mean === null ? null : (
                    <circle key={p.labels} className={p.full ? 'bb-point bb-point-full' : 'bb-point'} cx={x(p.labels)} cy={y(p.mean)} r={p.full ? 4 : 3} stroke={s.color} fill={p.full ? 'var(--bg)' : s.color}>
                      <title>
                        {`${s.model} · ${HEAD_LABEL[s.head]}: ${p.full ? 'all training labels' : `${p.labels} labels`} → ρ ${fmt(p.mean)}${p.lo !== null ? ` [${fmt(p.lo)}, ${fmt(p.hi)}]` : ''}`}
                      </title>
                    </circle>
                  ),
                )}
              </g>
            ))}
          </g>
        </svg>
      )}
      <div className="bb-curve-legend">
        {series.map((s) => (
          <span key={keyOf(s)} className={`bb-curve-key${faded(s) ? ' bb-faded' : ''}`} onMouseEnter={() => setFocus(keyOf(s))} onMouseLeave={() => setFocus(null)}>
            <DashSample head={s.head} color={s.color} />
            {s.model} · {HEAD_LABEL[s.head]}
          </span>
        ))}
      </div>
    </div>
  );
}

/** A small legend swatch of a head's dash. */
export function DashSample({ head, color = 'var(--text-dim)' }: { head: ProbeHeadName; color?: string }) {
  return (
    <svg className="bb-dash" width={26} height={8} aria-hidden="true">
      <line x1={1} x2={25} y1={4} y2={4} stroke={color} strokeWidth={2} strokeDasharray={HEAD_DASH[head]} />
    </svg>
  );
}

// ---------------------------------------------------------------------------------------------- rating strip

export interface StripMark {
  value: number;
  color: string;
  title: string;
}

/** Predictions (dots) and the target (a bar) on the rating scale, its classes as ticks. */
export function RatingStrip({ classes, target, marks }: { classes: readonly number[]; target: number | null; marks: readonly StripMark[] }) {
  const values = [...classes, ...marks.map((m) => m.value), ...(target === null ? [] : [target])];
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const x = scaleLinear()
    .domain(lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi])
    .range([4, 96]);
  return (
    <div className={marks.length > 6 ? 'bb-strip bb-strip-many' : 'bb-strip'}>
      <span className="bb-strip-track" />
      {classes.map((c) => (
        <span key={c} className="bb-strip-tick" style={{ left: `${x(c)}%` }}>
          <span>{c}</span>
        </span>
      ))}
      {target !== null && <span className="bb-strip-target" style={{ left: `${x(target)}%` }} title={`target ${fmt(target, 2)}`} />}
      {marks.map((m, i) => (
        <span key={i} className="bb-strip-dot" style={{ left: `${x(m.value)}%`, background: m.color }} title={m.title} />
      ))}
    </div>
  );
}
