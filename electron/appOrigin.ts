/** The one origin the desktop UI runs on: the built renderer served by the `miru://` protocol (never file://). */
export const MIRU_SCHEME = 'miru';
export const APP_HOST = 'app';
export const APP_ORIGIN = `${MIRU_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * True only for URLs on the app origin: scheme miru:, host exactly "app", no credentials and no port. Anything
 * unparsable is false. Used by navigation checks (window factory) and IPC sender checks.
 */
export function isAppUrl(url: unknown): boolean {
  if (typeof url !== 'string' || url === '') return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return parsed.protocol === `${MIRU_SCHEME}:` && parsed.host === APP_HOST && parsed.username === '' && parsed.password === '' && parsed.port === '';
}
