/** The raters view (issue 6): placeholder until its component lands in this session. */
import type { WorkbenchViewProps } from './workbenchView.js';

export function RatersView(_props: WorkbenchViewProps) {
  return <section className="analysis-view" data-testid="raters-view" />;
}
