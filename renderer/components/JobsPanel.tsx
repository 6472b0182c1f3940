/**
 * Jobs: start index/score/embed/explain, watch progress live (job events), see time left, cancel, and read each
 * failure (the job's error and per-file errors) where it happened.
 */
import { useEffect, useState } from 'react';
import type { JobInfo, JobKind, ModelSummary } from '../../core/api/apiTypes.js';
import { formatCount, formatDuration } from '../state/format.js';
import { SALIENCY_METHODS } from './SampleView.js';
import { useServices } from './appContext.js';
import { Drawer } from './Drawer.js';
import { ProbeJobFields, type JobFormValue } from './ProbeJobFields.js';

export interface JobPrefill {
  kind: JobKind;
  model?: string;
}

interface Props {
  jobs: JobInfo[];
  models: ModelSummary[];
  roots: string[];
  dbPath: string;
  filters: string[];
  prefill: JobPrefill | null;
  onClose(): void;
  onStarted(job: JobInfo): void;
}

/** What each job does, in a line (the form shows it; the kind buttons carry it as a tooltip). */
const JOB_HINTS: Record<JobKind, string> = {
  index: 'Scan folders for images: thumbnails, image statistics, content hashes.',
  score: 'Score every image with a model (resumable).',
  embed: 'Store an embedding vector per image: the input of maps, outliers, duplicates and probes.',
  explain: 'Compute and cache saliency maps for the images in view.',
  project: 'A 2-D map of a model’s embeddings (UMAP or PCA) for the Map view.',
  outliers: 'Outlier scores: mean distance to the nearest neighbours in embedding space.',
  duplicates: 'Exact duplicates by content hash, near duplicates by embedding distance.',
  raters: 'Rater agreement, consensus, rater clusters and spammers.',
  'pseudo-labels': 'Labels for unrated images: spread over the kNN graph of a model’s embeddings, with a held-out check.',
  probe: 'Which backbone predicts the ratings best: cross-validated probes per embedding, a learning curve, where backbones disagree.',
  'rater-models': 'A probe head per rater (or rater group) on one embedding: how predictable each rater is, and where they would disagree.',
  issues: 'Likely label errors (confident learning with a head on a model’s embeddings) and odd images: dark, light, blurry, low information, odd shape or size, grayscale.',
};

/** core/analysis/confidentLearning.ts FILTER_BY and RANK_BY (the API refuses anything else). */
const ISSUE_FILTERS = ['prune_by_noise_rate', 'prune_by_class', 'both', 'confident_learning', 'predicted_neq_given', 'low_normalized_margin', 'low_self_confidence'] as const;
const ISSUE_RANKINGS = ['self_confidence', 'normalized_margin', 'confidence_weighted_entropy'] as const;

export function JobsPanel(props: Props) {
  const { client } = useServices();
  const [kind, setKind] = useState<JobKind>(props.prefill?.kind ?? (props.models.length ? 'score' : 'index'));
  const [roots, setRoots] = useState(props.roots.join('\n'));
  const [model, setModel] = useState(props.prefill?.model ?? props.models[0]?.name ?? '');
  const [batch, setBatch] = useState('');
  const [ep, setEp] = useState('auto');
  const [method, setMethod] = useState('gradcam');
  const [layer, setLayer] = useState('');
  const [target, setTarget] = useState('');
  const [useFilters, setUseFilters] = useState(true);
  const [projection, setProjection] = useState<'umap' | 'pca'>('umap');
  const [neighbours, setNeighbours] = useState('');
  const [threshold, setThreshold] = useState('');
  const [clusters, setClusters] = useState('auto');
  const [issueHead, setIssueHead] = useState<'logistic' | 'ordinal'>('logistic');
  const [folds, setFolds] = useState('');
  const [filterBy, setFilterBy] = useState<(typeof ISSUE_FILTERS)[number]>('prune_by_noise_rate');
  const [rankBy, setRankBy] = useState<(typeof ISSUE_RANKINGS)[number]>('self_confidence');
  const [imageIssues, setImageIssues] = useState(true);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (props.prefill) {
      setKind(props.prefill.kind);
      if (props.prefill.model) setModel(props.prefill.model);
    }
  }, [props.prefill]);
  useEffect(() => {
    if (!model && props.models[0]) setModel(props.models[0].name);
  }, [props.models, model]);

  /** The probe jobs pick embedding runs in their own fields (ProbeJobFields). */
  const probeKind = kind === 'probe' || kind === 'rater-models';
  const [probeForm, setProbeForm] = useState<JobFormValue>({ error: 'Still listing the embedding runs…' });
  const needsModel = kind !== 'index' && kind !== 'raters' && !probeKind;
  /** Analysis jobs read a model's latest embedding run: the model select names it. */
  const onEmbedding = kind === 'project' || kind === 'outliers' || kind === 'duplicates' || kind === 'issues' || kind === 'pseudo-labels';
  const start = async () => {
    setError(null);
    let params: Record<string, unknown>;
    if (kind === 'index') {
      const list = roots
        .split('\n')
        .map((r) => r.trim())
        .filter(Boolean);
      if (list.length === 0) return setError('Name at least one folder to index (an absolute path on the machine running Miru).');
      params = { roots: list };
    } else if (probeKind) {
      if ('error' in probeForm) return setError(probeForm.error);
      params = probeForm.params;
    } else if (kind === 'raters') {
      params = { clusters: clusters === 'auto' ? 'auto' : Number(clusters) };
    } else if (onEmbedding) {
      if (!model) return setError('Add a model and embed the library with it first (an embed job), then analyse its embeddings.');
      params = { embedding: model };
      if (kind === 'project') params.method = projection;
      if ((kind === 'outliers' || kind === 'pseudo-labels') && neighbours.trim()) params.k = Number(neighbours);
      if (kind === 'pseudo-labels') params.method = 'propagation';
      if (kind === 'duplicates' && threshold.trim()) params.threshold = Number(threshold);
      if (kind === 'issues') {
        Object.assign(params, { head: issueHead, filterBy, rankBy, imageIssues });
        if (folds.trim()) params.folds = Number(folds);
      }
    } else {
      if (!model) return setError('Add a model first (Models panel), then score, embed or explain with it.');
      params = { model };
      if (kind === 'score' || kind === 'embed') {
        if (batch.trim()) params.batch = Number(batch);
        if (ep !== 'auto') params.ep = ep;
      } else {
        params.method = method;
        if (layer.trim()) params.layer = layer.trim();
        if (target.trim()) params.target = target.trim();
        if (useFilters && props.filters.length) params.filters = props.filters;
      }
    }
    setStarting(true);
    try {
      const job = await client.call('startJob', { kind, params });
      props.onStarted(job);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setStarting(false);
    }
  };

  const jobs = [...props.jobs].sort((a, b) => b.id - a.id);
  return (
    <Drawer title="Jobs" testId="jobs-panel" onClose={props.onClose}>
        <form
          className="card job-form"
          onSubmit={(e) => {
            e.preventDefault();
            void start();
          }}
        >
          {([['Library', ['index', 'score', 'embed', 'explain']], ['Analysis', ['project', 'outliers', 'duplicates', 'issues']], ['Labels', ['raters', 'pseudo-labels']], ['Probes', ['probe', 'rater-models']]] as const).map(([title, kinds]) => (
            <div className="job-kind-row" key={title}>
              <span className="job-kind-title">{title}</span>
              <div className="segmented" role="radiogroup" aria-label={`${title} job kind`}>
                {kinds.map((k) => (
                  <button type="button" key={k} role="radio" aria-checked={kind === k} className={kind === k ? 'on' : ''} onClick={() => setKind(k)} data-testid={`job-kind-${k}`} title={JOB_HINTS[k]}>
                    {k === 'project' ? 'map' : k === 'rater-models' ? 'rater models' : k}
                  </button>
                ))}
              </div>
            </div>
          ))}
          <p className="hint job-hint">{JOB_HINTS[kind]}</p>
          <div className="form-grid">
            {kind === 'index' && (
              <>
                <label>Folders</label>
                <textarea className="input" rows={3} value={roots} placeholder="/data/images (one per line)" onChange={(e) => setRoots(e.target.value)} />
              </>
            )}
            {needsModel && (
              <>
                <label>{onEmbedding ? 'Embeddings of' : 'Model'}</label>
                {props.models.length ? (
                  <select className="input" value={model} onChange={(e) => setModel(e.target.value)} data-testid="job-model">
                    {props.models.map((m) => (
                      <option key={m.name}>{m.name}</option>
                    ))}
                  </select>
                ) : (
                  <span className="hint">No models yet: add one in Models.</span>
                )}
              </>
            )}
            {(kind === 'score' || kind === 'embed') && (
              <>
                <label>Provider</label>
                <select className="input" value={ep} onChange={(e) => setEp(e.target.value)}>
                  {['auto', 'cpu', 'cuda', 'webgpu', 'dml', 'coreml'].map((p) => (
                    <option key={p}>{p}</option>
                  ))}
                </select>
                <label>Batch</label>
                <input className="input" inputMode="numeric" placeholder="16" value={batch} onChange={(e) => setBatch(e.target.value)} />
              </>
            )}
            {kind === 'project' && (
              <>
                <label>Method</label>
                <select className="input" value={projection} onChange={(e) => setProjection(e.target.value as 'umap' | 'pca')} data-testid="job-projection">
                  <option value="umap">UMAP (neighbourhoods)</option>
                  <option value="pca">PCA (exact, fast)</option>
                </select>
              </>
            )}
            {(kind === 'outliers' || kind === 'pseudo-labels') && (
              <>
                <label>Neighbours</label>
                <input className="input" inputMode="numeric" placeholder="10" value={neighbours} onChange={(e) => setNeighbours(e.target.value)} />
              </>
            )}
            {kind === 'duplicates' && (
              <>
                <label>Distance</label>
                <input className="input" inputMode="decimal" placeholder="auto (cosine)" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
              </>
            )}
            {kind === 'issues' && (
              <>
                <label>Head</label>
                <select className="input" value={issueHead} onChange={(e) => setIssueHead(e.target.value as 'logistic' | 'ordinal')} data-testid="job-issues-head">
                  <option value="logistic">logistic (multinomial)</option>
                  <option value="ordinal">ordinal</option>
                </select>
                <label>Folds</label>
                <input className="input" inputMode="numeric" placeholder="5" value={folds} onChange={(e) => setFolds(e.target.value)} />
                <label>Flag by</label>
                <select className="input" value={filterBy} onChange={(e) => setFilterBy(e.target.value as (typeof ISSUE_FILTERS)[number])}>
                  {ISSUE_FILTERS.map((f) => (
                    <option key={f} value={f}>
                      {f.replace(/_/g, ' ')}
                    </option>
                  ))}
                </select>
                <label>Rank by</label>
                <select className="input" value={rankBy} onChange={(e) => setRankBy(e.target.value as (typeof ISSUE_RANKINGS)[number])}>
                  {ISSUE_RANKINGS.map((r) => (
                    <option key={r} value={r}>
                      {r.replace(/_/g, ' ')}
                    </option>
                  ))}
                </select>
                <span />
                <label className="check-row">
                  <input type="checkbox" checked={imageIssues} onChange={(e) => setImageIssues(e.target.checked)} />
                  also check for odd images (dark, blurry, odd size…)
                </label>
              </>
            )}
            {kind === 'raters' && (
              <>
                <label>Clusters</label>
                <select className="input" value={clusters} onChange={(e) => setClusters(e.target.value)}>
                  {['auto', '2', '3', '4', '5', '6', '8'].map((k) => (
                    <option key={k}>{k}</option>
                  ))}
                </select>
              </>
            )}
            {probeKind && <ProbeJobFields kind={kind} onChange={setProbeForm} />}
            {kind === 'explain' && (
              <>
                <label>Method</label>
                <select className="input" value={method} onChange={(e) => setMethod(e.target.value)}>
                  {SALIENCY_METHODS.map((m) => (
                    <option key={m}>{m}</option>
                  ))}
                </select>
                <label>Layer</label>
                <input className="input" placeholder="card default" value={layer} onChange={(e) => setLayer(e.target.value)} />
                <label>Target</label>
                <input className="input" placeholder="score" value={target} onChange={(e) => setTarget(e.target.value)} />
                <span />
                <label className="check-row">
                  <input type="checkbox" checked={useFilters} onChange={(e) => setUseFilters(e.target.checked)} />
                  only the images matching the current filters ({props.filters.length ? `${props.filters.length} filters` : 'none: all images'})
                </label>
              </>
            )}
          </div>
          {error && (
            <div className="inline-error" role="alert" data-testid="job-start-error">
              {error}
            </div>
          )}
          <div className="form-actions">
            <button className="btn btn-primary" type="submit" disabled={starting || (needsModel && props.models.length === 0)} data-testid="job-start">
              {starting ? 'Starting…' : `Start ${kind}`}
            </button>
          </div>
        </form>
        {jobs.length === 0 && <div className="empty-small">No jobs yet in this session. Jobs run in the background; you can keep browsing.</div>}
        {jobs.map((job) => (
          <JobCard key={job.id} job={job} />
        ))}
    </Drawer>
  );
}

function JobCard({ job }: { job: JobInfo }) {
  const { client, toast } = useServices();
  const fraction = job.total ? Math.min(1, job.done / job.total) : null;
  const running = job.status === 'running';
  return (
    <div className={`card job job-${job.status}`} data-testid="job" data-job-id={job.id} data-status={job.status}>
      <div className="job-head">
        <span className="job-kind">{job.kind}</span>
        <span className="muted">#{job.id}</span>
        <span className={`pill pill-${job.status}`}>{job.status}</span>
        <span className="spacer" />
        {running && (
          <button
            className="btn btn-ghost btn-small"
            data-testid="job-cancel"
            onClick={() => client.call('cancelJob', { id: job.id }).catch((e: unknown) => toast('error', (e as Error).message))}
          >
            Cancel
          </button>
        )}
      </div>
      <div className="job-phase">{job.phase}</div>
      <div className={`progress ${fraction === null && running ? 'indeterminate' : ''}`} role="progressbar" aria-valuemin={0} aria-valuemax={job.total ?? undefined} aria-valuenow={job.done}>
        <span style={{ width: `${(fraction ?? (running ? 0.3 : 1)) * 100}%` }} />
      </div>
      <div className="job-numbers">
        <span>
          {formatCount(job.done)}
          {job.total !== null ? ` / ${formatCount(job.total)}` : ''}
        </span>
        {running && job.secondsLeft !== null && <span data-testid="job-eta">{formatDuration(job.secondsLeft)} left</span>}
        <span className="muted">{new Date(job.startedAt).toLocaleTimeString()}</span>
      </div>
      {job.error && (
        <div className="inline-error" role="alert">
          {job.error}
        </div>
      )}
      {job.failures.length > 0 && (
        <details className="failures">
          <summary>
            {job.failures.length} file{job.failures.length === 1 ? '' : 's'} failed
          </summary>
          <ul>
            {job.failures.map((f, i) => (
              <li key={i}>
                <code>{f.path}</code>
                <span>{f.error}</span>
              </li>
            ))}
          </ul>
        </details>
      )}
      {job.status === 'done' && job.summary !== null && job.summary !== undefined && <Summary value={job.summary} />}
    </div>
  );
}

function Summary({ value }: { value: unknown }) {
  if (typeof value !== 'object' || value === null) return <div className="job-summary">{String(value)}</div>;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean');
  if (entries.length === 0) return null;
  return (
    <dl className="stats job-summary">
      {entries.slice(0, 8).map(([k, v]) => (
        <SummaryRow key={k} name={k} value={typeof v === 'number' ? formatCount(Math.round(v * 1000) / 1000) : String(v)} />
      ))}
    </dl>
  );
}

function SummaryRow({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>{value}</dd>
    </>
  );
}
