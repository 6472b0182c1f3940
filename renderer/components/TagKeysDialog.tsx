/** Binds tags to the keys 1-9. Saved in this browser/app profile (localStorage). */
import { useState } from 'react';
import type { TagKeys } from '../state/tagging.js';

export function TagKeysDialog({ keys, onSave, onClose }: { keys: TagKeys; onSave(keys: TagKeys): void; onClose(): void }) {
  const [draft, setDraft] = useState<TagKeys>({ ...keys });
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <form
        className="modal"
        role="dialog"
        aria-label="Tag keys"
        data-testid="tag-keys-dialog"
        onSubmit={(e) => {
          e.preventDefault();
          const clean: TagKeys = {};
          for (const [k, v] of Object.entries(draft)) {
            const tag = v.trim();
            if (!tag) continue;
            if (/\s/.test(tag)) return setError(`Key ${k}: "${tag}" has a space; tags are single words (join with - or _).`);
            clean[k] = tag;
          }
          onSave(clean);
        }}
      >
        <div className="drawer-title">Tag keys</div>
        <p className="hint">
          Press a key to add its tag to the selected images (or the open one); press it again to remove it. Ctrl+Z undoes, Ctrl+Shift+Z redoes.
        </p>
        <div className="form-grid form-grid-keys">
          {['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((k) => (
            <FragmentKey key={k} k={k} value={draft[k] ?? ''} onChange={(v) => setDraft({ ...draft, [k]: v })} />
          ))}
        </div>
        {error && <div className="inline-error">{error}</div>}
        <div className="form-actions">
          <button type="button" className="btn btn-ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary">
            Save
          </button>
        </div>
      </form>
    </div>
  );
}

function FragmentKey({ k, value, onChange }: { k: string; value: string; onChange(v: string): void }) {
  return (
    <>
      <label>
        <kbd>{k}</kbd>
      </label>
      <input className="input" value={value} placeholder="unbound" onChange={(e) => onChange(e.target.value)} aria-label={`Tag for key ${k}`} />
    </>
  );
}
