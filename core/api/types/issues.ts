/**
 * What the Issues view receives from `issueSummary` and `issueItems` (issue 6, "Data quality"): the kinds of
 * problem Miru finds (likely label errors, outliers, near-duplicates, odd images, images the rater models split
 * on), how many images each flags, and the flagged images ranked. Type declarations only, with no imports: the
 * renderer type-checks this file under its own DOM-only tsconfig, where core's runtime modules cannot be seen.
 * core/api/issuesApi.ts computes them.
 */

/** The odd-image checks of core/analysis/imageIssues.ts (cleanvision's issue types). */
export type ImageIssueCategory = 'dark' | 'light' | 'blurry' | 'low_information' | 'odd_aspect_ratio' | 'odd_size' | 'grayscale';

export type IssueCategoryKey = 'label-issues' | 'outliers' | 'near-duplicates' | 'rater-disagreement' | ImageIssueCategory;

/** The job (StartJobInput.kind) that computes a category; the Issues view offers it while nothing is stored. */
export type IssueJobKind = 'issues' | 'outliers' | 'duplicates' | 'rater-models';

export interface IssueCategory {
  key: IssueCategoryKey;
  /** Where the problem lies: in the ratings, in embedding space, in the pixels, between raters. */
  group: 'labels' | 'embedding' | 'image' | 'raters';
  label: string;
  /** What the category means and the rule that flags an image, in a sentence or two. */
  description: string;
  /** The newest stored analysis behind the category; null (and every count null) when it was never computed. */
  analysisId: number | null;
  /** Images flagged by the category's rule. */
  flagged: number | null;
  /** Images the analysis looked at. */
  checked: number | null;
  /** Near-duplicates only: the number of groups the flagged images form. */
  groups?: number;
  computedAt: string | null;
  /** The embedding run (and its model) the analysis was computed from; null for checks of the pixels alone. */
  source: { runId: number; model: string | null } | null;
  job: IssueJobKind;
  /** The command that computes it, for people at a terminal. */
  command: string;
}

export interface IssueSummary {
  categories: IssueCategory[];
}

export interface IssueItemsInput {
  category: IssueCategoryKey;
  /** 1..1000, default 100. */
  limit?: number;
  offset?: number;
  /**
   * List every image whose score is at least this (0..1), flagged or not. Without it: the flagged images only.
   */
  minScore?: number;
}

export interface IssueItem {
  id: number;
  relPath: string;
  /** Content hash: the thumbnail is /thumb/<hash>. */
  hash: string | null;
  tags: string[];
  /**
   * How strong the issue is, 0..1, higher = stronger, the same direction in every category (the stored values
   * run both ways: label quality is low for a likely error, an outlier's distance high). See IssueScale.
   */
  score: number;
  /** The stored per-image value the score comes from (label quality, mean distance, cleanvision score, ...). */
  value: number | null;
  flagged: boolean;
  /** The evidence in words: "consensus 2, model says 4", "group 3 · 5 images · identical file", "dark 0.12". */
  detail: string;
  /** Near-duplicates: the image's group and its size. */
  group?: { id: number; size: number };
}

/** How a category's 0..1 score is made from its stored value. */
export interface IssueScale {
  /** The stored value, as the detail names it ("label quality", "mean distance"). */
  value: string;
  /** The formula from value to score, for the view's tooltip. */
  score: string;
  /** The score above which the flag rule fires, where the rule is a cut on the score; null otherwise. */
  flagAbove: number | null;
}

export interface IssueItemsResult {
  category: IssueCategoryKey;
  analysisId: number;
  /** Items matching (flagged, or at least minScore), whatever the page. */
  total: number;
  /** Flagged images in the analysis. */
  flagged: number;
  offset: number;
  limit: number;
  minScore: number | null;
  scale: IssueScale;
  /** Every image of the analysis by score: counts[i] holds scores in [i/bins, (i+1)/bins) (the last bin includes 1). */
  histogram: number[];
  /** Strongest first; near-duplicates come group by group (strongest group first). */
  items: IssueItem[];
}
