/**
 * The sample view's image pane: the original at full resolution with wheel zoom around the pointer and drag to
 * pan, and a saliency overlay canvas on top. A plain class (attach/dispose, one AbortController for every
 * listener); the image and overlay sit in one transformed stage, so zoom and pan are a single compositor
 * transform and never re-layout. The thumbnail is shown, scaled up, until the original has decoded (a 50 Mpx
 * original takes a moment), so the pane is never blank. Two viewers can be linked so compare panes move together.
 */
import { colorize, overlaySize, upsampleBilinear, type ColormapName } from './saliencyColor.js';
import type { MapExtent } from './saliencyGeometry.js';

export interface ViewTransform {
  scale: number;
  x: number;
  y: number;
}

export interface OverlayInput {
  map: Float32Array;
  grid: [number, number];
  extent: MapExtent;
  colormap: ColormapName;
}

export class ImageViewer {
  private root!: HTMLDivElement;
  private stage!: HTMLDivElement;
  private thumb!: HTMLImageElement;
  private image!: HTMLImageElement;
  private clip!: HTMLDivElement;
  private canvas!: HTMLCanvasElement;
  private readonly controller = new AbortController();
  private resizeObserver: ResizeObserver | null = null;
  private natural = { width: 0, height: 0 };
  private view: ViewTransform = { scale: 1, x: 0, y: 0 };
  private fitted = true;
  private drag: { x: number; y: number; vx: number; vy: number } | null = null;
  private opacity = 0.5;
  /** Linked viewers follow this one's zoom and pan. */
  onTransform: ((view: ViewTransform) => void) | null = null;
  /** Every change of the view, own or followed (for the zoom readout). */
  onView: ((view: ViewTransform) => void) | null = null;
  onImageLoaded: (() => void) | null = null;

  attach(container: HTMLElement): void {
    const signal = this.controller.signal;
    this.root = document.createElement('div');
    this.root.className = 'viewer';
    this.stage = document.createElement('div');
    this.stage.className = 'viewer-stage';
    this.thumb = document.createElement('img');
    this.thumb.className = 'viewer-thumb';
    this.thumb.draggable = false;
    this.thumb.alt = '';
    this.image = document.createElement('img');
    this.image.className = 'viewer-image';
    this.image.draggable = false;
    this.image.decoding = 'async';
    this.image.alt = '';
    this.clip = document.createElement('div');
    this.clip.className = 'viewer-overlay-clip';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'viewer-overlay';
    this.canvas.hidden = true;
    this.clip.append(this.canvas);
    this.stage.append(this.thumb, this.image, this.clip);
    this.root.append(this.stage);
    container.append(this.root);

    this.image.addEventListener(
      'load',
      () => {
        this.root.classList.add('loaded');
        if (!this.natural.width) this.setNatural(this.image.naturalWidth, this.image.naturalHeight);
        this.onImageLoaded?.();
      },
      { signal },
    );
    this.image.addEventListener('error', () => this.root.classList.add('failed'), { signal });
    this.root.addEventListener('wheel', (e) => this.onWheel(e), { signal, passive: false });
    this.root.addEventListener('pointerdown', (e) => this.onPointerDown(e), { signal });
    this.root.addEventListener('pointermove', (e) => this.onPointerMove(e), { signal });
    this.root.addEventListener('pointerup', () => this.onPointerUp(), { signal });
    this.root.addEventListener('pointercancel', () => this.onPointerUp(), { signal });
    this.root.addEventListener('dblclick', (e) => (this.fitted ? this.zoomTo(1, e.clientX, e.clientY) : this.fit()), { signal });
    this.resizeObserver = new ResizeObserver(() => {
      if (this.fitted) this.fit();
    });
    this.resizeObserver.observe(this.root);
  }

  dispose(): void {
    this.controller.abort();
    this.resizeObserver?.disconnect();
    this.root?.remove();
  }

  get element(): HTMLElement {
    return this.root;
  }

  setImage(src: string, thumbSrc: string | null, width: number | null, height: number | null): void {
    this.root.classList.remove('loaded', 'failed');
    this.natural = { width: 0, height: 0 };
    if (width && height) this.setNatural(width, height);
    if (thumbSrc) this.thumb.src = thumbSrc;
    else this.thumb.removeAttribute('src');
    this.image.src = src;
  }

  private setNatural(width: number, height: number): void {
    this.natural = { width, height };
    for (const el of [this.thumb, this.image, this.clip]) {
      el.style.width = `${width}px`;
      el.style.height = `${height}px`;
    }
    this.fit();
  }

  setOverlay(overlay: OverlayInput | null): void {
    if (!overlay || !this.natural.width) {
      this.canvas.hidden = true;
      return;
    }
    const { map, grid, extent, colormap } = overlay;
    const [w, h] = overlaySize(extent.width, extent.height);
    const values = upsampleBilinear(map, grid[0], grid[1], h, w);
    this.canvas.width = w;
    this.canvas.height = h;
    this.canvas.getContext('2d')!.putImageData(colorize(values, w, h, colormap), 0, 0);
    this.canvas.style.left = `${extent.x}px`;
    this.canvas.style.top = `${extent.y}px`;
    this.canvas.style.width = `${extent.width}px`;
    this.canvas.style.height = `${extent.height}px`;
    this.canvas.style.opacity = String(this.opacity);
    this.canvas.hidden = false;
  }

  setOpacity(opacity: number): void {
    this.opacity = opacity;
    this.canvas.style.opacity = String(opacity);
  }

  getTransform(): ViewTransform {
    return { ...this.view };
  }

  /** Follows a linked viewer (no echo back). */
  setTransform(view: ViewTransform): void {
    this.view = { ...view };
    this.fitted = false;
    this.apply(false);
  }

  fit(): void {
    const w = this.root.clientWidth;
    const h = this.root.clientHeight;
    if (!this.natural.width || !w || !h) return;
    const scale = Math.min(w / this.natural.width, h / this.natural.height) * 0.98;
    this.view = { scale, x: (w - this.natural.width * scale) / 2, y: (h - this.natural.height * scale) / 2 };
    this.fitted = true;
    this.apply(true);
  }

  /** Zoom to `scale` (1 = one image pixel per screen pixel) around a screen point (default: the centre). */
  zoomTo(scale: number, clientX?: number, clientY?: number): void {
    const rect = this.root.getBoundingClientRect();
    const px = (clientX ?? rect.left + rect.width / 2) - rect.left;
    const py = (clientY ?? rect.top + rect.height / 2) - rect.top;
    const s = Math.max(0.02, Math.min(32, scale));
    const k = s / this.view.scale;
    this.view = { scale: s, x: px - (px - this.view.x) * k, y: py - (py - this.view.y) * k };
    this.fitted = false;
    this.apply(true);
  }

  get zoom(): number {
    return this.view.scale;
  }

  private apply(notify: boolean): void {
    this.stage.style.transform = `translate(${this.view.x}px, ${this.view.y}px) scale(${this.view.scale})`;
    // Crisp pixels once zoomed past 1:1, smooth below.
    this.root.classList.toggle('pixelated', this.view.scale > 2);
    this.onView?.(this.getTransform());
    if (notify) this.onTransform?.(this.getTransform());
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    this.zoomTo(this.view.scale * Math.exp(-e.deltaY * unit * 0.0015), e.clientX, e.clientY);
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.root.setPointerCapture(e.pointerId);
    this.drag = { x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y };
    this.root.classList.add('dragging');
  }

  private onPointerMove(e: PointerEvent): void {
    if (!this.drag) return;
    this.view = { ...this.view, x: this.drag.vx + e.clientX - this.drag.x, y: this.drag.vy + e.clientY - this.drag.y };
    this.fitted = false;
    this.apply(true);
  }

  private onPointerUp(): void {
    this.drag = null;
    this.root.classList.remove('dragging');
  }
}
