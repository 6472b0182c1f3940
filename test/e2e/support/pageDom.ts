/**
 * The few DOM shapes the tests' in-page functions use. The Node project compiles without the DOM library (core
 * must never reach for `document`), so files that pass functions to page.evaluate/$$eval/waitForFunction declare
 * `document` locally with these types; the functions themselves run in Chromium.
 */
export interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  hidden: boolean;
  classList: { contains(name: string): boolean };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}

export interface PageImage extends PageElement {
  complete: boolean;
  naturalWidth: number;
}

export interface PageCanvas extends PageElement {
  width: number;
  height: number;
}

export interface PageDocument {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}
