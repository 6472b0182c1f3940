/**
 * The Raters view's agreement heatmap (issue 6): pairwise quadratic kappa as an R×R grid of cells on one canvas,
 * rows in the dendrogram's leaf order with the dendrogram drawn to the left, a cluster colour strip beside the
 * rows and above the columns, and spammers marked. One canvas instead of R² DOM elements keeps a 200-rater panel
 * (40,000 cells) a few milliseconds to draw; hover and click are answered from the geometry (hitTest).
 */
import { interpolateViridis } from 'd3-scale-chromatic';

/** Cluster colours for a dark background; red is kept for spammers. */
export const CLUSTER_COLORS = ['#6ea8fe', '#f2a65a', '#5cc689', '#c59cf4', '#e8d35b', '#4fd1c5', '#f59bc6', '#c9a27e'];
export const SPAMMER_COLOR = '#f0716b';
export const UNCLUSTERED_COLOR = '#6b7280';
const MISSING_COLOR = '#23272f';
const DIAGONAL_COLOR = '#2a2f38';
const NEGATIVE_COLOR = '#e0625f';
/** Kappa at or below this gets the full negative colour (agreement worse than chance is rare and worth seeing). */
export const KAPPA_NEGATIVE_FLOOR = -0.5;

export function clusterColor(cluster: number | null, spammer = false): string {
  if (spammer) return SPAMMER_COLOR;
  return cluster === null ? UNCLUSTERED_COLOR : CLUSTER_COLORS[(cluster - 1) % CLUSTER_COLORS.length]!;
}

function mix(a: string, b: string, t: number): string {
  const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
  const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
  return `rgb(${pa.map((v, i) => Math.round(v + (pb[i]! - v) * t)).join(', ')})`;
}

/** Kappa 0..1 on viridis (0 is its dark end, near the background); below 0 toward red. */
export function kappaColor(kappa: number | null): string {
  if (kappa === null || !Number.isFinite(kappa)) return MISSING_COLOR;
  if (kappa >= 0) return interpolateViridis(Math.min(1, kappa));
  return mix('#440154', NEGATIVE_COLOR, Math.min(1, kappa / KAPPA_NEGATIVE_FLOOR));
}

/** CSS gradient matching kappaColor over [KAPPA_NEGATIVE_FLOOR, 1], for the legend. */
export function kappaGradient(): string {
  const span = 1 - KAPPA_NEGATIVE_FLOOR;
  const stops = [`${kappaColor(KAPPA_NEGATIVE_FLOOR)} 0%`, `${kappaColor(0)} ${((-KAPPA_NEGATIVE_FLOOR / span) * 100).toFixed(1)}%`];
  for (let i = 1; i <= 8; i++) stops.push(`${kappaColor(i / 8)} ${(((i / 8 - KAPPA_NEGATIVE_FLOOR) / span) * 100).toFixed(1)}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

export interface HeatmapRow {
  rater: string;
  cluster: number | null;
  spammer: boolean;
}

export interface HeatmapInput {
  /** Rows (and columns) in drawing order: the dendrogram's leaves first, then raters outside every cluster. */
  rows: HeatmapRow[];
  /** kappa[i][j] and common[i][j] in `rows` order. */
  kappa: (number | null)[][];
  /** Merges over the first `leaves` rows (scipy numbering, leaves indexed by row). */
  merges: { left: number; right: number; height: number }[];
  leaves: number;
  /** Clusters the tree was cut into (for the cut line); 0 or 1: none drawn. */
  k: number;
}

export interface HeatmapGeometry {
  /** CSS pixels. */
  width: number;
  height: number;
  cell: number;
  /** Top-left corner of the grid of cells. */
  gridX: number;
  gridY: number;
  /** Left edge of the row strip (the dendrogram ends there). */
  stripX: number;
  labels: boolean;
  n: number;
}

const DENDRO_W = 96;
const STRIP = 6;
const GAP = 3;
const LABEL_W = 96;
const MAX_CELL = 28;
const MIN_CELL = 2;
/** Rater names are written beside the rows from this cell size on. */
const LABEL_CELL = 11;

/** Sizes the grid to the width available: cells as big as fit (2..28 px), names beside them when there is room. */
export function heatmapGeometry(available: number, input: HeatmapInput): HeatmapGeometry {
  const n = input.rows.length;
  const dendro = input.leaves >= 2 ? DENDRO_W : 0;
  const left = dendro + STRIP + GAP;
  const fit = (reserve: number) => Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor((available - left - reserve) / Math.max(1, n))));
  let cell = fit(LABEL_W);
  let labels = cell >= LABEL_CELL;
  if (!labels) cell = fit(0);
  labels = labels && cell >= LABEL_CELL;
  const gridY = STRIP + GAP;
  return { width: left + n * cell + (labels ? LABEL_W : 0), height: gridY + n * cell, cell, gridX: left, gridY, stripX: dendro, labels, n };
}

/** Draws the whole figure; the canvas is sized to the geometry at the device's pixel ratio. */
export function drawHeatmap(canvas: HTMLCanvasElement, input: HeatmapInput, geometry: HeatmapGeometry): void {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.ceil(geometry.width * ratio);
  canvas.height = Math.ceil(geometry.height * ratio);
  canvas.style.width = `${geometry.width}px`;
  canvas.style.height = `${geometry.height}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, geometry.width, geometry.height);
  const { cell, gridX, gridY, n } = geometry;
  // With small cells a hairline between them would eat the colour; from 6 px on, a 1 px gap separates them.
  const inset = cell >= 6 ? 1 : 0;
  for (let i = 0; i < n; i++) {
    const row = input.kappa[i]!;
    for (let j = 0; j < n; j++) {
      ctx.fillStyle = i === j ? DIAGONAL_COLOR : kappaColor(row[j] ?? null);
      ctx.fillRect(gridX + j * cell, gridY + i * cell, cell - inset, cell - inset);
    }
  }
  // Cluster strips: beside the rows and above the columns; spammers red.
  input.rows.forEach((r, i) => {
    ctx.fillStyle = clusterColor(r.cluster, r.spammer);
    ctx.fillRect(geometry.stripX, gridY + i * cell, STRIP, cell - inset);
    ctx.fillRect(gridX + i * cell, 0, cell - inset, STRIP);
  });
  // Where the clustered rows end, a line separates the raters outside every cluster.
  if (input.leaves > 0 && input.leaves < n) {
    ctx.strokeStyle = '#9aa1ad';
    ctx.setLineDash([3, 3]);
    ctx.lineWidth = 1;
    const at = Math.round(gridY + input.leaves * cell) - 0.5;
    ctx.beginPath();
    ctx.moveTo(geometry.stripX, at);
    ctx.lineTo(gridX + n * cell, at);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (geometry.labels) {
    ctx.font = `${Math.min(12, cell - 1)}px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif`;
    ctx.textBaseline = 'middle';
    input.rows.forEach((r, i) => {
      ctx.fillStyle = r.spammer ? SPAMMER_COLOR : '#9aa1ad';
      ctx.fillText(r.rater, gridX + n * cell + 6, gridY + i * cell + cell / 2, LABEL_W - 8);
    });
  }
  drawDendrogram(ctx, input, geometry);
}

/** The tree over the clustered rows: elbows from each merge's height, coloured by cluster where a subtree is one. */
function drawDendrogram(ctx: CanvasRenderingContext2D, input: HeatmapInput, geometry: HeatmapGeometry): void {
  const n = input.leaves;
  if (n < 2 || input.merges.length !== n - 1) return;
  const top = input.merges[n - 2]!.height;
  const width = geometry.stripX - 6;
  const x = (height: number) => 2 + width * (1 - (top > 0 ? height / top : 0));
  const y = new Float64Array(2 * n - 1);
  const h = new Float64Array(2 * n - 1);
  const cluster: (number | null)[] = input.rows.slice(0, n).map((r) => r.cluster);
  for (let i = 0; i < n; i++) y[i] = geometry.gridY + (i + 0.5) * geometry.cell;
  input.merges.forEach((m, s) => {
    y[n + s] = (y[m.left]! + y[m.right]!) / 2;
    h[n + s] = m.height;
    cluster[n + s] = cluster[m.left] !== null && cluster[m.left] === cluster[m.right] ? cluster[m.left]! : null;
  });
  ctx.lineWidth = 1.25;
  input.merges.forEach((m, s) => {
    const node = n + s;
    for (const child of [m.left, m.right]) {
      ctx.strokeStyle = cluster[child] !== null && cluster[node] !== null ? clusterColor(cluster[child]!) : '#6b7280';
      ctx.beginPath();
      ctx.moveTo(child < n ? geometry.stripX - 2 : x(h[child]!), y[child]!);
      ctx.lineTo(x(h[node]!), y[child]!);
      ctx.lineTo(x(h[node]!), y[node]!);
      ctx.stroke();
    }
  });
  // The cut that made k clusters: between the highest merge kept and the lowest one undone.
  if (input.k >= 2 && input.k <= n) {
    const undone = input.merges[n - input.k]!.height;
    const kept = n - input.k - 1 >= 0 ? input.merges[n - input.k - 1]!.height : 0;
    const at = Math.round(x((undone + kept) / 2)) + 0.5;
    ctx.strokeStyle = 'rgba(228, 230, 235, 0.45)';
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(at, geometry.gridY);
    ctx.lineTo(at, geometry.gridY + n * geometry.cell);
    ctx.stroke();
    ctx.setLineDash([]);
  }
}

/** The row and column under a point (CSS pixels relative to the canvas); col null over the strip, labels or tree. */
export function hitTest(geometry: HeatmapGeometry, px: number, py: number): { row: number; col: number | null } | null {
  const { cell, gridX, gridY, n } = geometry;
  const row = Math.floor((py - gridY) / cell);
  const col = Math.floor((px - gridX) / cell);
  if (py < gridY) {
    // The column strip above the grid names a column's rater.
    return px >= gridX && col < n ? { row: col, col: null } : null;
  }
  if (row < 0 || row >= n) return null;
  if (px >= gridX && col < n) return { row, col };
  return { row, col: null };
}
