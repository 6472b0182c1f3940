/** The side drawer the Jobs and Models panels open in: a titled dialog with a close button and a scrolling body. */
import type { ReactNode } from 'react';

interface Props {
  title: string;
  testId: string;
  onClose(): void;
  children: ReactNode;
}

export function Drawer(props: Props) {
  return (
    <div className="drawer" data-testid={props.testId} role="dialog" aria-label={props.title}>
      <header className="drawer-head">
        <span className="drawer-title">{props.title}</span>
        <button className="icon-btn" aria-label={`Close ${props.title.toLowerCase()}`} onClick={props.onClose}>
          ×
        </button>
      </header>
      <div className="drawer-scroll">{props.children}</div>
    </div>
  );
}
