/**
 * Thin React host of the grid engine: creates it once, hands it the current listing, and reports selection,
 * focus and readiness upward. Per-tile state never enters React.
 */
import { useEffect, useRef } from 'react';
import type { ImageSummary } from '../../core/api/apiTypes.js';
import { GridEngine } from '../viz/gridEngine.js';
import type { GridData } from '../state/gridData.js';
import { useServices } from './appContext.js';

export interface GridHandle {
  engine: GridEngine | null;
}

interface Props {
  data: GridData | null;
  /** A refresh of the same listing (keep the scroll position) rather than a new one. */
  keepScroll: boolean;
  tileSize: number;
  handle: React.MutableRefObject<GridHandle>;
  onOpen(index: number, item: ImageSummary): void;
  onSelectionChange(ids: ReadonlySet<number>): void;
  onFocusChange(index: number | null, item: ImageSummary | undefined): void;
  onCount(count: number, known: boolean): void;
  onReady(generation: number): void;
}

export function GridView(props: Props) {
  const { client } = useServices();
  const host = useRef<HTMLDivElement>(null);
  const latest = useRef(props);
  latest.current = props;
  const generation = useRef(0);
  const readyFor = useRef(-1);
  const firstReady = useRef(false);
  const wasWaiting = useRef(false);

  useEffect(() => {
    const engine = new GridEngine({
      thumbUrl: (hash) => client.thumbUrl(hash),
      onOpen: (index, item) => latest.current.onOpen(index, item),
      onSelectionChange: (ids) => latest.current.onSelectionChange(ids),
      onFocusChange: (index, item) => latest.current.onFocusChange(index, item),
      onPainted: ({ onScreen, waiting }) => {
        const data = latest.current.data;
        const el = host.current;
        if (!data || !el) return;
        // Ready: every tile on screen shows its item and thumbnail (or the listing is known to be empty). The
        // total count may still be on its way: it sizes the scrollbar, not what is on screen.
        const ready = (onScreen > 0 && waiting === 0) || (data.countKnown && data.count === 0);
        el.dataset.ready = String(ready);
        // A screen that had placeholders is now complete (after a scroll or a jump): bench:ui times jumps by it.
        if (waiting > 0) wasWaiting.current = true;
        else if (onScreen > 0 && wasWaiting.current) {
          wasWaiting.current = false;
          performance.mark('miru:view-filled');
        }
        if (ready && readyFor.current !== generation.current) {
          readyFor.current = generation.current;
          if (!firstReady.current) {
            firstReady.current = true;
            performance.mark('miru:first-grid');
          }
          performance.mark('miru:grid-ready', { detail: { generation: generation.current } });
          el.dataset.readyGeneration = String(generation.current);
          latest.current.onReady(generation.current);
        }
      },
    });
    engine.attach(host.current!);
    props.handle.current.engine = engine;
    return () => {
      engine.dispose();
      props.handle.current.engine = null;
    };
    // The engine lives as long as the component.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const engine = props.handle.current.engine;
    const data = props.data;
    if (!engine) return;
    generation.current++;
    const el = host.current!;
    el.dataset.generation = String(generation.current);
    el.dataset.ready = 'false';
    if (!data) {
      engine.setSource(null);
      return;
    }
    data.onChange = () => {
      latest.current.onCount(data.count, data.countKnown);
      engine.refresh();
    };
    engine.setSource(data, { keepScroll: props.keepScroll });
    latest.current.onCount(data.count, data.countKnown);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.data]);

  useEffect(() => {
    props.handle.current.engine?.setTileSize(props.tileSize);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.tileSize]);

  return <div className="grid-host" ref={host} data-testid="grid" />;
}
