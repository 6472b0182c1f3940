/**
 * One numeric field in the sidebar: a collapsible row with its histogram under every other filter (d3, brushable)
 * and min/max inputs. Collapsed fields request nothing, so a sidebar of twenty fields costs only what is open.
 */
import { useEffect, useRef, useState } from 'react';
import type { FieldInfo, FilterExpression, HistogramResult } from '../../core/api/apiTypes.js';
import { HistogramEngine } from '../viz/histogramEngine.js';
import type { HistogramQueue } from '../state/histograms.js';
import type { Range } from '../state/urlState.js';
import { formatCount, formatValue, isIntegerField } from '../state/format.js';

interface Props {
  field: FieldInfo;
  range: Range | undefined;
  /** Filters without this field's own range. */
  filters: FilterExpression[];
  queue: HistogramQueue;
  /** False while the grid loads: histograms wait for it. */
  settled: boolean;
  revision: number;
  expanded: boolean;
  onToggle(): void;
  onRange(range: Range | null): void;
}

export function FieldFilter({ field, range, filters, queue, settled, revision, expanded, onToggle, onRange }: Props) {
  const active = range !== undefined && (range[0] !== null || range[1] !== null);
  const [data, setData] = useState<HistogramResult | null>(() => queue.cached(field.name, filters) ?? null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const filtersKey = JSON.stringify(filters);

  useEffect(() => {
    if (!expanded) return;
    const hit = queue.cached(field.name, filters);
    if (hit) {
      setData(hit);
      setLoading(false);
      return;
    }
    if (!settled) {
      setLoading(true);
      return;
    }
    let live = true;
    setLoading(true);
    queue.request(field.name, filters).then(
      (result) => {
        if (!live || result === null) return;
        setData(result);
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
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [expanded, field.name, filtersKey, settled, revision]);

  const fmt = (v: number) => formatValue(field.name, v);
  return (
    <div className={`field ${active ? 'field-active' : ''} ${expanded ? 'field-open' : ''}`} data-field={field.name}>
      <button className="field-head" onClick={onToggle} aria-expanded={expanded}>
        <span className="caret">{expanded ? '▾' : '▸'}</span>
        <span className="field-label">{field.label}</span>
        {active && (
          <span className="field-range">{rangeText(range!, fmt)}</span>
        )}
      </button>
      {active && (
        <button className="icon-btn field-clear" aria-label={`Clear ${field.label} filter`} title="Clear" onClick={() => onRange(null)}>
          ×
        </button>
      )}
      {expanded && (
        <div className="field-body">
          <Histogram data={data} range={range ?? null} format={fmt} loading={loading} onRange={onRange} integer={isIntegerField(field.name)} emptyNote={emptyNote(field, data)} />
          {error && <div className="inline-error">{error}</div>}
          <div className="field-meta">
            {data ? (
              <>
                <span>{formatCount(data.counts.reduce((a, b) => a + b, 0))} with a value</span>
                {data.missing > 0 && <span>{formatCount(data.missing)} without</span>}
              </>
            ) : (
              <span>&nbsp;</span>
            )}
          </div>
          <RangeInputs field={field.name} range={range ?? [null, null]} data={data} onRange={onRange} />
        </div>
      )}
    </div>
  );
}

/** What an empty histogram says when there is more to say than "no values": a model that has scored nothing yet. */
function emptyNote(field: FieldInfo, data: HistogramResult | null): string | null {
  if (field.group !== 'scores' || !data || data.min !== null) return null;
  return `${field.name.replace(/^score:/, '')} has not scored any image yet: score the library from Jobs`;
}

function rangeText([lo, hi]: Range, fmt: (v: number) => string): string {
  if (lo !== null && hi !== null) return `${fmt(lo)} – ${fmt(hi)}`;
  return lo !== null ? `≥ ${fmt(lo)}` : `≤ ${fmt(hi!)}`;
}

function Histogram({
  data,
  range,
  format,
  loading,
  onRange,
  integer,
  emptyNote,
}: {
  emptyNote: string | null;
  data: HistogramResult | null;
  range: Range | null;
  format(v: number): string;
  loading: boolean;
  onRange(range: Range | null): void;
  integer: boolean;
}) {
  const host = useRef<HTMLDivElement>(null);
  const engine = useRef<HistogramEngine | null>(null);
  const latest = useRef({ onRange, integer });
  latest.current = { onRange, integer };

  useEffect(() => {
    const e = new HistogramEngine({
      format,
      onRange: (r) => {
        if (!r) return latest.current.onRange(null);
        const [lo, hi] = latest.current.integer ? [Math.ceil(r[0]), Math.floor(r[1])] : r;
        latest.current.onRange([lo, Math.max(lo, hi)]);
      },
    });
    e.attach(host.current!);
    engine.current = e;
    return () => e.dispose();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    engine.current?.update(data ? { edges: data.edges, counts: data.counts, missing: data.missing } : null, range);
  }, [data, range]);

  return (
    <div className={`histogram-host ${loading ? 'loading' : ''}`} ref={host}>
      {((!data && !loading) || (data && data.counts.every((c) => c === 0))) && (
        <div className="histogram-empty">{emptyNote ?? (data && data.missing ? `none of these ${formatCount(data.missing)} images has a value` : 'no values')}</div>
      )}
    </div>
  );
}

function RangeInputs({ field, range, data, onRange }: { field: string; range: Range; data: HistogramResult | null; onRange(range: Range | null): void }) {
  const commit = (which: 0 | 1, text: string) => {
    const trimmed = text.trim();
    const value = trimmed === '' ? null : Number(trimmed);
    if (value !== null && !Number.isFinite(value)) return;
    const next: Range = [range[0], range[1]];
    next[which] = value;
    if (next[0] === range[0] && next[1] === range[1]) return;
    onRange(next[0] === null && next[1] === null ? null : next);
  };
  const input = (which: 0 | 1) => (
    <input
      key={`${which}:${range[which]}`}
      className="input input-small"
      type="text"
      inputMode="decimal"
      aria-label={`${field} ${which === 0 ? 'minimum' : 'maximum'}`}
      data-testid={`${field}-${which === 0 ? 'min' : 'max'}`}
      placeholder={data && data.min !== null && data.max !== null ? formatValue(field, which === 0 ? data.min : data.max) : which === 0 ? 'min' : 'max'}
      defaultValue={range[which] === null ? '' : String(range[which])}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit(which, e.currentTarget.value);
        if (e.key === 'Escape') e.currentTarget.blur();
      }}
      onBlur={(e) => commit(which, e.currentTarget.value)}
    />
  );
  return (
    <div className="range-inputs">
      {input(0)}
      <span className="range-dash">–</span>
      {input(1)}
    </div>
  );
}
