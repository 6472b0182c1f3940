/**
 * The jobs drawer's fields for the 'probe' and 'rater-models' jobs (issue 6): which embedding runs to compare (a
 * multi-select of the runs that hold vectors), the target, heads, folds, learning-curve label counts and tags to
 * exclude; or, for rater models, one run and how to group the raters. JobsPanel renders these inside its form grid
 * and starts the job with the parameters this reports through onChange (or shows the error it reports).
 */
import { useEffect, useMemo, useState } from 'react';
import type { ProbeEmbeddingRun, ProbeHeadName } from '../../core/api/types/probeReport.js';
import { formatCount } from '../state/format.js';
import { useServices } from './appContext.js';

const CHECK_COLUMN = { display: 'flex', flexDirection: 'column', gap: 2 } as const;
const CHECK_ROW = { display: 'flex', flexWrap: 'wrap', columnGap: 12 } as const;

export type JobFormValue = { params: Record<string, unknown> } | { error: string };

const HEADS: { head: ProbeHeadName; label: string; hint: string }[] = [
  { head: 'ridge', label: 'ridge', hint: 'ridge regression on the rating (penalty chosen by inner cross-validation)' },
  { head: 'logistic', label: 'logistic', hint: 'multinomial logistic regression over the rating classes' },
  { head: 'ordinal', label: 'ordinal', hint: 'ordinal logistic regression (one scale, ordered thresholds)' },
  { head: 'knn', label: 'kNN', hint: 'distance-weighted nearest neighbours' },
];

/** "50, 100 200" -> [50, 100, 200]; an entry that is not a whole number of at least 10 is an error naming it. */
function parseCounts(text: string): number[] | string {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  const out: number[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 10) return `Learning curve: “${p}” is not a whole number of at least 10.`;
    out.push(n);
  }
  return out;
}

function runLabel(r: ProbeEmbeddingRun): string {
  return `${r.model} · run ${r.run} · ${r.dim ?? '?'}-d · ${formatCount(r.vectors)} vectors${r.status === 'complete' ? '' : ` (${r.status})`}`;
}

export function ProbeJobFields({ kind, onChange }: { kind: 'probe' | 'rater-models'; onChange(value: JobFormValue): void }) {
  const { client } = useServices();
  const [runs, setRuns] = useState<ProbeEmbeddingRun[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [raters, setRaters] = useState<{ name: string; group: string | null }[]>([]);
  const [picked, setPicked] = useState<ReadonlySet<number> | null>(null);
  const [single, setSingle] = useState<number | null>(null);
  const [target, setTarget] = useState('consensus');
  const [heads, setHeads] = useState<ReadonlySet<ProbeHeadName>>(new Set(HEADS.map((h) => h.head)));
  const [folds, setFolds] = useState('');
  const [curve, setCurve] = useState('50, 100, 200, 400');
  const [exclude, setExclude] = useState('');
  const [by, setBy] = useState<'rater' | 'cluster'>('rater');
  const [minRatings, setMinRatings] = useState('');
  const [head, setHead] = useState<'ridge' | 'ordinal'>('ridge');

  useEffect(() => {
    let live = true;
    client.call('probeReports', {}).then(
      (answer) => {
        if (!live) return;
        const usable = answer.embeddings.filter((e) => e.vectors > 0);
        setRuns(usable);
        // By default each model's newest run (the list is newest first).
        const newest = new Map<string, number>();
        for (const r of usable) if (!newest.has(r.model)) newest.set(r.model, r.run);
        setPicked(new Set(newest.values()));
        setSingle(usable[0]?.run ?? null);
      },
      (e: unknown) => live && setLoadError((e as Error).message),
    );
    client.call('listRaters', {}).then((list) => live && setRaters(list), () => undefined);
    return () => {
      live = false;
    };
  }, [client]);

  const groups = useMemo(() => [...new Set(raters.map((r) => r.group).filter((g): g is string => g !== null))].sort(), [raters]);

  // What the form says, as job parameters or the reason it cannot start.
  useEffect(() => {
    const value = ((): JobFormValue => {
      if (loadError) return { error: `Cannot list the embedding runs: ${loadError}` };
      if (!runs) return { error: 'Still listing the embedding runs…' };
      if (runs.length === 0) return { error: 'No embeddings yet: embed the library with a model first (an embed job), then probe its embeddings.' };
      const foldCount = folds.trim() ? Number(folds) : undefined;
      if (foldCount !== undefined && (!Number.isInteger(foldCount) || foldCount < 2 || foldCount > 20)) return { error: `Folds: “${folds}” is not a whole number from 2 to 20.` };
      if (kind === 'rater-models') {
        if (single === null) return { error: 'Choose an embedding run.' };
        const min = minRatings.trim() ? Number(minRatings) : undefined;
        if (min !== undefined && (!Number.isInteger(min) || min < 10)) return { error: `Min ratings: “${minRatings}” is not a whole number of at least 10.` };
        return { params: { embedding: String(single), by, head, ...(min !== undefined ? { minRatings: min } : {}) } };
      }
      const chosen = runs.filter((r) => picked?.has(r.run)).map((r) => String(r.run));
      if (chosen.length === 0) return { error: 'Choose at least one embedding run to probe (two or more to compare backbones).' };
      if (heads.size === 0) return { error: 'Choose at least one head.' };
      const counts = parseCounts(curve);
      if (typeof counts === 'string') return { error: counts };
      const tags = exclude
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      return {
        params: {
          embeddings: chosen,
          target,
          heads: HEADS.map((h) => h.head).filter((h) => heads.has(h)),
          ...(foldCount !== undefined ? { folds: foldCount } : {}),
          ...(counts.length ? { learningCurve: counts } : {}),
          ...(tags.length ? { excludeTags: tags } : {}),
        },
      };
    })();
    onChange(value);
  }, [kind, runs, loadError, picked, single, target, heads, folds, curve, exclude, by, minRatings, head, onChange]);

  if (loadError) {
    return (
      <>
        <span />
        <span className="inline-error">{loadError}</span>
      </>
    );
  }
  if (!runs) {
    return (
      <>
        <span />
        <span className="hint">Listing the embedding runs…</span>
      </>
    );
  }
  if (runs.length === 0) {
    return (
      <>
        <label>Embeddings</label>
        <span className="hint" data-testid="job-no-embeddings">
          No embeddings yet: start an embed job for a model first.
        </span>
      </>
    );
  }
  const toggle = <T,>(set: ReadonlySet<T>, item: T): Set<T> => {
    const next = new Set(set);
    if (next.has(item)) next.delete(item);
    else next.add(item);
    return next;
  };
  if (kind === 'rater-models') {
    return (
      <>
        <label>Embeddings of</label>
        <select className="input" value={single ?? ''} onChange={(e) => setSingle(Number(e.target.value))} data-testid="job-embedding">
          {runs.map((r) => (
            <option key={r.run} value={r.run}>
              {runLabel(r)}
            </option>
          ))}
        </select>
        <label>One model per</label>
        <select className="input" value={by} onChange={(e) => setBy(e.target.value as 'rater' | 'cluster')} data-testid="job-rater-by">
          <option value="rater">rater</option>
          <option value="cluster" disabled={groups.length === 0}>
            rater group{groups.length === 0 ? ' (none saved yet)' : ''}
          </option>
        </select>
        <label>Min ratings</label>
        <input className="input" inputMode="numeric" placeholder="30" value={minRatings} onChange={(e) => setMinRatings(e.target.value)} data-testid="job-min-ratings" />
        <label>Head</label>
        <select className="input" value={head} onChange={(e) => setHead(e.target.value as 'ridge' | 'ordinal')}>
          <option value="ridge">ridge</option>
          <option value="ordinal">ordinal logistic</option>
        </select>
      </>
    );
  }
  return (
    <>
      <label>Embeddings</label>
      <div style={CHECK_COLUMN} data-testid="job-embeddings">
        {runs.map((r) => (
          <label key={r.run} className="check-row">
            <input type="checkbox" checked={picked?.has(r.run) ?? false} onChange={() => setPicked((p) => toggle(p ?? new Set(), r.run))} data-run={r.run} />
            {runLabel(r)}
          </label>
        ))}
      </div>
      <label>Target</label>
      <select className="input" value={target} onChange={(e) => setTarget(e.target.value)} data-testid="job-target">
        <option value="consensus">consensus (mean of all raters)</option>
        {groups.length > 0 && (
          <optgroup label="Rater groups">
            {groups.map((g) => (
              <option key={g} value={`cluster:${g}`}>
                group {g}
              </option>
            ))}
          </optgroup>
        )}
        {raters.length > 0 && (
          <optgroup label="One rater">
            {raters.map((r) => (
              <option key={r.name} value={`rater:${r.name}`}>
                {r.name}
              </option>
            ))}
          </optgroup>
        )}
      </select>
      <label>Heads</label>
      <div style={CHECK_ROW}>
        {HEADS.map((h) => (
          <label key={h.head} className="check-row" title={h.hint}>
            <input type="checkbox" checked={heads.has(h.head)} onChange={() => setHeads((s) => toggle(s, h.head))} data-head={h.head} />
            {h.label}
          </label>
        ))}
      </div>
      <label>Folds</label>
      <input className="input" inputMode="numeric" placeholder="5" value={folds} onChange={(e) => setFolds(e.target.value)} data-testid="job-folds" />
      <label title="Label counts the training folds are cut to; counts above a training fold's size are skipped">Learning curve</label>
      <input className="input" placeholder="none (e.g. 50, 100, 200)" value={curve} onChange={(e) => setCurve(e.target.value)} data-testid="job-curve" />
      <label title="The cleaning experiment: train again without the images carrying these tags">Exclude tags</label>
      <input className="input" placeholder="none (e.g. outlier, exclude)" value={exclude} onChange={(e) => setExclude(e.target.value)} data-testid="job-exclude" />
    </>
  );
}
