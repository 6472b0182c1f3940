/**
 * The Backbones view (issue 6, "Probes across backbones and pre-training"): which backbone's embedding transfers
 * best to the human labels, and where the backbones disagree. It shows a stored probe report (a 'probe' job's
 * answer, core/api/probesApi.ts): each metric's fold mean with its 95% interval per backbone × head with the best
 * starred, the learning curve, the cleaning experiment when the probe ran one, and the images the backbones
 * disagree on most (click to open, or show them in the grid); below, the stored per-rater models with the images
 * the rater models dispute. Everything missing says how to make it, with a button that opens the jobs drawer.
 */
import { useCallback, useEffect, useMemo, useState, type MouseEvent } from 'react';
import type { ProbeHeadName, ProbeReports, StoredProbeReport, StoredRaterModels } from '../../core/api/types/probeReport.js';
import { formatCount } from '../state/format.js';
import { useServices } from './appContext.js';
import type { WorkbenchViewProps } from './workbenchView.js';
import { backboneColor, bestRows, DashSample, fmt, HEAD_LABEL, LearningCurve, METRICS, MetricTable, RatingStrip, type BackboneGroup, type CurvePoint, type CurveSeries, type IntervalRow, type MetricInfo } from './backbonesCharts.js';
import './backbonesView.css';

type Report = StoredProbeReport['report'];

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

function reportLabel(r: StoredProbeReport): string {
  const models = r.report.backbones.map((b) => b.model).join(' vs ');
  return `#${r.id} · ${r.report.target.key} · ${models} · ${formatCount(r.report.images)} images · ${when(r.createdAt)}`;
}

export function BackbonesView(props: WorkbenchViewProps) {
  const { client, toast } = useServices();
  const [data, setData] = useState<ProbeReports | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [chosen, setChosen] = useState<number | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let live = true;
    client.call('probeReports', {}).then(
      (answer) => {
        if (!live) return;
        setData(answer);
        setError(null);
      },
      (e: unknown) => live && setError((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [client, props.revision, attempt]);

  const { setFilters, filters } = props;
  const showInGrid = useCallback(
    async (ids: number[], what: string) => {
      if (ids.length === 0) return;
      try {
        const saved = await client.call('saveSelection', { ids });
        setFilters({ ...filters, selection: saved.id });
        toast('success', `The grid shows the ${formatCount(saved.count)} ${what}.`);
      } catch (e) {
        toast('error', (e as Error).message);
      }
    },
    [client, toast, setFilters, filters],
  );

  const runProbe = () => props.openJobs({ kind: 'probe' });
  const report = data ? (data.reports.find((r) => r.id === chosen) ?? data.reports[0] ?? null) : null;

  if (!data) {
    return (
      <section className="analysis-view backbones-view" data-testid="backbones-view" data-state={error ? 'error' : 'loading'} aria-busy={!error}>
        {error ? (
          <div className="bb-empty" data-testid="backbones-error">
            <h3>Cannot load the probe reports</h3>
            <div className="inline-error" role="alert">
              {error}
            </div>
            <button className="btn" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
          </div>
        ) : (
          <div className="bb-empty bb-loading">Loading probe reports…</div>
        )}
      </section>
    );
  }

  return (
    <section className="analysis-view backbones-view" data-testid="backbones-view" data-state="ready" data-report={report?.id ?? ''}>
      <header className="bb-toolbar">
        <label className="tool bb-report-pick">
          <span>Report</span>
          <select className="input" data-testid="probe-report-select" value={report?.id ?? ''} onChange={(e) => setChosen(Number(e.target.value))} disabled={data.reports.length === 0}>
            {data.reports.length === 0 && <option value="">none yet</option>}
            {data.reports.map((r) => (
              <option key={r.id} value={r.id}>
                {reportLabel(r)}
              </option>
            ))}
          </select>
        </label>
        <button className="btn btn-primary" data-testid="run-probe" onClick={runProbe} disabled={data.embeddings.length === 0}>
          Run a probe…
        </button>
      </header>
      {error && (
        <div className="inline-error bb-stale" role="alert">
          Could not refresh: {error}
        </div>
      )}
      {data.embeddings.length === 0 && data.reports.length === 0 ? (
        <div className="bb-empty" data-testid="backbones-no-embeddings">
          <h3>No embeddings yet</h3>
          <p>
            A probe trains small heads (ridge, logistic, ordinal, kNN) on a model’s embeddings to predict the human labels, so backbones can be compared by how well they transfer. Embed the library with a model first, then run a
            probe here.
          </p>
          <button className="btn btn-primary" onClick={() => props.openJobs({ kind: 'embed' })}>
            Embed the library…
          </button>
          <p className="hint">or from a terminal:</p>
          <code>miru embed --db LIBRARY --model MODEL</code>
        </div>
      ) : report ? (
        <ReportBody key={report.id} stored={report} onOpen={props.openSample} onShow={showInGrid} />
      ) : (
        <div className="bb-empty" data-testid="backbones-no-report">
          <h3>No probe report yet</h3>
          <p>
            Compare how well each model’s embedding predicts the ratings: cross-validated probes per backbone with 95% intervals, a learning curve over label counts, and the images the backbones disagree on. The library has{' '}
            {data.embeddings.length === 1 ? 'one embedding run' : `${data.embeddings.length} embedding runs`} ({[...new Set(data.embeddings.map((e) => e.model))].join(', ')}).
          </p>
          {data.unreportedProbes > 0 && (
            <p className="hint" data-testid="unreported-probes">
              {data.unreportedProbes} per-backbone probe{data.unreportedProbes === 1 ? ' was' : 's were'} stored by <code>miru probe-labels</code>, which keeps no report: run the probe here to compare them.
            </p>
          )}
          <button className="btn btn-primary" onClick={runProbe}>
            Run a probe…
          </button>
          <p className="hint">or from a terminal (prints the report without storing it):</p>
          <code>miru probe-labels --db LIBRARY --embeddings MODEL1,MODEL2</code>
        </div>
      )}
      <RaterModelsSection stored={data.raterModels} hasEmbeddings={data.embeddings.length > 0} onTrain={() => props.openJobs({ kind: 'rater-models' })} onOpen={props.openSample} onShow={showInGrid} />
      {data.unreadable.length > 0 && (
        <section className="bb-section">
          <h4 className="bb-h">Stored results that cannot be shown</h4>
          <ul className="bb-notes" data-testid="unreadable">
            {data.unreadable.map((u) => (
              <li key={u.id}>{u.reason}</li>
            ))}
          </ul>
        </section>
      )}
    </section>
  );
}

// ------------------------------------------------------------------------------------------------- a report

interface BodyProps {
  stored: StoredProbeReport;
  onOpen(id: number): void;
  onShow(ids: number[], what: string): Promise<void>;
}

function ReportBody({ stored, onOpen, onShow }: BodyProps) {
  const r = stored.report;
  const colors = useMemo(() => new Map(r.backbones.map((b, i) => [b.run, backboneColor(i)])), [r]);
  const modelOf = useMemo(() => new Map(r.backbones.map((b) => [b.run, b.model])), [r]);
  const requested = stored.params;
  const classes = r.target.classes;
  return (
    <>
      <section className="bb-section bb-summary" data-testid="probe-summary">
        <p>
          Predicting <strong>{r.target.label}</strong> (classes {classes[0]}–{classes[classes.length - 1]}) from each embedding, on <strong>{formatCount(r.images)}</strong> images with {r.folds}-fold cross-validation (seed {r.seed}). Bars are 95%
          intervals over the folds.
        </p>
        <div className="bb-legend" data-testid="backbone-legend">
          {r.backbones.map((b) => (
            <span key={b.run} className="bb-legend-item" data-testid="backbone" data-run={b.run} data-model={b.model}>
              <span className="bb-swatch" style={{ background: colors.get(b.run) }} />
              <strong>{b.model}</strong>
              <span className="muted">
                run {b.run} · {b.dim}-d
              </span>
            </span>
          ))}
        </div>
        {(requested.excludeTags?.length || requested.learningCurve?.length) && (
          <p className="hint">
            {requested.learningCurve?.length ? `Learning curve asked at ${requested.learningCurve.join(', ')} labels. ` : ''}
            {requested.excludeTags?.length ? `Cleaning: trained again without images tagged ${requested.excludeTags.join(', ')}.` : ''}
          </p>
        )}
        {r.notes.length > 0 && (
          <ul className="bb-notes" data-testid="probe-notes">
            {r.notes.map((n, i) => (
              <li key={i}>{n}</li>
            ))}
          </ul>
        )}
      </section>
      <MetricsSection report={r} colors={colors} />
      <CurveSection report={r} colors={colors} />
      {r.cleaning && <CleaningSection report={r} colors={colors} />}
      <DisagreementSection report={r} colors={colors} modelOf={modelOf} onOpen={onOpen} onShow={onShow} />
    </>
  );
}

type Colors = Map<number, string>;

/** Opens a sample from a card; the card lets go of the focus, so the sample view's first Esc closes it. */
function openFrom(event: MouseEvent<HTMLButtonElement>, id: number, onOpen: (id: number) => void): void {
  event.currentTarget.blur();
  onOpen(id);
}

function intervalRows(report: Report, colors: Colors, metric: MetricInfo['name']): IntervalRow[] {
  return report.backbones.flatMap((b) => b.heads.map((h) => ({ run: b.run, model: b.model, head: h.head, color: colors.get(b.run)!, interval: h.metrics[metric] })));
}

function MetricsSection({ report, colors }: { report: Report; colors: Colors }) {
  const groups: BackboneGroup[] = report.backbones.map((b) => ({
    run: b.run,
    model: b.model,
    dim: b.dim,
    color: colors.get(b.run)!,
    rows: b.heads.map((h) => Object.fromEntries(METRICS.map((m) => [m.name, { run: b.run, model: b.model, head: h.head, color: colors.get(b.run)!, interval: h.metrics[m.name] }])) as Record<MetricInfo['name'], IntervalRow>),
  }));
  // The best backbone × head by Spearman, said in words above the table.
  const best = [...bestRows(intervalRows(report, colors, 'spearman'), METRICS[0]!)][0];
  return (
    <section className="bb-section" data-testid="metrics-section">
      <h4 className="bb-h">Backbones × heads</h4>
      {best && (
        <p className="hint bb-verdict" data-testid="probe-verdict">
          Best by Spearman: <strong style={{ color: best.color }}>{best.model}</strong> with the {HEAD_LABEL[best.head]} head, ρ = {fmt(best.interval.mean)}
          {best.interval.lo !== null ? ` [${fmt(best.interval.lo)}, ${fmt(best.interval.hi)}]` : ''}. Each cell: the mean over folds (dot) and its 95% interval (bar); ★ marks each metric’s best. Overlapping bars are
          differences the folds cannot tell apart.
        </p>
      )}
      <MetricTable groups={groups} />
    </section>
  );
}

function CurveSection({ report, colors }: { report: Report; colors: Colors }) {
  const heads = report.heads;
  const [shown, setShown] = useState<ReadonlySet<ProbeHeadName>>(() => new Set(heads));
  if (report.learningCurve.length === 0) {
    return (
      <section className="bb-section" data-testid="curve-section">
        <h4 className="bb-h">Learning curve</h4>
        <p className="hint" data-testid="curve-empty">
          This probe ran without a learning curve. Run it again with label counts (e.g. 50, 100, 200) to see how many human labels each backbone needs.
        </p>
      </section>
    );
  }
  // Each line ends at the cross-validated result with whole training folds, so the curve shows where it is heading.
  const trainSize = Math.round((report.images * (report.folds - 1)) / report.folds);
  const series: CurveSeries[] = report.backbones.flatMap((b) =>
    b.heads
      .filter((h) => shown.has(h.head))
      .map((h) => {
        const points = report.learningCurve
          .filter((p) => p.run === b.run && p.head === h.head)
          .sort((p, q) => p.labels - q.labels)
          .map((p): CurvePoint => ({ labels: p.labels, mean: p.spearman.mean, lo: p.spearman.lo, hi: p.spearman.hi }));
        const last = points[points.length - 1];
        if (!last || trainSize > last.labels) points.push({ labels: trainSize, mean: h.metrics.spearman.mean, lo: h.metrics.spearman.lo, hi: h.metrics.spearman.hi, full: true });
        return { run: b.run, model: b.model, head: h.head, color: colors.get(b.run)!, points };
      }),
  );
  const toggle = (head: ProbeHeadName) =>
    setShown((s) => {
      const next = new Set(s);
      if (next.has(head)) next.delete(head);
      else next.add(head);
      return next;
    });
  return (
    <section className="bb-section" data-testid="curve-section">
      <div className="bb-section-head">
        <h4 className="bb-h">Learning curve</h4>
        <span className="spacer" />
        <div className="bb-head-toggles" role="group" aria-label="Heads shown">
          {heads.map((h) => (
            <button key={h} className={`bb-toggle${shown.has(h) ? ' on' : ''}`} aria-pressed={shown.has(h)} onClick={() => toggle(h)} data-testid={`curve-head-${h}`}>
              <DashSample head={h} color={shown.has(h) ? 'var(--text)' : 'var(--text-faint)'} />
              {HEAD_LABEL[h]}
            </button>
          ))}
        </div>
      </div>
      <p className="hint">
        Spearman with the target when each training fold is cut to a number of labels (same test folds). The last point, hollow, uses every training label (about {formatCount(trainSize)}).
      </p>
      {series.length ? <LearningCurve series={series} /> : <p className="hint">Choose a head to draw.</p>}
    </section>
  );
}

const TEST_SETS = [
  ['allTest', 'all', 'every test image'],
  ['cleanTest', 'clean', 'the test images not excluded'],
  ['excludedTest', 'excluded', 'the excluded test images'],
] as const;

function CleaningSection({ report, colors }: { report: Report; colors: Colors }) {
  const cleaning = report.cleaning!;
  const [metricName, setMetricName] = useState<MetricInfo['name']>('spearman');
  const metric = METRICS.find((m) => m.name === metricName)!;
  return (
    <section className="bb-section" data-testid="cleaning-section">
      <div className="bb-section-head">
        <h4 className="bb-h">Cleaning experiment</h4>
        <span className="spacer" />
        <label className="tool">
          <span>Metric</span>
          <select className="input input-small" value={metricName} onChange={(e) => setMetricName(e.target.value as MetricInfo['name'])} data-testid="cleaning-metric">
            {METRICS.map((m) => (
              <option key={m.name} value={m.name}>
                {m.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="hint">
        {formatCount(cleaning.excluded)} of {formatCount(report.images)} labelled images excluded ({cleaning.sources.map((s) => `${s.source}: ${formatCount(s.images)}`).join('; ')}). Each head is trained on all images and again on
        the clean ones only, then scored on the same test folds: all test images, the clean ones, and the excluded ones. Green: cleaning helped ({metric.lowerIsBetter ? 'lower' : 'higher'} {metric.label}).
      </p>
      <table className="bb-table" data-testid="cleaning-table">
        <thead>
          <tr>
            <th>backbone · head</th>
            <th>trained on</th>
            {TEST_SETS.map(([key, label, hint]) => (
              <th key={key} title={`Scored on ${hint}`}>
                tested on {label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {cleaning.results.map((res) =>
            (['trainedOnAll', 'trainedOnClean'] as const).map((which) => (
              <tr key={`${res.run}:${res.head}:${which}`} className={which === 'trainedOnAll' ? 'bb-group-start' : ''} data-testid="cleaning-row" data-run={res.run} data-head={res.head} data-trained={which}>
                <td className="bb-clean-label">
                  {which === 'trainedOnAll' && (
                    <>
                      <span className="bb-swatch" style={{ background: colors.get(res.run) }} />
                      {res.model} · {HEAD_LABEL[res.head]}
                    </>
                  )}
                </td>
                <td className="muted">{which === 'trainedOnAll' ? 'all' : 'clean'}</td>
                {TEST_SETS.map(([key]) => {
                  const v = res[which][key][metric.name];
                  const base = res.trainedOnAll[key][metric.name].mean;
                  // Rounded as printed, so a change too small to show is neither green nor red.
                  const delta = which === 'trainedOnClean' && v.mean !== null && base !== null ? Number((v.mean - base).toFixed(3)) : null;
                  const better = delta !== null && delta !== 0 && (metric.lowerIsBetter ? delta < 0 : delta > 0);
                  return (
                    <td key={key} className="bb-num" data-set={key} data-mean={v.mean ?? ''} title={v.lo !== null ? `95% interval over folds: [${fmt(v.lo)}, ${fmt(v.hi)}]` : undefined}>
                      <span className="bb-clean-value">
                        {fmt(v.mean)}
                        {delta !== null && (
                          <span className={`bb-delta ${delta === 0 ? '' : better ? 'bb-up' : 'bb-down'}`}>
                            {delta > 0 ? '+' : ''}
                            {fmt(delta)}
                          </span>
                        )}
                      </span>
                      {v.lo !== null && (
                        <span className="bb-ci">
                          [{fmt(v.lo, 2)}, {fmt(v.hi, 2)}]
                        </span>
                      )}
                    </td>
                  );
                })}
              </tr>
            )),
          )}
        </tbody>
      </table>
    </section>
  );
}

interface DisagreementProps {
  report: Report;
  colors: Colors;
  modelOf: Map<number, string>;
  onOpen(id: number): void;
  onShow(ids: number[], what: string): Promise<void>;
}

function DisagreementSection({ report, colors, modelOf, onOpen, onShow }: DisagreementProps) {
  const { client } = useServices();
  const list = report.disagreements;
  return (
    <section className="bb-section" data-testid="disagreement-section">
      <div className="bb-section-head">
        <h4 className="bb-h">Where the backbones disagree</h4>
        <span className="spacer" />
        {list.length > 0 && (
          <button className="btn btn-small" data-testid="disagreements-in-grid" onClick={() => void onShow(list.map((d) => d.id), 'images the backbones disagree on most')}>
            Show {list.length} in grid
          </button>
        )}
      </div>
      {list.length === 0 ? (
        <p className="hint">Probe two or more embedding runs to see the images their predictions differ on most.</p>
      ) : (
        <>
          <p className="hint">
            Out-of-fold predictions of the {HEAD_LABEL[report.heads[0]!]} head, the largest spread between backbones first. Dots: each backbone’s prediction; white bar: the target. Click an image to open it.
          </p>
          <div className="bb-cards">
            {list.map((d) => (
              <button key={d.id} className="bb-card" data-testid="disagreement" data-id={d.id} onClick={(e) => openFrom(e, d.id, onOpen)} title={d.relPath ?? d.path}>
                {d.hash ? <img src={client.thumbUrl(d.hash)} alt="" /> : <span className="bb-card-blank">no thumbnail</span>}
                <RatingStrip
                  classes={report.target.classes}
                  target={d.target}
                  marks={Object.entries(d.predictions).map(([run, v]) => ({ value: v, color: colors.get(Number(run)) ?? 'var(--text)', title: `${modelOf.get(Number(run)) ?? `run ${run}`}: ${fmt(v, 2)}` }))}
                />
                <span className="bb-card-text">
                  <span>spread {fmt(d.spread, 2)}</span>
                  <span className="muted">target {fmt(d.target, 2)}</span>
                </span>
              </button>
            ))}
          </div>
        </>
      )}
    </section>
  );
}

// ----------------------------------------------------------------------------------------------- rater models

interface RaterModelsProps {
  stored: StoredRaterModels[];
  hasEmbeddings: boolean;
  onTrain(): void;
  onOpen(id: number): void;
  onShow(ids: number[], what: string): Promise<void>;
}

function RaterModelsSection({ stored, hasEmbeddings, onTrain, onOpen, onShow }: RaterModelsProps) {
  const { client } = useServices();
  const [chosen, setChosen] = useState<number | null>(null);
  const current = stored.find((s) => s.id === chosen) ?? stored[0] ?? null;
  const models = useMemo(() => (current ? [...current.models].sort((a, b) => (b.spearman ?? -2) - (a.spearman ?? -2) || a.name.localeCompare(b.name)) : []), [current]);
  if (!current && !hasEmbeddings) return null;
  const unit = current?.params.by === 'cluster' ? 'rater group' : 'rater';
  return (
    <section className="bb-section bb-rater-models" data-testid="rater-models-section">
      <div className="bb-section-head">
        <h4 className="bb-h">Per-rater models</h4>
        <span className="spacer" />
        {stored.length > 1 && (
          <select className="input input-small" value={current?.id ?? ''} onChange={(e) => setChosen(Number(e.target.value))} data-testid="rater-models-select">
            {stored.map((s) => (
              <option key={s.id} value={s.id}>
                #{s.id} · {s.params.head ?? 'ridge'} on {s.model ?? `run ${s.run}`} · by {s.params.by ?? 'rater'} · {when(s.createdAt)}
              </option>
            ))}
          </select>
        )}
        <button className="btn btn-small" onClick={onTrain} data-testid="train-rater-models">
          Train rater models…
        </button>
      </div>
      {!current ? (
        <p className="hint" data-testid="rater-models-empty">
          A head per rater (or rater group) on an embedding says how predictable each rater is from the image alone, and where raters would disagree. None trained yet.
        </p>
      ) : (
        <>
          <p className="hint">
            A {current.params.head ?? 'ridge'} head per {unit} on {current.model ?? `run ${current.run}`}
            {current.params.minRatings ? `, for each ${unit} with at least ${current.params.minRatings} ratings` : ''}: {models.length} models, cross-validated Spearman with their own ratings; predictions for{' '}
            {formatCount(current.images)} images.
          </p>
          <div className="bb-rater-list" data-testid="rater-model-list">
            {models.map((m) => (
              <div key={m.name} className="bb-rater" data-testid="rater-model" data-name={m.name} data-spearman={m.spearman ?? ''} title={`${m.name}: ${m.ratings} rated images${m.raters > 1 ? `, ${m.raters} raters` : ''}`}>
                <span className="bb-rater-name">{m.name}</span>
                <span className="bb-rater-count muted">{formatCount(m.ratings)}</span>
                <span className="bb-rater-bar">
                  <span style={{ width: `${Math.max(0, Math.min(1, m.spearman ?? 0)) * 100}%` }} />
                </span>
                <span className="bb-num">{fmt(m.spearman, 2)}</span>
              </div>
            ))}
          </div>
          {current.disputed.length > 0 && (
            <>
              <div className="bb-section-head bb-subhead">
                <h5 className="bb-h5">Images the rater models dispute most</h5>
                <span className="spacer" />
                <button className="btn btn-small" data-testid="disputed-in-grid" onClick={() => void onShow(current.disputed.map((d) => d.id), 'images the rater models dispute most')}>
                  Show {current.disputed.length} in grid
                </button>
              </div>
              <div className="bb-cards">
                {current.disputed.map((d) => (
                  <button key={d.id} className="bb-card" data-testid="disputed" data-id={d.id} onClick={(e) => openFrom(e, d.id, onOpen)} title={d.relPath ?? `#${d.id}`}>
                    {d.hash ? <img src={client.thumbUrl(d.hash)} alt="" /> : <span className="bb-card-blank">no thumbnail</span>}
                    <RatingStrip
                      classes={current.classes ?? []}
                      target={Number.isFinite(d.mean) ? d.mean : null}
                      marks={d.predictions.map((p, i) => ({ value: p, color: 'rgba(197, 156, 244, 0.75)', title: `${current.models[i]?.name ?? `model ${i + 1}`}: ${fmt(p, 2)}` }))}
                    />
                    <span className="bb-card-text">
                      <span>sd {fmt(d.disagreement, 2)}</span>
                      <span className="muted">mean {fmt(d.mean, 2)}</span>
                    </span>
                  </button>
                ))}
              </div>
            </>
          )}
        </>
      )}
    </section>
  );
}
