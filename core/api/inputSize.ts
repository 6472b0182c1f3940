/**
 * The one cap on the size of an API call's input, for both hosts (issue 5): the browser host refuses a bigger
 * request body (413) before reading all of it, the Electron host a bigger IPC payload, so a call that works in
 * one host works in the other. The schemas (apiSchemas.ts) bound every field; this cap only stops a hostile or
 * broken sender before any parsing. It sits well above the largest input the schemas accept: tagImages with
 * API_LIMITS.ids (100,000) ids of up to 16 digits is about 1.7 MB of JSON.
 */
export const MAX_API_INPUT_BYTES = 4 * 1024 * 1024;

/**
 * An input's size as the browser host measures a body: the UTF-8 bytes of its JSON text. Infinity when it is not
 * JSON at all (cycles, BigInt), which no API method could take anyway.
 */
export function apiInputBytes(input: unknown): number {
  let text: string | undefined;
  try {
    text = JSON.stringify(input ?? null);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
  return text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
}
