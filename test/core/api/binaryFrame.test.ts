import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeFrame, holdsTypedArrays } from '../../../core/api/binaryFrame.js';
import { pointsInPolygon } from '../../../core/api/polygonSelect.js';

test('a frame carries typed arrays byte for byte beside plain JSON fields', () => {
  const ids = Int32Array.from({ length: 1001 }, (_, i) => i * 7 - 3);
  const xy = Float32Array.from({ length: 2002 }, (_, i) => Math.sin(i) * 1e3);
  const odd = Uint8Array.of(1, 2, 3); // an odd byte length before the next array: offsets stay aligned
  const wide = Float64Array.of(Math.PI, -0, Number.NaN);
  const result = { analysisId: 12, name: 'umap ✓', ids, odd, xy, wide, nested: { a: [1, 2] } };
  assert.ok(holdsTypedArrays(result));
  assert.ok(!holdsTypedArrays({ a: [1, 2, 3] }));
  const frame = encodeFrame(result);
  // Decode from a fresh ArrayBuffer, as fetch's arrayBuffer() gives it.
  const decoded = decodeFrame(frame.slice().buffer);
  assert.equal(decoded.analysisId, 12);
  assert.equal(decoded.name, 'umap ✓');
  assert.deepEqual(decoded.nested, { a: [1, 2] });
  assert.ok(decoded.ids instanceof Int32Array && decoded.xy instanceof Float32Array && decoded.wide instanceof Float64Array);
  assert.deepEqual([...(decoded.ids as Int32Array)], [...ids]);
  assert.deepEqual([...(decoded.xy as Float32Array)], [...xy]);
  assert.deepEqual([...(decoded.odd as Uint8Array)], [1, 2, 3]);
  assert.ok(Object.is((decoded.wide as Float64Array)[1], -0) && Number.isNaN((decoded.wide as Float64Array)[2]));
  // A subarray view encodes only its own elements.
  const view = decodeFrame(encodeFrame({ v: ids.subarray(10, 13) }).slice().buffer);
  assert.deepEqual([...(view.v as Int32Array)], [67, 74, 81]);
});

test('a truncated frame is refused, not read past its end', () => {
  const frame = encodeFrame({ xy: new Float32Array(100) });
  assert.throws(() => decodeFrame(frame.slice(0, 2).buffer), /truncated/);
  assert.throws(() => decodeFrame(frame.slice(0, frame.byteLength - 8).buffer), /truncated \(field xy\)/);
});

test('the lasso selects by the even-odd rule, concave shapes included', () => {
  // A 5×5 lattice of points at 0..4 and a U-shaped polygon: the notch (x 1.5..2.5, y 1.5..4.5) is outside.
  const xy: number[] = [];
  for (let y = 0; y <= 4; y++) for (let x = 0; x <= 4; x++) xy.push(x, y);
  const u = [0.5, 0.5, 3.5, 0.5, 3.5, 4.5, 2.5, 4.5, 2.5, 1.5, 1.5, 1.5, 1.5, 4.5, 0.5, 4.5];
  const inside = [...pointsInPolygon(xy, u)].map((i) => [xy[2 * i], xy[2 * i + 1]]);
  const expected: number[][] = [];
  for (let y = 1; y <= 4; y++) for (let x = 1; x <= 3; x++) if (!(x === 2 && y >= 2)) expected.push([x, y]);
  assert.deepEqual(inside, expected);
  assert.equal(pointsInPolygon(xy, [0, 0, 1, 1]).length, 0, 'fewer than 3 vertices select nothing');
  // Same answer for the polygon walked the other way round.
  const reversed: number[] = [];
  for (let v = u.length / 2 - 1; v >= 0; v--) reversed.push(u[2 * v]!, u[2 * v + 1]!);
  assert.deepEqual([...pointsInPolygon(xy, reversed)], [...pointsInPolygon(xy, u)]);
});
