/** Models: the library's models as cards (input, outputs, provider of the last run), and adding one. */
import { useState } from 'react';
import type { AddModelInput, ModelSummary } from '../../core/api/apiTypes.js';
import { formatCount } from '../state/format.js';
import { useServices } from './appContext.js';
import { Drawer } from './Drawer.js';

interface Props {
  models: ModelSummary[];
  scoreModel: string | null;
  dbPath: string;
  onClose(): void;
  onAdded(model: ModelSummary): void;
  onScore(model: string): void;
  onShowScores(model: string): void;
}

const PRESETS: (AddModelInput['preset'] | '')[] = ['', 'imagenet', 'clip', 'wd-tagger', 'deepghs-aesthetic'];

export function ModelsPanel(props: Props) {
  const { client } = useServices();
  const [file, setFile] = useState('');
  const [name, setName] = useState('');
  const [preset, setPreset] = useState<AddModelInput['preset'] | ''>('');
  const [cardFile, setCardFile] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);

  const add = async () => {
    setError(null);
    setNotice(null);
    if (!file.trim()) return setError('Give the path of an .onnx file on the machine running Miru.');
    const input: AddModelInput = { file: file.trim() };
    if (name.trim()) input.name = name.trim();
    if (preset) input.preset = preset;
    if (cardFile.trim()) input.cardFile = cardFile.trim();
    setAdding(true);
    try {
      const model = await client.call('addModel', input);
      props.onAdded(model);
      if (model.replaced) {
        setNotice(`"${model.name}" replaces an earlier version (another file or card). Its ${model.replaced.runs} run(s) and ${model.replaced.saliencyMaps} saliency map(s) are kept under "${model.replaced.keptAs}"; score "${model.name}" again.`);
      }
      setFile('');
      setName('');
      setCardFile('');
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setAdding(false);
    }
  };

  return (
    <Drawer title="Models" testId="models-panel" onClose={props.onClose}>
        {props.models.length === 0 && (
          <div className="empty-small">
            No models yet. Add an ONNX model below (a preset fills in how to feed it), or from a terminal:
            <pre>miru models add model.onnx --db {props.dbPath || 'library.db'} [--preset wd-tagger]</pre>
          </div>
        )}
        {props.models.map((m) => (
          <ModelCardView key={m.name} model={m} badge={props.scoreModel === m.name} onScore={() => props.onScore(m.name)} onShow={() => props.onShowScores(m.name)} />
        ))}
        <form
          className="card"
          onSubmit={(e) => {
            e.preventDefault();
            void add();
          }}
        >
          <div className="section-title">Add a model</div>
          <div className="form-grid">
            <label>ONNX file</label>
            <input className="input" placeholder="/models/aesthetic.onnx" value={file} onChange={(e) => setFile(e.target.value)} data-testid="model-file" />
            <label>Name</label>
            <input className="input" placeholder="from the file name" value={name} onChange={(e) => setName(e.target.value)} />
            <label>Preset</label>
            <select className="input" value={preset} onChange={(e) => setPreset(e.target.value as AddModelInput['preset'] | '')}>
              {PRESETS.map((p) => (
                <option key={p} value={p}>
                  {p || 'none (graph + card)'}
                </option>
              ))}
            </select>
            <label>Card file</label>
            <input className="input" placeholder="model.card.json (optional)" value={cardFile} onChange={(e) => setCardFile(e.target.value)} />
          </div>
          {error && (
            <div className="inline-error" role="alert">
              {error}
            </div>
          )}
          {notice && (
            <div className="inline-note" role="status" data-testid="models-notice">
              {notice}
            </div>
          )}
          <div className="form-actions">
            <button className="btn btn-primary" type="submit" disabled={adding}>
              {adding ? 'Checking…' : 'Add model'}
            </button>
          </div>
        </form>
    </Drawer>
  );
}

function ModelCardView({ model, badge, onScore, onShow }: { model: ModelSummary; badge: boolean; onScore(): void; onShow(): void }) {
  const card = (model.card ?? {}) as {
    input?: { size?: number[]; layout?: string; resize?: string; channels?: string };
    outputs?: { score?: { kind?: string; labels?: unknown[] }; embedding?: unknown };
    saliency?: { layer?: string };
  };
  const input = card.input;
  const score = card.outputs?.score;
  return (
    <div className="card model-card" data-testid="model-card" data-model={model.name}>
      <div className="job-head">
        <span className="job-kind">{model.name}</span>
        {badge && <span className="pill pill-done">badges</span>}
        <span className="spacer" />
        <span className="pill">{model.provider ?? 'not run yet'}</span>
      </div>
      <div className="muted model-path" title={model.path}>
        {model.path}
      </div>
      <dl className="stats">
        {input && (
          <>
            <dt>input</dt>
            <dd>
              {input.size?.join('×')} {input.layout} {input.channels} · {input.resize}
            </dd>
          </>
        )}
        {score && (
          <>
            <dt>score</dt>
            <dd>
              {score.kind}
              {Array.isArray(score.labels) ? ` · ${score.labels.length} classes` : ''}
            </dd>
          </>
        )}
        <dt>embedding</dt>
        <dd>{card.outputs?.embedding ? 'yes' : 'no'}</dd>
        {card.saliency?.layer && (
          <>
            <dt>saliency layer</dt>
            <dd>{card.saliency.layer}</dd>
          </>
        )}
        <dt>scored</dt>
        <dd>{formatCount(model.scoredImages)} images</dd>
      </dl>
      <div className="form-actions">
        <button className="btn btn-small" onClick={onScore} data-testid="model-score">
          Score library
        </button>
        <button className="btn btn-ghost btn-small" onClick={onShow} disabled={model.scoredImages === 0}>
          Show its scores
        </button>
      </div>
    </div>
  );
}
