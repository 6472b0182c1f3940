/**
 * One HTTP answer that carries typed arrays as raw bytes (the embedding map's million points), not as JSON
 * numbers or base64. Over IPC the structured clone already moves typed arrays; over HTTP the host encodes a
 * result holding typed arrays as a frame, and the renderer decodes it back into the same object.
 *
 *   u32 LE  header length H
 *   H bytes UTF-8 JSON header {"ok": true, "result": <result, each typed array replaced by {"$frame": i}>,
 *           "arrays": [{"type", "offset", "length"}]} (offset from the start of the frame, 8-byte aligned)
 *   array bytes, little-endian
 *
 * Pure (DataView, TextEncoder/TextDecoder only): both the Node host and the renderer bundle this file.
 */
export const FRAME_CONTENT_TYPE = 'application/x-miru-frame';

type FrameArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;
const CONSTRUCTORS = { Float32Array, Float64Array, Int32Array, Uint32Array, Uint8Array } as const;
type FrameArrayType = keyof typeof CONSTRUCTORS;

function arrayType(value: unknown): FrameArrayType | null {
  for (const name of Object.keys(CONSTRUCTORS) as FrameArrayType[]) if (value instanceof CONSTRUCTORS[name]) return name;
  return null;
}

/** Whether a result holds a typed array in one of its top-level fields (only those are framed). */
export function holdsTypedArrays(result: unknown): boolean {
  return !!result && typeof result === 'object' && Object.values(result as Record<string, unknown>).some((v) => arrayType(v) !== null);
}

const align8 = (n: number) => (n + 7) & ~7;

export function encodeFrame(result: Record<string, unknown>): Uint8Array {
  const arrays: FrameArray[] = [];
  const shallow: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(result)) {
    if (arrayType(value) !== null) {
      shallow[key] = { $frame: arrays.length };
      arrays.push(value as FrameArray);
    } else shallow[key] = value;
  }
  // The header's own length decides where the arrays start, so lay it out twice: the offsets' digits can only
  // grow the header a little, and the second pass settles it.
  let start = 0;
  let headerBytes = new Uint8Array();
  for (let pass = 0; pass < 3; pass++) {
    let offset = start;
    const layout = arrays.map((a) => {
      const entry = { type: arrayType(a)!, offset, length: a.length };
      offset = align8(offset + a.byteLength);
      return entry;
    });
    headerBytes = new TextEncoder().encode(JSON.stringify({ ok: true, result: shallow, arrays: layout }));
    const needed = align8(4 + headerBytes.length);
    if (needed === start) break;
    start = needed;
  }
  let total = start;
  for (const a of arrays) total = align8(total + a.byteLength);
  const frame = new Uint8Array(total);
  new DataView(frame.buffer).setUint32(0, headerBytes.length, true);
  frame.set(headerBytes, 4);
  let offset = start;
  for (const a of arrays) {
    frame.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
    offset = align8(offset + a.byteLength);
  }
  return frame;
}

export function decodeFrame(buffer: ArrayBuffer): Record<string, unknown> {
  const view = new DataView(buffer);
  if (buffer.byteLength < 4) throw new Error('The answer frame is truncated (no header length).');
  const headerLength = view.getUint32(0, true);
  if (4 + headerLength > buffer.byteLength) throw new Error('The answer frame is truncated (header).');
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength))) as {
    result: Record<string, unknown>;
    arrays: { type: FrameArrayType; offset: number; length: number }[];
  };
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(header.result)) {
    const ref = value && typeof value === 'object' && '$frame' in value ? header.arrays[(value as { $frame: number }).$frame] : undefined;
    if (!ref) {
      result[key] = value;
      continue;
    }
    const Ctor = CONSTRUCTORS[ref.type];
    if (!Ctor || ref.offset + ref.length * Ctor.BYTES_PER_ELEMENT > buffer.byteLength) throw new Error(`The answer frame is truncated (field ${key}).`);
    result[key] = new Ctor(buffer, ref.offset, ref.length);
  }
  return result;
}
