/**
 * What the analysis views (issues, raters, backbones) get from the shell: the filter state they may change (so a
 * click on a rater or an issue list filters the grid beside them), tagging with the shell's undo history, the
 * sample view, and the jobs drawer for computing what is missing.
 */
import type { ModelSummary } from '../../core/api/apiTypes.js';
import type { JobPrefill } from './JobsPanel.js';
import type { FilterState } from '../state/urlState.js';

export interface WorkbenchViewProps {
  filters: FilterState;
  setFilters(next: FilterState): void;
  openSample(id: number): void;
  /** Tags (or untags) images through the shell, so Ctrl+Z undoes it like a hotkey tag. */
  applyTag(tag: string, add: boolean, ids: number[]): Promise<void>;
  /** Opens the jobs drawer with a job kind chosen (e.g. to compute a missing analysis). */
  openJobs(prefill: JobPrefill): void;
  tags: { tag: string; count: number }[];
  raters: { name: string; ratings: number; group: string | null }[];
  models: ModelSummary[];
  /** Grows whenever images, tags, ratings or stored analyses change: views reload what they show. */
  revision: number;
}
