/**
 * Which points fall inside a lasso: the even-odd rule over float32 coordinates. Pure, so the renderer (which
 * highlights the lasso as it is drawn) and the host (which stores the selection) run the same code on the same
 * numbers and agree to the point.
 */

/** Indices of the points (xy interleaved) inside the polygon (x0, y0, x1, y1, ...; closed implicitly). */
export function pointsInPolygon(xy: ArrayLike<number>, polygon: ArrayLike<number>): Int32Array {
  const vertices = polygon.length >> 1;
  if (vertices < 3) return new Int32Array(0);
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let v = 0; v < vertices; v++) {
    const x = polygon[2 * v]!;
    const y = polygon[2 * v + 1]!;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const inside: number[] = [];
  const n = xy.length >> 1;
  for (let i = 0; i < n; i++) {
    const px = xy[2 * i]!;
    const py = xy[2 * i + 1]!;
    // The bounding box rejects most points of a million before the edge walk.
    if (px < minX || px > maxX || py < minY || py > maxY) continue;
    let odd = false;
    for (let a = 0, b = vertices - 1; a < vertices; b = a++) {
      const ay = polygon[2 * a + 1]!;
      const by = polygon[2 * b + 1]!;
      if (ay > py !== by > py) {
        const ax = polygon[2 * a]!;
        const bx = polygon[2 * b]!;
        if (px < ((bx - ax) * (py - ay)) / (by - ay) + ax) odd = !odd;
      }
    }
    if (odd) inside.push(i);
  }
  return Int32Array.from(inside);
}
