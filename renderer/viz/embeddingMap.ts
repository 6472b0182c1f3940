/**
 * The embedding map (issue 6): a projection's points drawn by WebGL through three.js, so a million points pan and
 * zoom at frame rate. Positions, colour values and flags live in GPU buffers; a pan or zoom only moves the camera,
 * a recolour rewrites one float per point, and nothing is redrawn unless something changed. Hover finds the
 * nearest point through a uniform grid built once per projection; a lasso (Shift-drag, or the lasso tool) is drawn
 * on a 2-D canvas on top and resolved with the same point-in-polygon code the host uses.
 * Level of detail: the GPU buffers hold the points in a shuffled order, so any prefix is a uniform sample. While
 * the view moves, a frame draws only as long a prefix as fits the frame budget (measured, adapted every frame);
 * once the view rests, the whole set is drawn. With a GPU the budget covers every point; with a software
 * renderer (SwiftShader, no GPU) panning a million points stays interactive.
 * A plain class (attach/dispose), like the grid and image viewer engines.
 */
import {
  BufferAttribute,
  BufferGeometry,
  DataTexture,
  GLSL3,
  LinearFilter,
  OrthographicCamera,
  Points,
  RawShaderMaterial,
  RGBAFormat,
  Scene,
  Sphere,
  Vector3,
  WebGLRenderer,
} from 'three';
import { pointsInPolygon } from '../../core/api/polygonSelect.js';

export interface MapPoints {
  ids: Int32Array;
  /** x, y per point, interleaved; NaN for points without coordinates (never drawn or picked). */
  xy: Float32Array;
}

/** 256 RGB triples, 0..255 (a perceptually uniform colormap sampled evenly). */
export type ColormapTable = Uint8Array;

export interface MapCallbacks {
  /** The point under the pointer (null when none; index -1), with the pointer's client position. */
  onHover(id: number | null, index: number, clientX: number, clientY: number): void;
  /** A finished lasso: its polygon in data coordinates and the indices of the points inside. */
  onLasso(polygon: number[], inside: Int32Array): void;
  /** Double-click on a point. */
  onOpen(id: number): void;
  /** The camera moved (for readouts); optional. */
  onView?(view: { zoom: number }): void;
}

const VERTEX = /* glsl */ `
precision highp float;
uniform mat4 projectionMatrix;
uniform mat4 modelViewMatrix;
uniform float uSize;
uniform sampler2D uColormap;
in vec3 position;
in float value;
in float flag;
out vec3 vColor;
out float vFlag;
void main() {
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position.xy, 0.0, 1.0);
  // value < 0: no value for this point (grey); else 0..1 along the colormap.
  vColor = value < 0.0 ? vec3(0.42, 0.44, 0.48) : texture(uColormap, vec2(value, 0.5)).rgb;
  // flag: 1 ringed (the grid's selection), -1 outside the selection in force (faded), 0 plain.
  if (flag < -0.5) vColor = mix(vec3(0.067, 0.075, 0.09), vColor, 0.22);
  vFlag = flag;
  gl_PointSize = flag > 0.5 ? uSize * 1.9 + 2.0 : flag < -0.5 ? max(1.0, uSize - 1.0) : uSize;
}`;

const FRAGMENT = /* glsl */ `
precision highp float;
in vec3 vColor;
in float vFlag;
out vec4 outColor;
void main() {
  vec2 c = gl_PointCoord * 2.0 - 1.0;
  float r = dot(c, c);
  if (r > 1.0) discard;
  // Highlighted points get a light ring so they stand out whatever their colour.
  vec3 color = vFlag > 0.5 && r > 0.45 ? vec3(0.96, 0.97, 1.0) : vColor;
  outColor = vec4(color, 1.0);
}`;

/** Points per cell of the hover index, on average. */
const CELL_LOAD = 4;
const HOVER_RADIUS_PX = 8;
/** Target time of one frame while the view moves, and the fewest points such a frame draws. */
const FRAME_BUDGET_MS = 25;
const MIN_MOVING_POINTS = 20_000;
/** The view counts as resting this long after its last move; then the full set is drawn. */
const SETTLE_MS = 160;

/** A seeded Fisher–Yates permutation: the draw order (the same map always shuffles the same way). */
function shuffledOrder(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let state = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    const j = (state >>> 0) % (i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** Nearest-point lookup on a uniform grid: built in O(n) with a counting sort, queried in a few cells. */
class PointGrid {
  readonly cols: number;
  readonly rows: number;
  private readonly start: Int32Array;
  private readonly order: Int32Array;

  constructor(
    private readonly xy: Float32Array,
    readonly minX: number,
    readonly minY: number,
    readonly cell: number,
  ) {
    const n = xy.length >> 1;
    let maxX = minX;
    let maxY = minY;
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i]!;
      const y = xy[2 * i + 1]!;
      if (x > maxX) maxX = x;
      if (y > maxY) maxY = y;
    }
    this.cols = Math.max(1, Math.floor((maxX - minX) / cell) + 1);
    this.rows = Math.max(1, Math.floor((maxY - minY) / cell) + 1);
    const counts = new Int32Array(this.cols * this.rows + 1);
    const cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = this.cellIndex(xy[2 * i]!, xy[2 * i + 1]!);
      cellOf[i] = c;
      if (c >= 0) counts[c + 1]!++;
    }
    for (let c = 1; c < counts.length; c++) counts[c]! += counts[c - 1]!;
    this.start = counts;
    this.order = new Int32Array(counts[counts.length - 1]!);
    const fill = counts.slice(0, -1);
    for (let i = 0; i < n; i++) if (cellOf[i]! >= 0) this.order[fill[cellOf[i]!]!++] = i;
  }

  private cellIndex(x: number, y: number): number {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return -1;
    const cx = Math.floor((x - this.minX) / this.cell);
    const cy = Math.floor((y - this.minY) / this.cell);
    if (cx < 0 || cy < 0 || cx >= this.cols || cy >= this.rows) return -1;
    return cy * this.cols + cx;
  }

  /** The index of the point nearest (x, y) within `radius` (data units), or -1. */
  nearest(x: number, y: number, radius: number): number {
    const span = Math.ceil(radius / this.cell);
    const cx = Math.floor((x - this.minX) / this.cell);
    const cy = Math.floor((y - this.minY) / this.cell);
    let best = -1;
    let bestD = radius * radius;
    for (let gy = Math.max(0, cy - span); gy <= Math.min(this.rows - 1, cy + span); gy++) {
      for (let gx = Math.max(0, cx - span); gx <= Math.min(this.cols - 1, cx + span); gx++) {
        const c = gy * this.cols + gx;
        for (let k = this.start[c]!; k < this.start[c + 1]!; k++) {
          const i = this.order[k]!;
          const dx = this.xy[2 * i]! - x;
          const dy = this.xy[2 * i + 1]! - y;
          const d = dx * dx + dy * dy;
          if (d <= bestD) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

export class EmbeddingMap {
  private root!: HTMLDivElement;
  private overlay!: HTMLCanvasElement;
  private renderer: WebGLRenderer | null = null;
  private readonly scene = new Scene();
  private readonly camera = new OrthographicCamera(-1, 1, 1, -1, -1, 1);
  private geometry: BufferGeometry | null = null;
  private material: RawShaderMaterial | null = null;
  private points: MapPoints | null = null;
  private grid: PointGrid | null = null;
  /** slotOf[i]: where point i sits in the GPU buffers (the shuffled draw order). */
  private slotOf = new Int32Array(0);
  /** Points a moving frame may draw (adapted to the measured frame time). */
  private movingBudget = Number.POSITIVE_INFINITY;
  private lastMove = -Infinity;
  private settleTimer = 0;
  /** Points drawn by the last frame. */
  drawnPoints = 0;
  private readonly controller = new AbortController();
  private resizeObserver: ResizeObserver | null = null;
  /** The data-space centre and the data units per CSS pixel. */
  private center = { x: 0, y: 0 };
  private unitsPerPx = 1;
  private frame = 0;
  private hoverFrame = 0;
  private drag: { x: number; y: number; moved: boolean } | null = null;
  private lasso: { screen: number[] } | null = null;
  private lassoTool = false;
  private hovered = -1;
  private highlighted: Int32Array = new Int32Array(0);
  private members: Uint8Array | null = null;
  /** Milliseconds the last few frames took to render (for the benchmark). */
  readonly frameTimes: number[] = [];
  /** Set when WebGL could not start; the host shows it. */
  error: string | null = null;

  constructor(
    private readonly callbacks: MapCallbacks,
    private readonly colormap: ColormapTable,
  ) {}

  attach(container: HTMLElement): void {
    const signal = this.controller.signal;
    this.root = document.createElement('div');
    this.root.className = 'map-canvas-host';
    container.appendChild(this.root);
    try {
      this.renderer = new WebGLRenderer({ antialias: false, alpha: false, powerPreference: 'high-performance' });
    } catch (error) {
      this.error = `The map needs WebGL, which this window could not start (${(error as Error).message}).`;
      return;
    }
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.renderer.setClearColor(0x111317, 1);
    this.renderer.domElement.className = 'map-gl';
    this.root.appendChild(this.renderer.domElement);
    this.overlay = document.createElement('canvas');
    this.overlay.className = 'map-overlay';
    this.root.appendChild(this.overlay);

    const texture = new DataTexture(this.rgba(this.colormap), 256, 1, RGBAFormat);
    texture.magFilter = LinearFilter;
    texture.minFilter = LinearFilter;
    texture.needsUpdate = true;
    this.material = new RawShaderMaterial({
      glslVersion: GLSL3,
      vertexShader: VERTEX,
      fragmentShader: FRAGMENT,
      uniforms: { uSize: { value: 3 }, uColormap: { value: texture } },
      depthTest: false,
      depthWrite: false,
    });

    const el = this.renderer.domElement;
    el.addEventListener('wheel', (e) => this.onWheel(e), { signal, passive: false });
    el.addEventListener('pointerdown', (e) => this.onPointerDown(e), { signal });
    window.addEventListener('pointermove', (e) => this.onPointerMove(e), { signal });
    window.addEventListener('pointerup', (e) => this.onPointerUp(e), { signal });
    el.addEventListener('pointerleave', () => this.setHover(-1, 0, 0), { signal });
    el.addEventListener('dblclick', (e) => {
      const i = this.pick(e.clientX, e.clientY);
      if (i >= 0) this.callbacks.onOpen(this.points!.ids[i]!);
    }, { signal });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.root);
    this.resize();
  }

  private rgba(table: ColormapTable): Uint8Array {
    const out = new Uint8Array(256 * 4);
    for (let i = 0; i < 256; i++) {
      out[4 * i] = table[3 * i]!;
      out[4 * i + 1] = table[3 * i + 1]!;
      out[4 * i + 2] = table[3 * i + 2]!;
      out[4 * i + 3] = 255;
    }
    return out;
  }

  /** New points: a new geometry and hover index, and the view fitted to them. */
  setPoints(points: MapPoints): void {
    this.points = points;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const n = points.ids.length;
    for (let i = 0; i < n; i++) {
      const x = points.xy[2 * i]!;
      const y = points.xy[2 * i + 1]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    if (!Number.isFinite(minX)) minX = maxX = minY = maxY = 0;
    const spanX = Math.max(maxX - minX, 1e-6);
    const spanY = Math.max(maxY - minY, 1e-6);
    this.grid = new PointGrid(points.xy, minX, minY, Math.sqrt((spanX * spanY * CELL_LOAD) / Math.max(1, n)) || 1);
    this.geometry?.dispose();
    const order = shuffledOrder(n);
    this.slotOf = new Int32Array(n);
    const shuffled = new Float32Array(2 * n);
    for (let slot = 0; slot < n; slot++) {
      const i = order[slot]!;
      this.slotOf[i] = slot;
      shuffled[2 * slot] = points.xy[2 * i]!;
      shuffled[2 * slot + 1] = points.xy[2 * i + 1]!;
    }
    this.movingBudget = Number.POSITIVE_INFINITY;
    const geometry = new BufferGeometry();
    geometry.setAttribute('position', new BufferAttribute(shuffled, 2));
    geometry.setAttribute('value', new BufferAttribute(new Float32Array(n).fill(-1), 1));
    geometry.setAttribute('flag', new BufferAttribute(new Float32Array(n), 1));
    // The position attribute has two components; three's own bounding-sphere code assumes three.
    geometry.boundingSphere = new Sphere(new Vector3((minX + maxX) / 2, (minY + maxY) / 2, 0), Math.hypot(spanX, spanY) / 2);
    this.geometry = geometry;
    this.scene.clear();
    if (this.material) {
      const mesh = new Points(geometry, this.material);
      mesh.frustumCulled = false;
      this.scene.add(mesh);
      // Denser maps get smaller points so structure stays visible.
      this.material.uniforms.uSize!.value = n > 200_000 ? 2 : n > 20_000 ? 3 : n > 2000 ? 5 : 8;
    }
    this.highlighted = new Int32Array(0);
    this.members = null;
    this.fit(minX, minY, maxX, maxY);
  }

  /** Colours: values[i] for point i, mapped from [lo, hi] onto the colormap; NaN draws grey. */
  setColors(values: Float32Array | null, lo: number, hi: number): void {
    const attribute = this.geometry?.getAttribute('value') as BufferAttribute | undefined;
    if (!attribute) return;
    const out = attribute.array as Float32Array;
    const span = hi - lo || 1;
    for (let i = 0; i < out.length; i++) {
      const v = values ? values[i]! : Number.NaN;
      out[this.slotOf[i]!] = Number.isFinite(v) ? Math.min(1, Math.max(0, (v - lo) / span)) : -1;
    }
    attribute.needsUpdate = true;
    this.invalidate();
  }

  /** Image ids to ring (the grid's selection); ids not on the map are ignored. */
  setHighlighted(ids: Iterable<number>): void {
    const next: number[] = [];
    for (const id of ids) {
      const i = this.indexOf(id);
      if (i >= 0) next.push(i);
    }
    this.highlighted = Int32Array.from(next);
    this.writeFlags();
  }

  /** Points outside the selection in force fade back (members[i] for point i); null: no selection, none fade. */
  setMembers(members: Uint8Array | null): void {
    this.members = members;
    this.writeFlags();
  }

  private writeFlags(): void {
    const attribute = this.geometry?.getAttribute('flag') as BufferAttribute | undefined;
    if (!attribute) return;
    const flags = attribute.array as Float32Array;
    const members = this.members && this.members.length === flags.length ? this.members : null;
    for (let i = 0; i < flags.length; i++) flags[this.slotOf[i]!] = members && !members[i] ? -1 : 0;
    for (const i of this.highlighted) flags[this.slotOf[i]!] = 1;
    attribute.needsUpdate = true;
    this.invalidate();
  }

  /** How many points are ringed (the grid's selection on the map); for tests and readouts. */
  get highlightedCount(): number {
    return this.highlighted.length;
  }

  /** Where point i is drawn, in client (page) coordinates; null when it has no coordinates. */
  clientPointOf(index: number): { x: number; y: number } | null {
    const x = this.points?.xy[2 * index];
    const y = this.points?.xy[2 * index + 1];
    if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) return null;
    const rect = this.root.getBoundingClientRect();
    const { width, height } = this.size();
    return { x: rect.left + width / 2 + (x - this.center.x) / this.unitsPerPx, y: rect.top + height / 2 - (y - this.center.y) / this.unitsPerPx };
  }

  setLassoTool(on: boolean): void {
    this.lassoTool = on;
    this.root.classList.toggle('lasso-tool', on);
  }

  /** The point index of an image id (ids are in ascending order: a binary search), or -1. */
  private indexOf(id: number): number {
    const ids = this.points?.ids;
    if (!ids) return -1;
    let lo = 0;
    let hi = ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ids[mid]! < id) lo = mid + 1;
      else if (ids[mid]! > id) hi = mid - 1;
      else return mid;
    }
    return -1;
  }

  /**
   * Redraws now and returns how long the render took (ms). `moving`: draw only the frame budget's prefix of the
   * shuffled points (the view is being dragged or zoomed). The benchmark calls this in a loop.
   */
  renderNow(moving = false): number {
    if (!this.renderer) return 0;
    const total = this.points?.ids.length ?? 0;
    const count = moving ? Math.min(total, Math.max(MIN_MOVING_POINTS, Math.round(this.movingBudget))) : total;
    this.geometry?.setDrawRange(0, count);
    this.drawnPoints = count;
    const t0 = performance.now();
    this.renderer.render(this.scene, this.camera);
    // Wait for the GPU (or SwiftShader) to finish, so the time is the frame's real cost.
    const gl = this.renderer.getContext();
    const pixel = new Uint8Array(4);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
    const ms = performance.now() - t0;
    // Next moving frame: scale the prefix so it lands near the budget (damped, so one slow frame is no cliff).
    if (count > 0 && ms > 0) this.movingBudget = Math.min(total, Math.max(MIN_MOVING_POINTS, count * Math.min(2, Math.max(0.5, FRAME_BUDGET_MS / ms))));
    this.frameTimes.push(ms);
    if (this.frameTimes.length > 240) this.frameTimes.shift();
    return ms;
  }

  /** Moves the view as a user's wheel would: factor > 1 zooms in around the client point. */
  zoomAt(clientX: number, clientY: number, factor: number): void {
    const before = this.toData(clientX, clientY);
    this.unitsPerPx /= factor;
    const after = this.toData(clientX, clientY);
    this.center.x += before.x - after.x;
    this.center.y += before.y - after.y;
    this.updateCamera();
  }

  panBy(dxPx: number, dyPx: number): void {
    this.center.x -= dxPx * this.unitsPerPx;
    this.center.y += dyPx * this.unitsPerPx;
    this.updateCamera();
  }

  dispose(): void {
    this.controller.abort();
    this.resizeObserver?.disconnect();
    cancelAnimationFrame(this.frame);
    cancelAnimationFrame(this.hoverFrame);
    window.clearTimeout(this.settleTimer);
    this.geometry?.dispose();
    this.material?.dispose();
    this.renderer?.dispose();
    this.root?.remove();
  }

  // --- view ------------------------------------------------------------------------------------------------------

  private size(): { width: number; height: number } {
    return { width: Math.max(1, this.root.clientWidth), height: Math.max(1, this.root.clientHeight) };
  }

  private fit(minX: number, minY: number, maxX: number, maxY: number): void {
    const { width, height } = this.size();
    this.center = { x: (minX + maxX) / 2, y: (minY + maxY) / 2 };
    this.unitsPerPx = Math.max((maxX - minX) / (width * 0.9), (maxY - minY) / (height * 0.9), 1e-9);
    this.updateCamera();
  }

  private resize(): void {
    if (!this.renderer) return;
    const { width, height } = this.size();
    this.renderer.setSize(width, height, false);
    this.renderer.domElement.style.width = `${width}px`;
    this.renderer.domElement.style.height = `${height}px`;
    const ratio = window.devicePixelRatio || 1;
    this.overlay.width = Math.round(width * ratio);
    this.overlay.height = Math.round(height * ratio);
    this.overlay.style.width = `${width}px`;
    this.overlay.style.height = `${height}px`;
    this.updateCamera();
  }

  private updateCamera(): void {
    const { width, height } = this.size();
    const halfW = (width * this.unitsPerPx) / 2;
    const halfH = (height * this.unitsPerPx) / 2;
    this.camera.left = this.center.x - halfW;
    this.camera.right = this.center.x + halfW;
    this.camera.top = this.center.y + halfH;
    this.camera.bottom = this.center.y - halfH;
    this.camera.updateProjectionMatrix();
    this.callbacks.onView?.({ zoom: 1 / this.unitsPerPx });
    this.invalidate(true);
  }

  /** A redraw on the next animation frame: a sampled one while the view moves, the full set once it rests. */
  private invalidate(moved = false): void {
    if (moved) {
      this.lastMove = performance.now();
      window.clearTimeout(this.settleTimer);
      this.settleTimer = window.setTimeout(() => this.invalidate(), SETTLE_MS);
    }
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderNow(performance.now() - this.lastMove < SETTLE_MS);
    });
  }

  private toData(clientX: number, clientY: number): { x: number; y: number } {
    const rect = this.root.getBoundingClientRect();
    const { width, height } = this.size();
    return {
      x: this.center.x + (clientX - rect.left - width / 2) * this.unitsPerPx,
      y: this.center.y - (clientY - rect.top - height / 2) * this.unitsPerPx,
    };
  }

  // --- input -----------------------------------------------------------------------------------------------------

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    // Trackpads send small deltas, wheels large ones: an exponential keeps both smooth.
    this.zoomAt(e.clientX, e.clientY, Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)));
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    if (e.shiftKey || this.lassoTool) {
      const rect = this.root.getBoundingClientRect();
      this.lasso = { screen: [e.clientX - rect.left, e.clientY - rect.top] };
    } else this.drag = { x: e.clientX, y: e.clientY, moved: false };
    (e.target as Element).setPointerCapture?.(e.pointerId);
  }

  private onPointerMove(e: PointerEvent): void {
    if (this.lasso) {
      const rect = this.root.getBoundingClientRect();
      const x = e.clientX - rect.left;
      const y = e.clientY - rect.top;
      const s = this.lasso.screen;
      if (Math.hypot(x - s[s.length - 2]!, y - s[s.length - 1]!) >= 3) s.push(x, y);
      this.drawLasso();
      return;
    }
    if (this.drag) {
      const dx = e.clientX - this.drag.x;
      const dy = e.clientY - this.drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 0) this.drag.moved = true;
      this.drag.x = e.clientX;
      this.drag.y = e.clientY;
      this.panBy(dx, dy);
      return;
    }
    if (e.target !== this.renderer?.domElement) return;
    // One hover lookup per frame, however fast the pointer moves.
    const { clientX, clientY } = e;
    cancelAnimationFrame(this.hoverFrame);
    this.hoverFrame = requestAnimationFrame(() => this.setHover(this.pick(clientX, clientY), clientX, clientY));
  }

  private onPointerUp(_e: PointerEvent): void {
    if (this.lasso) {
      const screen = this.lasso.screen;
      this.lasso = null;
      this.clearOverlay();
      if (screen.length < 6 || !this.points) return;
      const rect = this.root.getBoundingClientRect();
      const polygon: number[] = [];
      for (let i = 0; i < screen.length; i += 2) {
        const p = this.toData(screen[i]! + rect.left, screen[i + 1]! + rect.top);
        // Float32 like the stored coordinates, so the host's resolution of this polygon agrees with ours.
        polygon.push(Math.fround(p.x), Math.fround(p.y));
      }
      this.callbacks.onLasso(polygon, pointsInPolygon(this.points.xy, polygon));
      return;
    }
    this.drag = null;
  }

  private pick(clientX: number, clientY: number): number {
    if (!this.grid) return -1;
    const p = this.toData(clientX, clientY);
    return this.grid.nearest(p.x, p.y, HOVER_RADIUS_PX * this.unitsPerPx);
  }

  private setHover(index: number, clientX: number, clientY: number): void {
    if (index === this.hovered && index < 0) return;
    this.hovered = index;
    this.callbacks.onHover(index >= 0 ? this.points!.ids[index]! : null, index, clientX, clientY);
  }

  private drawLasso(): void {
    const ctx = this.overlay.getContext('2d');
    if (!ctx || !this.lasso) return;
    const ratio = window.devicePixelRatio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const s = this.lasso.screen;
    ctx.beginPath();
    ctx.moveTo(s[0]!, s[1]!);
    for (let i = 2; i < s.length; i += 2) ctx.lineTo(s[i]!, s[i + 1]!);
    ctx.closePath();
    ctx.fillStyle = 'rgba(110, 168, 254, 0.12)';
    ctx.fill();
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = '#6ea8fe';
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }

  private clearOverlay(): void {
    const ctx = this.overlay.getContext('2d');
    ctx?.clearRect(0, 0, this.overlay.width, this.overlay.height);
  }
}
