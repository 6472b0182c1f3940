/**
 * A d3-scaled histogram with a brush, as a plain class (attach/update/dispose). Bars show the field's distribution
 * under every *other* filter; the brush (drag across the bars, click a bar for its bin, double-click to clear)
 * proposes this field's own range, committed on release. Drawing touches only this component's SVG.
 */
import { scaleLinear, scaleSqrt } from 'd3-scale';
import { max } from 'd3-array';

export interface HistogramData {
  edges: number[];
  counts: number[];
  missing: number;
}

export interface HistogramOptions {
  onRange(range: [number, number] | null): void;
  format(value: number): string;
}

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 56;
const AXIS = 14;

export class HistogramEngine {
  private svg!: SVGSVGElement;
  private bars!: SVGGElement;
  private brush!: SVGRectElement;
  private labels!: SVGGElement;
  private readonly controller = new AbortController();
  private resizeObserver: ResizeObserver | null = null;
  private width = 0;
  private data: HistogramData | null = null;
  private range: [number | null, number | null] | null = null;
  private drag: { start: number; current: number; moved: boolean } | null = null;

  constructor(private readonly options: HistogramOptions) {}

  attach(container: HTMLElement): void {
    const signal = this.controller.signal;
    this.svg = document.createElementNS(SVG, 'svg');
    this.svg.setAttribute('class', 'histogram');
    this.svg.setAttribute('height', String(HEIGHT));
    this.bars = document.createElementNS(SVG, 'g');
    this.brush = document.createElementNS(SVG, 'rect');
    this.brush.setAttribute('class', 'histogram-brush');
    this.brush.setAttribute('y', '0');
    this.brush.setAttribute('height', String(HEIGHT - AXIS));
    this.labels = document.createElementNS(SVG, 'g');
    this.labels.setAttribute('class', 'histogram-axis');
    this.svg.append(this.bars, this.brush, this.labels);
    container.append(this.svg);
    this.svg.addEventListener('pointerdown', (e) => this.onPointerDown(e), { signal });
    this.svg.addEventListener('pointermove', (e) => this.onPointerMove(e), { signal });
    this.svg.addEventListener('pointerup', () => this.onPointerUp(), { signal });
    this.svg.addEventListener('dblclick', () => this.options.onRange(null), { signal });
    this.resizeObserver = new ResizeObserver(() => {
      const w = container.clientWidth;
      if (w !== this.width) {
        this.width = w;
        this.draw();
      }
    });
    this.resizeObserver.observe(container);
    this.width = container.clientWidth;
  }

  update(data: HistogramData | null, range: [number | null, number | null] | null): void {
    this.data = data;
    this.range = range;
    this.draw();
  }

  dispose(): void {
    this.controller.abort();
    this.resizeObserver?.disconnect();
    this.svg?.remove();
  }

  private domain(): [number, number] | null {
    const edges = this.data?.edges;
    if (!edges || edges.length < 2) return null;
    const lo = edges[0]!;
    const hi = edges[edges.length - 1]!;
    return hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5];
  }

  private x() {
    return scaleLinear()
      .domain(this.domain() ?? [0, 1])
      .range([1, Math.max(2, this.width - 1)]);
  }

  private draw(): void {
    if (!this.svg) return;
    this.svg.setAttribute('width', String(this.width));
    const data = this.data;
    const domain = this.domain();
    if (!data || !domain) {
      this.bars.replaceChildren();
      this.labels.replaceChildren();
      this.brush.setAttribute('width', '0');
      return;
    }
    const x = this.x();
    const y = scaleSqrt()
      .domain([0, max(data.counts) || 1])
      .range([0, HEIGHT - AXIS - 2]);
    const [lo, hi] = this.activeRange();
    const rects: SVGRectElement[] = [];
    for (let i = 0; i < data.counts.length; i++) {
      const a = data.edges[i]!;
      const b = data.edges[i + 1]!;
      const count = data.counts[i]!;
      const x0 = x(a);
      const x1 = Math.max(x0 + 1, x(b) - 1);
      const h = count > 0 ? Math.max(1, y(count)) : 0;
      const rect = document.createElementNS(SVG, 'rect');
      rect.setAttribute('x', x0.toFixed(1));
      rect.setAttribute('width', (x1 - x0).toFixed(1));
      rect.setAttribute('y', (HEIGHT - AXIS - h).toFixed(1));
      rect.setAttribute('height', h.toFixed(1));
      const inside = (lo === null || b > lo) && (hi === null || a <= hi);
      rect.setAttribute('class', inside ? 'bar in' : 'bar out');
      rect.dataset.lo = String(a);
      rect.dataset.hi = String(b);
      const title = document.createElementNS(SVG, 'title');
      title.textContent = `${this.options.format(a)} – ${this.options.format(b)}: ${count.toLocaleString('en-US')}`;
      rect.append(title);
      rects.push(rect);
    }
    this.bars.replaceChildren(...rects);
    // Brush: the pending drag, else the committed range.
    const shown = this.drag ? ([Math.min(this.drag.start, this.drag.current), Math.max(this.drag.start, this.drag.current)] as const) : lo !== null || hi !== null ? ([lo ?? domain[0], hi ?? domain[1]] as const) : null;
    if (shown) {
      const bx0 = Math.max(0, x(shown[0]));
      const bx1 = Math.min(this.width, x(shown[1]));
      this.brush.setAttribute('x', bx0.toFixed(1));
      this.brush.setAttribute('width', Math.max(1, bx1 - bx0).toFixed(1));
    } else this.brush.setAttribute('width', '0');
    const left = document.createElementNS(SVG, 'text');
    left.setAttribute('x', '1');
    left.setAttribute('y', String(HEIGHT - 2));
    left.textContent = this.options.format(domain[0]);
    const right = document.createElementNS(SVG, 'text');
    right.setAttribute('x', String(this.width - 1));
    right.setAttribute('y', String(HEIGHT - 2));
    right.setAttribute('text-anchor', 'end');
    right.textContent = this.options.format(domain[1]);
    this.labels.replaceChildren(left, right);
  }

  private activeRange(): [number | null, number | null] {
    if (this.drag) return [Math.min(this.drag.start, this.drag.current), Math.max(this.drag.start, this.drag.current)];
    return this.range ?? [null, null];
  }

  private valueAt(e: PointerEvent): number {
    const rect = this.svg.getBoundingClientRect();
    const domain = this.domain() ?? [0, 1];
    const v = this.x().invert(e.clientX - rect.left);
    return Math.max(domain[0], Math.min(domain[1], v));
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0 || !this.domain()) return;
    this.svg.setPointerCapture(e.pointerId);
    const v = this.valueAt(e);
    this.drag = { start: v, current: v, moved: false };
  }

  private onPointerMove(e: PointerEvent): void {
    if (!this.drag) return;
    this.drag.current = this.valueAt(e);
    const x = this.x();
    if (Math.abs(x(this.drag.current) - x(this.drag.start)) > 3) this.drag.moved = true;
    this.draw();
  }

  private onPointerUp(): void {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    if (drag.moved) {
      this.options.onRange([Math.min(drag.start, drag.current), Math.max(drag.start, drag.current)]);
      return;
    }
    // A click selects the bin under the pointer (pointer capture makes the SVG the target, so find it by value).
    const edges = this.data?.edges ?? [];
    let bin = -1;
    for (let i = 0; i + 1 < edges.length; i++) if (drag.start >= edges[i]! && drag.start <= edges[i + 1]!) bin = i;
    if (bin >= 0) this.options.onRange([edges[bin]!, edges[bin + 1]!]);
    else this.draw();
  }
}
