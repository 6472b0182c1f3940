/**
 * bench:analysis — issue 6's figures, each beside a baseline measured in the same run (these machines are shared
 * and noisy, so only ratios compare across runs): kNN build and recall@10 against exact search on 100k × 512,
 * UMAP on 100k points, confident learning on 1M × 7 probabilities, Krippendorff's alpha on 1M ratings, probe
 * heads, and the map's frame time with 1M points in headless Chromium.
 * MIRU_BENCH_ONLY=map,raters,... runs a subset; MIRU_BENCH_N scales the embedding sections down for a quick run.
 */
import { printTable, heading } from './benchUtil.js';
import type { BenchRow } from './analysis/benchRow.js';

const SECTIONS: { name: string; title: string; run: () => Promise<BenchRow[]> }[] = [
  { name: 'embedding', title: 'kNN index, recall and projections (100k × 512)', run: async () => (await import('./analysis/embeddingBench.js')).runEmbeddingBench() },
  { name: 'labels', title: 'Confident learning (1M × 7 probabilities)', run: async () => (await import('./analysis/labelIssuesBench.js')).runLabelIssuesBench() },
  { name: 'issues', title: 'Issues view API on 1M images', run: async () => (await import('./analysis/issuesBench.js')).issuesBench() },
  { name: 'raters', title: "Krippendorff's alpha and the rater analysis", run: async () => (await import('./analysis/raterBench.js')).runRaterBench() },
  { name: 'raterReport', title: 'Raters view API (computed vs cached)', run: async () => (await import('./analysis/raterReportBench.js')).runRaterReportBench() },
  { name: 'probes', title: 'Probe heads on embeddings', run: async () => (await import('./analysis/probeBench.js')).runProbeBench() },
  { name: 'probejobs', title: 'Probe jobs in a worker (the UI stays responsive)', run: async () => (await import('./analysis/probeJobBench.js')).runProbeJobBench() },
  { name: 'pseudo', title: 'Soft labels and pseudo-labels', run: async () => (await import('./analysis/pseudoLabelBench.js')).runPseudoLabelBench() },
  { name: 'map', title: 'Embedding map in headless Chromium', run: async () => (await import('./analysis/mapBench.js')).runMapBench() },
];

function cell(n: number | null, digits = 1): string {
  if (n === null || !Number.isFinite(n)) return '—';
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
}

const only = process.env.MIRU_BENCH_ONLY?.split(',').map((s) => s.trim());
for (const section of SECTIONS) {
  if (only && !only.includes(section.name)) continue;
  heading(section.title);
  try {
    const rows = await section.run();
    printTable([['measure', 'baseline', 'value', 'ratio', 'note'], ...rows.map((r) => [r.name, cell(r.baseline), cell(r.value), r.ratio === null ? '—' : `${cell(r.ratio, 2)}${r.baseline === null ? '' : 'x'}`, r.note])], 1);
  } catch (error) {
    console.log(`${section.name} failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  }
}
