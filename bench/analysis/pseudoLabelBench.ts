/**
 * Soft-label and pseudo-label benchmarks for `npm run bench:analysis`:
 * - label spreading on a 100,000-image kNN graph (k = 10, 5 classes, 2% labelled, alpha 0.99): conjugate gradient
 *   (core/analysis/labelPropagation.ts) against the same-run baseline of scikit-learn's method, the fixed-point
 *   iteration F <- alpha S F + Y, both stopped at the same relative residual (1e-6). The graph is synthetic (each
 *   image's neighbours mostly in its own block of 100, the rest anywhere) so the row measures the solver alone;
 *   building kNN graphs is embeddingBench's row.
 * - writing 100,000 pseudo-label rows (id, path, label, confidence, certainty, 5 shares) as Parquet and JSON Lines
 *   against CSV, encoding only (the sink discards the bytes).
 */
import { Writable } from 'node:stream';
import { normalizedAffinity, spreadLabels } from '../../core/analysis/labelPropagation.js';
import { writeRows, type ExportColumn } from '../../core/library/exportTable.js';
import { median, now, rng } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const N = Number(process.env.MIRU_BENCH_N ?? 100_000);
const K = 10;
const CLASSES = 5;
const ALPHA = 0.99;
const TOLERANCE = 1e-6;

function syntheticGraph(n: number): { k: number; indices: Int32Array; distances: Float32Array } {
  const random = rng(11);
  const indices = new Int32Array(n * K);
  const distances = new Float32Array(n * K);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < K; t++) {
      let j = random() < 0.85 ? Math.floor(i / 100) * 100 + Math.floor(random() * 100) : Math.floor(random() * n);
      if (j === i || j >= n) j = (i + 1) % n;
      indices[i * K + t] = j;
      distances[i * K + t] = 0.05 + 0.4 * random();
    }
  }
  return { k: K, indices, distances };
}

/** scikit-learn's LabelSpreading loop (unscaled: F <- alpha S F + Y has the same fixed point up to 1 - alpha). */
function fixedPointSpreading(graph: ReturnType<typeof syntheticGraph>, seeds: Int32Array): { labels: Int32Array; iterations: number } {
  const n = seeds.length;
  const s = normalizedAffinity(graph, n, 'similarity', 3);
  const y = new Float64Array(n * CLASSES);
  for (let i = 0; i < n; i++) if (seeds[i]! >= 0) y[i * CLASSES + seeds[i]!] = 1;
  let yNorm = 0;
  for (const v of y) yNorm += v * v;
  yNorm = Math.sqrt(yNorm);
  let f = Float64Array.from(y);
  let next = new Float64Array(n * CLASSES);
  let iterations = 0;
  for (; iterations < 10_000; iterations++) {
    // next = alpha S f + y; the residual y - (I - alpha S) f is next - f.
    let residual = 0;
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < CLASSES; q++) next[i * CLASSES + q] = y[i * CLASSES + q]!;
      for (let p = s.rowStart[i]!; p < s.rowStart[i + 1]!; p++) {
        const w = ALPHA * s.values[p]!;
        const o = s.columns[p]! * CLASSES;
        for (let q = 0; q < CLASSES; q++) next[i * CLASSES + q]! += w * f[o + q]!;
      }
      for (let q = 0; q < CLASSES; q++) residual += (next[i * CLASSES + q]! - f[i * CLASSES + q]!) ** 2;
    }
    [f, next] = [next, f];
    if (Math.sqrt(residual) <= TOLERANCE * yNorm) break;
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let q = 1; q < CLASSES; q++) if (f[i * CLASSES + q]! > f[i * CLASSES + best]!) best = q;
    labels[i] = best;
  }
  return { labels, iterations };
}

class Discard extends Writable {
  bytes = 0;
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.bytes += chunk.length;
    done();
  }
}

export async function runPseudoLabelBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const graph = syntheticGraph(N);
  const random = rng(12);
  const truth = Int32Array.from({ length: N }, (_, i) => Math.floor(i / 100) % CLASSES);
  const seeds = Int32Array.from(truth, (c) => (random() < 0.02 ? c : -1));

  const cgTimes: number[] = [];
  let cg = spreadLabels(graph, seeds, CLASSES, { alpha: ALPHA, tolerance: TOLERANCE });
  for (let r = 0; r < 3; r++) {
    const t = now();
    cg = spreadLabels(graph, seeds, CLASSES, { alpha: ALPHA, tolerance: TOLERANCE });
    cgTimes.push(now() - t);
  }
  const t0 = now();
  const fixed = fixedPointSpreading(graph, seeds);
  const fixedMs = now() - t0;
  let agree = 0;
  let correct = 0;
  let unlabelled = 0;
  for (let i = 0; i < N; i++) {
    if (cg.labels[i] === fixed.labels[i]) agree++;
    if (seeds[i]! < 0) {
      unlabelled++;
      if (cg.labels[i] === truth[i]) correct++;
    }
  }
  const cgMs = median(cgTimes);
  rows.push({
    name: `label spreading ${N.toLocaleString('en-US')} × k=${K}, ${CLASSES} classes (ms)`,
    baseline: fixedMs,
    value: cgMs,
    ratio: cgMs / fixedMs,
    note: `CG ${cg.iterations} iterations vs fixed-point ${fixed.iterations}; labels agree on ${((100 * agree) / N).toFixed(2)}%; accuracy on unlabelled ${((100 * correct) / unlabelled).toFixed(1)}%`,
  });

  const columns: ExportColumn[] = [
    { name: 'id', type: 'INT64' },
    { name: 'path', type: 'STRING' },
    { name: 'label', type: 'DOUBLE' },
    { name: 'confidence', type: 'FLOAT' },
    { name: 'certainty', type: 'FLOAT' },
    ...Array.from({ length: CLASSES }, (_, q) => ({ name: `p_${q + 1}`, type: 'FLOAT' as const })),
  ];
  const table = Array.from({ length: N }, (_, i) => {
    const row: Record<string, unknown> = { id: i + 1, path: `images/img_${String(i).padStart(6, '0')}.png`, label: cg.labels[i]! + 1, confidence: cg.confidence[i], certainty: cg.certainty[i] };
    for (let q = 0; q < CLASSES; q++) row[`p_${q + 1}`] = cg.distributions[i * CLASSES + q];
    return row;
  });
  const timeFormat = async (format: 'csv' | 'jsonl' | 'parquet') => {
    const sink = new Discard();
    const t = now();
    await writeRows(columns, table, format, sink);
    return { ms: now() - t, bytes: sink.bytes };
  };
  const csv = await timeFormat('csv');
  for (const format of ['jsonl', 'parquet'] as const) {
    const result = await timeFormat(format);
    rows.push({
      name: `write ${N.toLocaleString('en-US')} pseudo-label rows as ${format} (ms)`,
      baseline: csv.ms,
      value: result.ms,
      ratio: result.ms / csv.ms,
      note: `baseline CSV; ${(result.bytes / 1e6).toFixed(1)} MB vs CSV ${(csv.bytes / 1e6).toFixed(1)} MB`,
    });
  }
  return rows;
}
