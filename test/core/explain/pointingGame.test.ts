import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageToTensor, pointingGameHit, pointingGameSummary, tensorToImage, type ResizeGeometry } from '../../../core/explain/pointingGame.js';
import { planResize } from '../../../core/models/preprocessResample.js';

// A 200 x 100 original, a 50 x 50 model input, a 5 x 5 map (10 tensor pixels a cell) whose maximum is cell
// (row 1, col 3): the tensor point (35, 15). Worked by hand through each recipe:
// - stretch: x * 200 / 50, y * 100 / 50 -> (140, 30)
// - center-crop: shorter side 100 -> 50 (scale 1/2), width 200 -> 100, crop offset 25 -> ((35 + 25) * 2, 15 * 2) = (120, 30)
// - letterbox: a 200 x 200 canvas with the image 50 rows down, scale 4 -> (35 * 4, 15 * 4 - 50) = (140, 10)
const IMAGE = { width: 200, height: 100 };
const GRID: [number, number] = [5, 5];
const EXPECTED: Record<ResizeGeometry['resize'], { x: number; y: number }> = {
  stretch: { x: 140, y: 30 },
  'center-crop': { x: 120, y: 30 },
  letterbox: { x: 140, y: 10 },
};

function mapWithMaximum(row: number, col: number): Float32Array {
  const map = new Float32Array(25);
  for (let i = 0; i < 25; i++) map[i] = (i * 7) % 5 / 10; // some clutter below the maximum
  map[row * 5 + col] = 1;
  return map;
}

const boxAround = (p: { x: number; y: number }, dx = 0) => ({ x: p.x - 2 + dx, y: p.y - 2, width: 4, height: 4 });

test('the map maximum maps to the original image through stretch, center-crop and letterbox', () => {
  const map = mapWithMaximum(1, 3);
  for (const resize of ['stretch', 'center-crop', 'letterbox'] as const) {
    const card: ResizeGeometry = { size: [50, 50], resize };
    const expected = EXPECTED[resize];
    const result = pointingGameHit(map, GRID, boxAround(expected), IMAGE, card, 0);
    assert.deepEqual(result.cell, { row: 1, col: 3 });
    assert.ok(Math.abs(result.point.x - expected.x) < 1e-9 && Math.abs(result.point.y - expected.y) < 1e-9, `${resize}: ${JSON.stringify(result.point)}`);
    assert.equal(result.hit, true, `${resize}: inside the box is a hit even with no tolerance`);
    assert.equal(result.insideImage, true);
    assert.equal(result.flat, false);
    // A box 10 pixels to the right: 8 pixels away from the point.
    const near = boxAround(expected, 10);
    assert.equal(pointingGameHit(map, GRID, near, IMAGE, card).hit, true, `${resize}: within the default 15 px`);
    assert.equal(pointingGameHit(map, GRID, near, IMAGE, card, 5).hit, false, `${resize}: beyond 5 px`);
    assert.ok(Math.abs(pointingGameHit(map, GRID, near, IMAGE, card).distance - 8) < 1e-9);
  }
  // The recipes really differ: a box on the stretch point is missed under the other two.
  for (const resize of ['center-crop', 'letterbox'] as const) {
    assert.equal(pointingGameHit(map, GRID, boxAround(EXPECTED.stretch), IMAGE, { size: [50, 50], resize }).hit, false, resize);
  }
});

test('a maximum in letterbox padding is outside the image; a flat map is flagged', () => {
  const card: ResizeGeometry = { size: [50, 50], resize: 'letterbox' };
  const top = pointingGameHit(mapWithMaximum(0, 2), GRID, { x: 0, y: 0, width: 200, height: 100 }, IMAGE, card);
  assert.equal(top.insideImage, false);
  assert.ok(Math.abs(top.point.y - -30) < 1e-9);
  assert.equal(top.hit, false, '30 px above the image misses a box filling it');
  const flat = pointingGameHit(new Float32Array(25), GRID, { x: 0, y: 0, width: 10, height: 10 }, IMAGE, card);
  assert.equal(flat.flat, true);
  // A flat map's "maximum" is cell (0, 0) only by scan order: it must not hit even a box covering the whole image.
  const everywhere = pointingGameHit(new Float32Array(25), GRID, { x: 0, y: 0, width: IMAGE.width, height: IMAGE.height }, IMAGE, { size: [50, 50], resize: 'stretch' });
  assert.equal(everywhere.distance, 0);
  assert.equal(everywhere.hit, false);
  assert.throws(() => pointingGameHit(new Float32Array(24), GRID, { x: 0, y: 0, width: 1, height: 1 }, IMAGE, card), /24 values, not 5x5/);
});

test('tensorToImage and imageToTensor invert each other for center-crop with a crop fraction', () => {
  const plan = planResize(333, 250, { size: [224, 224], resize: 'center-crop', crop: 0.875 });
  for (const s of [0, 17.5, 100, 332]) assert.ok(Math.abs(tensorToImage(plan.x, imageToTensor(plan.x, s)) - s) < 1e-9);
});

test('pointingGameSummary counts hits and flat maps', () => {
  const card: ResizeGeometry = { size: [50, 50], resize: 'stretch' };
  const map = mapWithMaximum(1, 3);
  const results = [
    pointingGameHit(map, GRID, boxAround(EXPECTED.stretch), IMAGE, card),
    pointingGameHit(map, GRID, { x: 0, y: 0, width: 10, height: 10 }, IMAGE, card),
    pointingGameHit(new Float32Array(25), GRID, { x: 0, y: 0, width: 10, height: 10 }, IMAGE, card),
  ];
  // The flat map sits next to its box at cell (0, 0) but counts as a miss.
  assert.deepEqual(pointingGameSummary(results), { hits: 1, total: 3, hitRate: 1 / 3, flat: 1 });
  assert.ok(Number.isNaN(pointingGameSummary([]).hitRate));
});
