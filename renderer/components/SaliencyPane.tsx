/**
 * One image pane of the sample view: the original with zoom/pan (ImageViewer) and, when asked, a saliency map
 * fetched from the cache or computed on demand, with a visible progress state (what is computing, for how long).
 */
import { useEffect, useRef, useState } from 'react';
import type { SaliencyResultDto } from '../../core/api/apiTypes.js';
import { ImageViewer, type ViewTransform } from '../viz/imageViewer.js';
import { decodeF32, type ColormapName } from '../viz/saliencyColor.js';
import { mapExtent, type CardGeometry } from '../viz/saliencyGeometry.js';
import { formatElapsed } from '../state/format.js';
import { useServices } from './appContext.js';

export interface OverlayRequest {
  model: string;
  method: string;
  layer: string;
  target: string;
}

/** Keeps linked panes at the same zoom and pan. */
export class ViewLink {
  private readonly viewers = new Set<ImageViewer>();
  add(viewer: ImageViewer): () => void {
    this.viewers.add(viewer);
    viewer.onTransform = (view: ViewTransform) => {
      for (const other of this.viewers) if (other !== viewer) other.setTransform(view);
    };
    return () => {
      this.viewers.delete(viewer);
      viewer.onTransform = null;
    };
  }
  first(): ImageViewer | undefined {
    return this.viewers.values().next().value;
  }
}

const mapCache = new Map<string, SaliencyResultDto>();

interface Props {
  imageId: number;
  imageUrl: string;
  thumbUrl: string | null;
  width: number | null;
  height: number | null;
  overlay: OverlayRequest | null;
  geometry: CardGeometry | null;
  colormap: ColormapName;
  opacity: number;
  link: ViewLink;
  testId: string;
}

type MapState =
  | { state: 'off' }
  | { state: 'loading'; started: number; what: string }
  | { state: 'ready'; result: SaliencyResultDto }
  | { state: 'error'; message: string };

export function SaliencyPane(props: Props) {
  const { client } = useServices();
  const host = useRef<HTMLDivElement>(null);
  const viewer = useRef<ImageViewer | null>(null);
  const [map, setMap] = useState<MapState>({ state: 'off' });
  const [now, setNow] = useState(0);
  const [zoom, setZoom] = useState(1);

  useEffect(() => {
    const v = new ImageViewer();
    v.attach(host.current!);
    viewer.current = v;
    const unlink = props.link.add(v);
    v.onView = (t) => setZoom(t.scale);
    return () => {
      unlink();
      v.dispose();
      viewer.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    viewer.current?.setImage(props.imageUrl, props.thumbUrl, props.width, props.height);
    // Follow the other pane's view when this one opens beside it.
    const other = props.link.first();
    if (other && other !== viewer.current) viewer.current?.setTransform(other.getTransform());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.imageUrl]);

  const key = props.overlay ? JSON.stringify([props.imageId, props.overlay.model, props.overlay.method, props.overlay.layer, props.overlay.target]) : null;
  useEffect(() => {
    const o = props.overlay;
    if (!o || !key) {
      setMap({ state: 'off' });
      return;
    }
    const hit = mapCache.get(key);
    if (hit) {
      setMap({ state: 'ready', result: hit });
      return;
    }
    let live = true;
    const started = performance.now();
    setMap({ state: 'loading', started, what: `${o.method} · ${o.model}` });
    client
      .call('saliency', { imageId: props.imageId, model: o.model, method: o.method, layer: o.layer || undefined, target: o.target || undefined, compute: true })
      .then(
        (result) => {
          mapCache.set(key, result);
          if (mapCache.size > 60) mapCache.delete(mapCache.keys().next().value!);
          if (live) setMap({ state: 'ready', result });
        },
        (e: unknown) => live && setMap({ state: 'error', message: (e as Error).message }),
      );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  // Elapsed-time ticker while a map computes.
  useEffect(() => {
    if (map.state !== 'loading') return;
    const t = window.setInterval(() => setNow(performance.now()), 100);
    return () => window.clearInterval(t);
  }, [map.state]);

  useEffect(() => {
    const v = viewer.current;
    if (!v) return;
    if (map.state !== 'ready' || !props.width || !props.height) {
      v.setOverlay(null);
      return;
    }
    const r = map.result;
    v.setOverlay({ map: decodeF32(r.mapF32), grid: r.grid, extent: mapExtent(props.width, props.height, props.geometry), colormap: props.colormap });
  }, [map, props.colormap, props.geometry, props.width, props.height]);

  useEffect(() => viewer.current?.setOpacity(props.opacity), [props.opacity]);

  return (
    <div className="pane" data-testid={props.testId} data-overlay-state={map.state}>
      <div className="pane-canvas" ref={host} />
      <div className="pane-caption">
        {map.state === 'ready' && (
          <span className="pane-info" data-testid="overlay-info" title={`${map.result.method} on ${props.overlay?.model}, layer ${map.result.layer}, target ${map.result.target}`}>
            <b>{map.result.method}</b> · {props.overlay?.model}
            <span className="muted">
              {' '}
              · {map.result.layer} · {map.result.target} · {map.result.grid[0]}×{map.result.grid[1]}
              {map.result.cached ? ' · cached' : map.result.elapsedMs !== null ? ` · ${formatElapsed(map.result.elapsedMs)}` : ''}
            </span>
          </span>
        )}
        <span className="pane-zoom">{Math.round(zoom * 100)}%</span>
      </div>
      {map.state === 'loading' && (
        <div className="pane-progress" role="progressbar" aria-label="Computing saliency map" data-testid="overlay-progress">
          <span className="spinner" />
          <span>
            Computing {map.what} · {formatElapsed(Math.max(0, now - map.started))}
          </span>
        </div>
      )}
      {map.state === 'ready' && map.result.empty && (
        <div className="pane-note" role="status" data-testid="overlay-empty">
          This map is empty: nothing at layer {map.result.layer} raises the {map.result.target} target for this image (all
          evidence is negative before the ReLU). Try another method or layer.
        </div>
      )}
      {map.state === 'error' && (
        <div className="pane-error" role="alert" data-testid="overlay-error">
          {map.message}
        </div>
      )}
      <div className="pane-tools">
        <button className="btn btn-ghost btn-small" title="Fit (F)" onClick={() => viewer.current?.fit()}>
          Fit
        </button>
        <button className="btn btn-ghost btn-small" title="Actual pixels" onClick={() => viewer.current?.zoomTo(1)}>
          1:1
        </button>
      </div>
    </div>
  );
}
