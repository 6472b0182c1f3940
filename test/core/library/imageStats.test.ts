import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import {
  computeImageStats,
  grayGrid,
  GRAYSCALE_TOLERANCE,
  SHARPNESS_GRID,
  SOBEL_EDGE_THRESHOLD,
  type ImageStats,
  type RawImage,
} from '../../../core/library/imageStats.js';

// ---------------------------------------------------------------- helpers

type Px = readonly number[];

function makeImage(width: number, height: number, channels: number, fn: (x: number, y: number) => Px): RawImage {
  const data = new Uint8Array(width * height * channels);
  let i = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = fn(x, y);
      for (let c = 0; c < channels; c++) data[i++] = p[c];
    }
  }
  return { data, width, height, channels };
}

function solid(width: number, height: number, px: Px): RawImage {
  return makeImage(width, height, px.length, () => px);
}

function grayImg(size: number, fn: (x: number, y: number) => number): RawImage {
  return makeImage(size, size, 1, (x, y) => [fn(x, y)]);
}

const FLAT_GRAY = grayImg(SHARPNESS_GRID, () => 123);

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function close(actual: number, expected: number, tol = 1e-9, msg = ''): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${msg} expected ${expected} ± ${tol}, got ${actual}`.trim(),
  );
}

function assertAllFinite(s: ImageStats): void {
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} is not finite: ${v}`);
  }
  for (const k of ['brightness', 'contrast', 'saturation', 'edgeDensity', 'alphaFraction'] as const) {
    assert.ok(s[k] >= 0 && s[k] <= 1, `${k} out of [0,1]: ${s[k]}`);
  }
  assert.ok(s.entropy >= 0 && s.entropy <= 8, `entropy out of [0,8]: ${s.entropy}`);
  assert.ok(s.sharpness >= 0 && s.colorfulness >= 0);
}

/** Hasler & Süsstrunk M for a constant colour: sd terms vanish. */
function constColorfulness(r: number, g: number, b: number): number {
  const rg = r - g;
  const yb = 0.5 * (r + g) - b;
  return 0.3 * Math.sqrt(rg * rg + yb * yb);
}

// ---------------------------------------------------------------- constant images

test('constant colour: exact brightness/saturation/colourfulness, zero spread stats', () => {
  const [r, g, b] = [200, 100, 50];
  for (const px of [[r, g, b], [r, g, b, 255]]) {
    const s = computeImageStats(solid(64, 48, px), FLAT_GRAY);
    assertAllFinite(s);
    // Rec. 601 luma: (0.299*200 + 0.587*100 + 0.114*50) / 255 = 124.2 / 255
    close(s.brightness, (0.299 * r + 0.587 * g + 0.114 * b) / 255, 1e-12, 'brightness');
    assert.equal(s.contrast, 0);
    assert.equal(s.entropy, 0);
    assert.equal(s.sharpness, 0);
    assert.equal(s.edgeDensity, 0);
    // HSV S = (200 - 50) / 200 = 0.75
    close(s.saturation, 0.75, 1e-12, 'saturation');
    // rg = 100, yb = 0.5*300 - 50 = 100  ->  M = 0.3 * sqrt(100^2 + 100^2) = 42.426...
    close(s.colorfulness, constColorfulness(r, g, b), 1e-9, 'colorfulness');
    close(s.colorfulness, 0.3 * Math.sqrt(20000), 1e-9, 'colorfulness literal');
    assert.equal(s.alphaFraction, 0);
    assert.equal(s.isGrayscale, false);
  }
});

test('constant black, white and mid grey', () => {
  const black = computeImageStats(solid(10, 10, [0, 0, 0]), FLAT_GRAY);
  assert.equal(black.brightness, 0);
  assert.equal(black.saturation, 0); // max == 0 -> S = 0, not NaN
  assert.equal(black.colorfulness, 0);
  assert.equal(black.isGrayscale, true);
  assertAllFinite(black);

  const white = computeImageStats(solid(10, 10, [255, 255, 255]), FLAT_GRAY);
  assert.equal(white.brightness, 1);
  assert.equal(white.saturation, 0);
  assert.equal(white.contrast, 0);

  const grey = computeImageStats(solid(7, 13, [128, 128, 128]), FLAT_GRAY);
  close(grey.brightness, 128 / 255, 1e-12);
  assert.equal(grey.colorfulness, 0);
  assert.equal(grey.isGrayscale, true);
});

// ---------------------------------------------------------------- luma spread

test('black/white half split: brightness 0.5, contrast 0.5, entropy 1 bit', () => {
  const img = makeImage(64, 32, 3, (x) => (x < 32 ? [0, 0, 0] : [255, 255, 255]));
  const s = computeImageStats(img, FLAT_GRAY);
  // luma is 0 or 255 in equal parts: mean 127.5, sd 127.5 -> 0.5 in [0,1] units
  close(s.brightness, 0.5, 1e-12);
  close(s.contrast, 0.5, 1e-12);
  close(s.entropy, 1, 1e-12);
  assert.equal(s.saturation, 0);
  assert.equal(s.colorfulness, 0);
  assert.equal(s.isGrayscale, true);
});

test('entropy: four equal luma levels = 2 bits, full 0..255 ramp = 8 bits', () => {
  const four = makeImage(4, 8, 3, (x) => [x * 80, x * 80, x * 80]);
  close(computeImageStats(four, FLAT_GRAY).entropy, 2, 1e-12);
  const ramp = makeImage(256, 3, 3, (x) => [x, x, x]);
  const s = computeImageStats(ramp, FLAT_GRAY);
  close(s.entropy, 8, 1e-12);
  // uniform on 0..255: mean 127.5, variance (256^2 - 1)/12
  close(s.brightness, 0.5, 1e-12);
  close(s.contrast, Math.sqrt((256 * 256 - 1) / 12) / 255, 1e-12);
});

test('colourfulness of a red/blue half split matches the formula', () => {
  const img = makeImage(20, 10, 3, (x) => (x < 10 ? [255, 0, 0] : [0, 0, 255]));
  const s = computeImageStats(img, FLAT_GRAY);
  // red: rg = 255, yb = 127.5; blue: rg = 0, yb = -255
  // mean rg = 127.5, sd rg = 127.5; mean yb = -63.75, sd yb = (127.5 + 255)/2 = 191.25
  const expected = Math.sqrt(127.5 ** 2 + 191.25 ** 2) + 0.3 * Math.sqrt(127.5 ** 2 + 63.75 ** 2);
  close(s.colorfulness, expected, 1e-9);
  close(s.saturation, 1, 1e-12);
  close(s.brightness, (0.299 + 0.114) / 2, 1e-12);
});

// ---------------------------------------------------------------- sharpness / edges

test('1-px checkerboard: Laplacian variance 1020^2, Sobel cancels to 0', () => {
  const n = SHARPNESS_GRID;
  const checker = grayImg(n, (x, y) => ((x + y) & 1 ? 255 : 0));
  const s = computeImageStats(solid(8, 8, [50, 50, 50]), checker);
  // Every interior pixel's 4 neighbours have the opposite value:
  //   centre 255: L = 0+0+0+0 - 4*255 = -1020;  centre 0: L = 4*255 - 0 = +1020.
  // The (n-2)x(n-2) interior has equal counts of both (n-2 is even), so mean L = 0
  // and Var(L) = 1020^2 = 1,040,400.
  assert.equal(s.sharpness, 1020 * 1020);
  // Sobel: the right and left columns of every 3x3 window are identical
  // (c, opp, c) and so are the top and bottom rows, so Gx = Gy = 0 everywhere.
  assert.equal(s.edgeDensity, 0);
});

test('2x2-block checkerboard: every interior pixel is an edge; Laplacian variance 510^2', () => {
  const n = SHARPNESS_GRID;
  // f(x,y) = 127.5 + 127.5 * s(x) s(y) with s = (+,+,-,-) repeating (period 4).
  const sgn = (t: number): number => ((t >> 1) & 1 ? -1 : 1);
  const checker = grayImg(n, (x, y) => (sgn(x) * sgn(y) > 0 ? 255 : 0));
  const s = computeImageStats(solid(8, 8, [50, 50, 50]), checker);
  // Gx = 127.5 * (s(x+1) - s(x-1)) * (s(y-1) + 2 s(y) + s(y+1)). With period-4
  // blocks exactly one of x-1, x+1 is in the other block, so |s(x+1)-s(x-1)| = 2,
  // and |s(y-1) + 2 s(y) + s(y+1)| = 2 (one neighbour agrees, one disagrees):
  // |Gx| = |Gy| = 510, |G| = 510*sqrt(2) ~ 721 > threshold at every interior pixel.
  assert.ok(510 * Math.SQRT2 > SOBEL_EDGE_THRESHOLD);
  assert.equal(s.edgeDensity, 1);
  // Laplacian: s(x-1) + s(x+1) = 0 for every x (one neighbour agrees, one not),
  // so L = -4 * 127.5 * s(x) s(y) = -/+510; s sums to 0 over x = 1..n-2, so the
  // mean is 0 and Var(L) = 510^2 = 260,100.
  assert.equal(s.sharpness, 510 * 510);
});

test('edge density of a constant gray image is 0; a single step edge is a thin band', () => {
  const flat = computeImageStats(solid(4, 4, [9, 9, 9]), grayImg(SHARPNESS_GRID, () => 77));
  assert.equal(flat.edgeDensity, 0);
  assert.equal(flat.sharpness, 0);

  const n = SHARPNESS_GRID;
  const step = grayImg(n, (x) => (x < n / 2 ? 0 : 200));
  const s = computeImageStats(solid(4, 4, [9, 9, 9]), step);
  // |Gx| = 4*200 at columns n/2-1 and n/2; zero elsewhere -> 2 of n-2 interior columns.
  close(s.edgeDensity, 2 / (n - 2), 1e-12);
  // Laplacian +200 at column n/2-1, -200 at n/2, 0 elsewhere: mean 0, var = 2*200^2/(n-2).
  close(s.sharpness, (2 * 200 * 200) / (n - 2), 1e-9);

  // A step of exactly 25 levels gives |G| = 100, which does not exceed the threshold.
  const weak = grayImg(n, (x) => (x < n / 2 ? 100 : 100 + SOBEL_EDGE_THRESHOLD / 4));
  assert.equal(computeImageStats(solid(4, 4, [9, 9, 9]), weak).edgeDensity, 0);
});

test('tiny gray images (< 3 px) give sharpness 0 and edgeDensity 0; 3x3 has one interior pixel', () => {
  const color = solid(4, 4, [10, 20, 30]);
  for (const [w, h] of [[1, 1], [2, 2], [2, 50], [50, 2]]) {
    const s = computeImageStats(color, { data: new Uint8Array(w * h).fill(200), width: w, height: h, channels: 1 });
    assert.equal(s.sharpness, 0);
    assert.equal(s.edgeDensity, 0);
    assertAllFinite(s);
  }
  // 3x3 with a bright centre: one interior pixel, L = -4*255 -> variance of one value = 0
  const dot = makeImage(3, 3, 1, (x, y) => [x === 1 && y === 1 ? 255 : 0]);
  const s = computeImageStats(color, dot);
  assert.equal(s.sharpness, 0);
  assert.equal(s.edgeDensity, 0); // symmetric: Gx = Gy = 0 at the centre
});

test('gray image with a second (alpha) channel uses channel 0 only', () => {
  const n = SHARPNESS_GRID;
  const one = grayImg(n, (x, y) => ((x + y) & 1 ? 255 : 0));
  const two = makeImage(n, n, 2, (x, y) => [(x + y) & 1 ? 255 : 0, (x * 7) & 255]);
  const color = solid(4, 4, [1, 2, 3]);
  assert.deepEqual(computeImageStats(color, two), computeImageStats(color, one));
});

// ---------------------------------------------------------------- grayscale detection

test('grey with ±1 channel noise is grayscale; red is not; tolerance boundary', () => {
  const rand = rng(42);
  const noisy = makeImage(100, 80, 3, () => {
    const j = () => 128 + Math.floor(rand() * 3) - 1; // 127, 128 or 129 per channel
    return [j(), j(), j()];
  });
  const s = computeImageStats(noisy, FLAT_GRAY);
  assert.equal(s.isGrayscale, true);
  assert.ok(s.colorfulness < 2, `colorfulness ${s.colorfulness}`);

  const red = computeImageStats(solid(10, 10, [255, 0, 0]), FLAT_GRAY);
  assert.equal(red.isGrayscale, false);
  close(red.saturation, 1, 0);

  // Boundary: a single pixel with spread == tolerance stays gray, tolerance+1 does not.
  const at = makeImage(10, 10, 3, (x, y) => (x === 3 && y === 7 ? [100, 100 + GRAYSCALE_TOLERANCE, 100] : [100, 100, 100]));
  assert.equal(computeImageStats(at, FLAT_GRAY).isGrayscale, true);
  const over = makeImage(10, 10, 3, (x, y) =>
    x === 3 && y === 7 ? [100, 100, 100 + GRAYSCALE_TOLERANCE + 1] : [100, 100, 100],
  );
  assert.equal(computeImageStats(over, FLAT_GRAY).isGrayscale, false);
});

// ---------------------------------------------------------------- alpha

test('RGBA half transparent: alphaFraction 0.5, transparent pixels excluded from colour stats', () => {
  // Left half fully transparent with garbage green RGB, right half opaque (200,100,50).
  const img = makeImage(40, 20, 4, (x) => (x < 20 ? [0, 255, 0, 0] : [200, 100, 50, 255]));
  const s = computeImageStats(img, FLAT_GRAY);
  close(s.alphaFraction, 0.5, 0);
  const opaque = computeImageStats(solid(20, 20, [200, 100, 50]), FLAT_GRAY);
  close(s.brightness, opaque.brightness, 1e-12);
  assert.equal(s.contrast, 0);
  close(s.saturation, 0.75, 1e-12);
  close(s.colorfulness, constColorfulness(200, 100, 50), 1e-9);
  assert.equal(s.entropy, 0);
  assert.equal(s.isGrayscale, false);
});

test('semi-transparent pixels count toward alphaFraction and are included in colour stats', () => {
  // top half alpha 128 black, bottom half opaque white
  const img = makeImage(10, 10, 4, (_x, y) => (y < 5 ? [0, 0, 0, 128] : [255, 255, 255, 255]));
  const s = computeImageStats(img, FLAT_GRAY);
  close(s.alphaFraction, 0.5, 0);
  close(s.brightness, 0.5, 1e-12);
  close(s.contrast, 0.5, 1e-12);
  close(s.entropy, 1, 1e-12);

  // A quarter of the pixels at alpha 254: alphaFraction 0.25
  const q = makeImage(8, 8, 4, (x) => [10, 10, 10, x < 2 ? 254 : 255]);
  close(computeImageStats(q, FLAT_GRAY).alphaFraction, 0.25, 0);
});

test('all-transparent image gives zero colour stats (no NaN) and alphaFraction 1', () => {
  const img = makeImage(16, 16, 4, (x, y) => [(x * 16) & 255, (y * 16) & 255, 77, 0]);
  const s = computeImageStats(img, FLAT_GRAY);
  assertAllFinite(s);
  assert.equal(s.brightness, 0);
  assert.equal(s.contrast, 0);
  assert.equal(s.saturation, 0);
  assert.equal(s.colorfulness, 0);
  assert.equal(s.entropy, 0);
  assert.equal(s.alphaFraction, 1);
  assert.equal(s.isGrayscale, true); // vacuously: no visible pixel has colour
  // gray-derived stats are still computed from the gray image
  assert.equal(s.sharpness, 0);
});

// ---------------------------------------------------------------- validation

test('invalid inputs throw clear errors', () => {
  const gray = FLAT_GRAY;
  assert.throws(
    () => computeImageStats({ data: new Uint8Array(299), width: 10, height: 10, channels: 3 }, gray),
    (e: unknown) => e instanceof Error && /expected length 300/.test(e.message) && /color/.test(e.message),
  );
  assert.throws(
    () => computeImageStats(solid(4, 4, [1, 2, 3]), { data: new Uint8Array(100), width: 256, height: 256, channels: 1 }),
    (e: unknown) => e instanceof Error && /expected length 65536/.test(e.message) && /gray/.test(e.message),
  );
  // 16-bit looking data gets a hint
  assert.throws(
    () => computeImageStats({ data: new Uint8Array(600), width: 10, height: 10, channels: 3 }, gray),
    /expected length 300.*16-bit/,
  );
  assert.throws(
    () => computeImageStats({ data: new Uint8Array(200), width: 10, height: 10, channels: 2 }, gray),
    /channels must be one of 3, 4, got 2/,
  );
  assert.throws(
    () => computeImageStats(solid(4, 4, [1, 2, 3]), { data: new Uint8Array(27), width: 3, height: 3, channels: 3 }),
    /gray image channels must be one of 1, 2, got 3/,
  );
  assert.throws(
    () => computeImageStats({ data: new Uint8Array(0), width: 0, height: 10, channels: 3 }, gray),
    /positive integers/,
  );
  assert.throws(
    () => computeImageStats({ data: new Uint8Array(30), width: 2.5, height: 4, channels: 3 }, gray),
    /positive integers/,
  );
  assert.throws(
    () =>
      computeImageStats(
        { data: [1, 2, 3] as unknown as Uint8Array, width: 1, height: 1, channels: 3 },
        gray,
      ),
    /Uint8Array/,
  );
});

test('random noise: every stat finite and in range', () => {
  const rand = rng(7);
  for (const ch of [3, 4]) {
    const img = makeImage(97, 61, ch, () => [0, 0, 0, 0].slice(0, ch).map(() => Math.floor(rand() * 256)));
    const g = grayImg(SHARPNESS_GRID, () => Math.floor(rand() * 256));
    const s = computeImageStats(img, g);
    assertAllFinite(s);
    assert.ok(s.entropy > 7.5, `entropy ${s.entropy}`);
    assert.ok(s.sharpness > 0 && s.edgeDensity > 0.5);
    assert.equal(s.isGrayscale, false);
  }
});

// ---------------------------------------------------------------- naive reference

/** Straightforward (slow, obviously-correct) reference implementation of the spec. */
function reference(color: RawImage, gray: RawImage): ImageStats {
  const { data, width, height, channels } = color;
  const lum: number[] = [];
  const sats: number[] = [];
  const rgs: number[] = [];
  const ybs: number[] = [];
  let translucent = 0;
  let maxSpread = 0;
  for (let p = 0; p < width * height; p++) {
    const r = data[p * channels];
    const g = data[p * channels + 1];
    const b = data[p * channels + 2];
    const a = channels === 4 ? data[p * channels + 3] : 255;
    if (a < 255) translucent++;
    if (a === 0) continue;
    lum.push(0.299 * r + 0.587 * g + 0.114 * b);
    const mx = Math.max(r, g, b);
    const mn = Math.min(r, g, b);
    sats.push(mx === 0 ? 0 : (mx - mn) / mx);
    maxSpread = Math.max(maxSpread, Math.abs(r - g), Math.abs(g - b), Math.abs(r - b));
    rgs.push(r - g);
    ybs.push(0.5 * (r + g) - b);
  }
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
  const sd = (xs: number[]): number => {
    const m = mean(xs);
    return Math.sqrt(xs.reduce((acc, x) => acc + (x - m) ** 2, 0) / xs.length);
  };
  const hist = new Array<number>(256).fill(0);
  for (const y of lum) hist[Math.round(y)]++;
  let entropy = 0;
  for (const c of hist) if (c > 0) entropy -= (c / lum.length) * Math.log2(c / lum.length);

  const gw = gray.width;
  const gh = gray.height;
  const gs = gray.channels;
  const at = (x: number, y: number): number => gray.data[(y * gw + x) * gs];
  const laps: number[] = [];
  let edges = 0;
  for (let y = 1; y < gh - 1; y++) {
    for (let x = 1; x < gw - 1; x++) {
      laps.push(at(x, y - 1) + at(x, y + 1) + at(x - 1, y) + at(x + 1, y) - 4 * at(x, y));
      const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      if (Math.hypot(gx, gy) > SOBEL_EDGE_THRESHOLD) edges++;
    }
  }
  return {
    brightness: mean(lum) / 255,
    contrast: sd(lum) / 255,
    saturation: mean(sats),
    colorfulness: Math.sqrt(sd(rgs) ** 2 + sd(ybs) ** 2) + 0.3 * Math.sqrt(mean(rgs) ** 2 + mean(ybs) ** 2),
    sharpness: sd(laps) ** 2,
    entropy,
    edgeDensity: edges / laps.length,
    alphaFraction: channels === 4 ? translucent / (width * height) : 0,
    isGrayscale: maxSpread <= GRAYSCALE_TOLERANCE,
  };
}

test('matches a naive reference implementation on random images (RGB, RGBA, 2-channel gray)', () => {
  const rand = rng(2024);
  for (let trial = 0; trial < 12; trial++) {
    const w = 3 + Math.floor(rand() * 120);
    const h = 3 + Math.floor(rand() * 90);
    const ch = trial % 2 === 0 ? 3 : 4;
    // Smooth-ish random field plus noise, some transparent pixels for RGBA.
    const color = makeImage(w, h, ch, (x, y) => {
      const base = [128 + 100 * Math.sin(x / 7 + trial), 128 + 100 * Math.cos(y / 5), 128 + 90 * Math.sin((x + y) / 11)];
      const px = base.map((v) => Math.max(0, Math.min(255, Math.round(v + (rand() - 0.5) * 60))));
      if (ch === 4) px.push(rand() < 0.2 ? 0 : rand() < 0.3 ? Math.floor(rand() * 255) : 255);
      return px;
    });
    const gs = trial % 3 === 0 ? 2 : 1;
    const gw = 3 + Math.floor(rand() * 80);
    const gh = 3 + Math.floor(rand() * 80);
    const gray = makeImage(gw, gh, gs, (x, y) => [
      Math.max(0, Math.min(255, Math.round(128 + 90 * Math.sin(x / 3) * Math.cos(y / 4) + (rand() - 0.5) * 50))),
      Math.floor(rand() * 256),
    ]);
    const got = computeImageStats(color, gray);
    const want = reference(color, gray);
    const ctx = `trial ${trial} (${w}x${h}x${ch}, gray ${gw}x${gh}x${gs})`;
    close(got.brightness, want.brightness, 1e-12, `${ctx} brightness`);
    // contrast uses the 8-bit (rounded) luma: off by at most 0.5/255
    close(got.contrast, want.contrast, 0.5 / 255, `${ctx} contrast`);
    close(got.saturation, want.saturation, 1e-12, `${ctx} saturation`);
    close(got.colorfulness, want.colorfulness, 1e-9, `${ctx} colorfulness`);
    close(got.entropy, want.entropy, 0.02, `${ctx} entropy`);
    close(got.alphaFraction, want.alphaFraction, 1e-12, `${ctx} alphaFraction`);
    assert.equal(got.isGrayscale, want.isGrayscale, `${ctx} isGrayscale`);
    close(got.sharpness, want.sharpness, 1e-6 * Math.max(1, want.sharpness), `${ctx} sharpness`);
    close(got.edgeDensity, want.edgeDensity, 1e-12, `${ctx} edgeDensity`);
  }
});

test('results do not depend on buffer alignment or pixel-count remainders', () => {
  const rand = rng(11);
  for (const ch of [3, 4]) {
    for (const [w, h] of [[1, 1], [5, 3], [33, 7], [64, 64]]) {
      const base = makeImage(w, h, ch, () => [0, 0, 0, 0].slice(0, ch).map(() => Math.floor(rand() * 256)));
      const want = computeImageStats(base, FLAT_GRAY);
      for (let off = 1; off < 4; off++) {
        const backing = new Uint8Array(base.data.length + off);
        backing.set(base.data, off);
        const shifted = { ...base, data: backing.subarray(off) };
        assert.deepEqual(computeImageStats(shifted, FLAT_GRAY), want, `ch ${ch} ${w}x${h} offset ${off}`);
      }
      // A Node Buffer view onto the same bytes (sharp hands back Buffers).
      const buf = Buffer.from(base.data);
      assert.deepEqual(computeImageStats({ ...base, data: buf }, FLAT_GRAY), want);
    }
  }
});

test('images larger than one internal chunk (> 4 Mpx) give the same exact results', () => {
  // 2048 x 2049 = 4,196,352 px > 2^22: the saturation buckets are flushed mid-image.
  const w = 2048;
  const h = 2049;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i += 3) {
    const white = i / 3 < (w * h) / 2;
    data[i] = white ? 255 : 200;
    data[i + 1] = white ? 255 : 100;
    data[i + 2] = white ? 255 : 50;
  }
  const s = computeImageStats({ data, width: w, height: h, channels: 3 }, FLAT_GRAY);
  // Exactly half white (S = 0) and half (200,100,50) (S = 0.75).
  close(s.saturation, 0.375, 1e-12);
  close(s.brightness, (1 + (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255) / 2, 1e-12);
  close(s.entropy, 1, 1e-12);
});

// ---------------------------------------------------------------- gray grid (area-average resample)

/** 16-bit fixed-point Rec. 601 luma composited onto 128 by alpha, as a real number (the value grayGrid averages). */
function lumaOnGrey(r: number, g: number, b: number, a = 255): number {
  const y = (19595 * r + 38470 * g + 7471 * b) / 65536;
  return (a * y + (255 - a) * 128) / 255;
}

/** Slow reference: each output cell is the integral of the luma over its footprint (float interval overlaps). */
function grayGridReference(color: RawImage, n: number): number[] {
  const { data, width: w, height: h, channels: ch } = color;
  const out: number[] = [];
  const overlap = (lo: number, hi: number, j: number): number => Math.max(0, Math.min(hi, j + 1) - Math.max(lo, j));
  for (let oy = 0; oy < n; oy++) {
    const ylo = (oy * h) / n;
    const yhi = ((oy + 1) * h) / n;
    for (let ox = 0; ox < n; ox++) {
      const xlo = (ox * w) / n;
      const xhi = ((ox + 1) * w) / n;
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(ylo); y < Math.min(h, Math.ceil(yhi)); y++) {
        for (let x = Math.floor(xlo); x < Math.min(w, Math.ceil(xhi)); x++) {
          const wt = overlap(xlo, xhi, x) * overlap(ylo, yhi, y);
          const i = (y * w + x) * ch;
          sum += wt * lumaOnGrey(data[i], data[i + 1], data[i + 2], ch === 4 ? data[i + 3] : 255);
          area += wt;
        }
      }
      out.push(sum / area);
    }
  }
  return out;
}

test('grayGrid: output is always size x size, one channel', () => {
  for (const [w, h] of [[1, 1], [1, 300], [300, 1], [256, 171], [171, 256], [97, 61], [256, 256], [600, 20]]) {
    for (const ch of [3, 4]) {
      const img = makeImage(w, h, ch, (x, y) => [x & 255, y & 255, (x + y) & 255, 200]);
      for (const size of [1, 2, 3, 128]) {
        const g = grayGrid(img, size);
        assert.equal(g.width, size);
        assert.equal(g.height, size);
        assert.equal(g.channels, 1);
        assert.equal(g.data.length, size * size, `${w}x${h}x${ch} -> ${size}`);
      }
    }
  }
  assert.equal(SHARPNESS_GRID, 128);
});

test('grayGrid: a constant image stays constant (down, equal and up)', () => {
  for (const [w, h] of [[1, 1], [5, 3], [128, 128], [256, 171], [300, 300]]) {
    // grey maps exactly; a colour maps to its rounded luma, round(124.199...) = 124; opaque RGBA is the same.
    for (const [px, want] of [[[77, 77, 77], 77], [[200, 100, 50], 124], [[200, 100, 50, 255], 124], [[255, 255, 255], 255], [[0, 0, 0], 0]] as const) {
      const g = grayGrid(solid(w, h, px), SHARPNESS_GRID);
      assert.ok(g.data.every((v) => v === want), `${w}x${h} ${px.join(',')}: want ${want}, got ${[...new Set(g.data)].join(',')}`);
    }
  }
});

test('grayGrid: an exact 2x downsample gives the 2x2 box means (rounded half up)', () => {
  const n = SHARPNESS_GRID;
  // 1-px checkerboard of black and white: every 2x2 box holds two of each, mean 127.5 -> 128.
  const checker = grayGrid(makeImage(2 * n, 2 * n, 3, (x, y) => ((x + y) & 1 ? [255, 255, 255] : [0, 0, 0])), n);
  assert.ok(checker.data.every((v) => v === 128));
  // Arbitrary grey values: each output is round((a + b + c + d) / 4), quarters and halves included.
  const rand = rng(5);
  const v = new Uint8Array(4 * n * n).map(() => Math.floor(rand() * 256));
  const img = makeImage(2 * n, 2 * n, 3, (x, y) => [v[y * 2 * n + x], v[y * 2 * n + x], v[y * 2 * n + x]]);
  const g = grayGrid(img, n);
  for (let oy = 0; oy < n; oy++) {
    for (let ox = 0; ox < n; ox++) {
      const at = (x: number, y: number): number => v[y * 2 * n + x];
      const sum = at(2 * ox, 2 * oy) + at(2 * ox + 1, 2 * oy) + at(2 * ox, 2 * oy + 1) + at(2 * ox + 1, 2 * oy + 1);
      assert.equal(g.data[oy * n + ox], Math.floor(sum / 4 + 0.5), `cell ${ox},${oy}`);
    }
  }
});

test('grayGrid: fractional boxes weight partly covered pixels by the covered fraction', () => {
  // 3 -> 2: cell 0 covers source [0, 1.5): pixel 0 whole, pixel 1 half; cell 1 covers [1.5, 3).
  // Columns 0, 90, 180: (0 + 0.5*90) / 1.5 = 30 and (0.5*90 + 180) / 1.5 = 150; rows are identical.
  const cols = [0, 90, 180];
  const g = grayGrid(makeImage(3, 3, 3, (x) => [cols[x], cols[x], cols[x]]), 2);
  assert.deepEqual([...g.data], [30, 150, 30, 150]);
  // The same along y.
  const gy = grayGrid(makeImage(3, 3, 3, (_x, y) => [cols[y], cols[y], cols[y]]), 2);
  assert.deepEqual([...gy.data], [30, 30, 150, 150]);
  // A single white centre pixel: each cell covers a quarter of it, 0.25 * 255 / 2.25 = 28.33 -> 28.
  const dot = grayGrid(makeImage(3, 3, 3, (x, y) => (x === 1 && y === 1 ? [255, 255, 255] : [0, 0, 0])), 2);
  assert.deepEqual([...dot.data], [28, 28, 28, 28]);
  // 5 -> 3 (cells of 5/3 px): cell 0 = (p0 + 2/3 p1) / (5/3), cell 1 = (1/3 p1 + p2 + 1/3 p3) / (5/3),
  // cell 2 = (2/3 p3 + p4) / (5/3).
  const p = [0, 30, 60, 90, 120];
  const g5 = grayGrid(makeImage(5, 5, 3, (x) => [p[x], p[x], p[x]]), 3);
  assert.deepEqual([...g5.data.subarray(0, 3)], [12, 60, 108]); // 20 / (5/3), (10 + 60 + 30) / (5/3), (60 + 120) / (5/3)
});

test('grayGrid: upsampling repeats source pixels and blends only across a boundary', () => {
  // 2 -> 3: cell 0 lies inside pixel 0, cell 2 inside pixel 1, cell 1 straddles both halves.
  const g = grayGrid(makeImage(2, 2, 3, (x) => (x === 0 ? [0, 0, 0] : [200, 200, 200])), 3);
  assert.deepEqual([...g.data], [0, 100, 200, 0, 100, 200, 0, 100, 200]);
  // 2 -> 4: exact replication, no blending at all.
  const g4 = grayGrid(makeImage(2, 2, 3, (x, y) => [x * 100 + y * 50, x * 100 + y * 50, x * 100 + y * 50]), 4);
  assert.deepEqual([...g4.data], [0, 0, 100, 100, 0, 0, 100, 100, 50, 50, 150, 150, 50, 50, 150, 150]);
  // A 1x1 image fills the whole grid; a 1-px line becomes stripes across it.
  assert.ok(grayGrid(solid(1, 1, [9, 9, 9]), SHARPNESS_GRID).data.every((v) => v === 9));
  const line = grayGrid(makeImage(1, 2, 3, (_x, y) => (y ? [255, 255, 255] : [0, 0, 0])), 4);
  assert.deepEqual([...line.data], [0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]);
});

test('grayGrid: transparent pixels are composited onto mid grey (128), weighted by alpha', () => {
  const cases: Array<[readonly number[], number]> = [
    [[255, 255, 255, 0], 128], // fully transparent white: mid grey
    [[0, 255, 0, 0], 128], // fully transparent garbage colour: mid grey too
    [[0, 0, 0, 255], 0], // opaque: its own luma
    [[255, 255, 255, 51], 153], // 128 + (255 - 128) * 51/255 = 153.4
    [[0, 0, 0, 128], 64], // 128 - 128 * 128/255 = 63.75
  ];
  for (const [px, want] of cases) {
    const g = grayGrid(solid(4, 4, px), 2);
    assert.ok(g.data.every((v) => v === want), `${px.join(',')}: want ${want}, got ${[...g.data].join(',')}`);
  }
  // Colour at alpha 102 (0.4): 0.4 * 124.1997 + 0.6 * 128 = 126.48 -> 126.
  const mixed = grayGrid(solid(4, 4, [200, 100, 50, 102]), 2);
  assert.equal(mixed.data[0], Math.round(lumaOnGrey(200, 100, 50, 102)));
  assert.equal(mixed.data[0], 126);
  // Alpha is blended per source pixel before averaging: half transparent, half opaque black -> (128 + 0) / 2 = 64.
  const half = grayGrid(makeImage(2, 1, 4, (x) => (x === 0 ? [255, 0, 0, 0] : [0, 0, 0, 255])), 1);
  assert.deepEqual([...half.data], [64]);
});

test('grayGrid: matches a slow area-integral reference on random images (RGB and RGBA, down and up)', () => {
  const rand = rng(77);
  for (let trial = 0; trial < 24; trial++) {
    const w = 1 + Math.floor(rand() * (trial < 12 ? 300 : 40));
    const h = 1 + Math.floor(rand() * (trial < 12 ? 300 : 40));
    const ch = trial % 2 ? 4 : 3;
    const size = [SHARPNESS_GRID, 7, 64, 33][trial % 4];
    const img = makeImage(w, h, ch, () => [rand() * 256, rand() * 256, rand() * 256, rand() < 0.3 ? 0 : rand() * 256].map(Math.floor));
    const got = grayGrid(img, size);
    const want = grayGridReference(img, size);
    for (let i = 0; i < want.length; i++) {
      // Exact rounding of the exact mean; the reference's float sums get a hair of slack at a half level.
      assert.ok(Math.abs(got.data[i] - want[i]) <= 0.5 + 1e-9, `trial ${trial} ${w}x${h}x${ch} -> ${size}, cell ${i}: ${got.data[i]} vs ${want[i]}`);
    }
  }
});

test('grayGrid: invalid inputs throw clear errors', () => {
  assert.throws(() => grayGrid(solid(4, 4, [1, 2, 3]), 0), /grayGrid: size must be a positive integer, got 0/);
  assert.throws(() => grayGrid(solid(4, 4, [1, 2, 3]), 2.5), /size must be a positive integer/);
  assert.throws(() => grayGrid({ data: new Uint8Array(16), width: 4, height: 4, channels: 1 }, 8), /grayGrid: color image channels must be one of 3, 4, got 1/);
  assert.throws(() => grayGrid({ data: new Uint8Array(47), width: 4, height: 4, channels: 3 }, 8), /grayGrid: .*expected length 48/);
});

test('grayGrid + computeImageStats: sharpness ranks a sharp image above its blurred copy', async () => {
  // A 256-px working copy with fine texture, and the same after a Gaussian blur.
  const rand = rng(12);
  const sharpImg = makeImage(256, 192, 3, (x, y) => {
    const v = ((x >> 2) + (y >> 2)) & 1 ? 200 : 40;
    const j = Math.floor(rand() * 20);
    return [v + j, v + j, v + j];
  });
  const blurred = await sharp(Buffer.from(sharpImg.data), { raw: { width: 256, height: 192, channels: 3 } }).blur(2).raw().toBuffer();
  const soft: RawImage = { data: blurred, width: 256, height: 192, channels: 3 };
  const a = computeImageStats(sharpImg, grayGrid(sharpImg, SHARPNESS_GRID));
  const b = computeImageStats(soft, grayGrid(soft, SHARPNESS_GRID));
  assert.ok(a.sharpness > 4 * b.sharpness, `sharp ${a.sharpness} vs blurred ${b.sharpness}`);
  assert.ok(a.edgeDensity > b.edgeDensity, `edges ${a.edgeDensity} vs ${b.edgeDensity}`);
});

// ---------------------------------------------------------------- real decode via sharp

/** The caller's pipeline (core/library/probeImage.ts): one decode to a <= 256-px working copy, gray grid in JS. */
async function decodeLikeCaller(buf: Buffer): Promise<{ color: RawImage; gray: RawImage }> {
  const c = await sharp(buf)
    .rotate()
    .resize(256, 256, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const color: RawImage = { data: c.data, width: c.info.width, height: c.info.height, channels: c.info.channels };
  return { color, gray: grayGrid(color, SHARPNESS_GRID) };
}

test('real PNG decoded through the caller pipeline: black | yellow halves', async () => {
  // 1024x512 black canvas with a yellow right half.
  const png = await sharp({ create: { width: 1024, height: 512, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([
      {
        input: { create: { width: 512, height: 512, channels: 3, background: { r: 255, g: 255, b: 0 } } },
        left: 512,
        top: 0,
      },
    ])
    .png()
    .toBuffer();
  const { color, gray } = await decodeLikeCaller(png);
  assert.equal(color.width, 256);
  assert.equal(color.height, 128);
  // composite() may add an (opaque) alpha channel to the encoded PNG
  assert.ok(color.channels === 3 || color.channels === 4, `channels ${color.channels}`);
  assert.equal(gray.width, SHARPNESS_GRID);
  assert.equal(gray.height, SHARPNESS_GRID);
  assert.equal(gray.channels, 1);

  const s = computeImageStats(color, gray);
  assertAllFinite(s);
  // Analytic values for an exact half split (resampling only touches the seam):
  // brightness (0 + 0.886)/2 = 0.443; saturation (0 + 1)/2 = 0.5;
  // yb in {0, 255}: M = sd 127.5 + 0.3 * mean 127.5 = 165.75; rg = 0 everywhere.
  close(s.brightness, 0.443, 0.01, 'brightness');
  close(s.saturation, 0.5, 0.02, 'saturation');
  close(s.colorfulness, 165.75, 3, 'colorfulness');
  close(s.contrast, 0.443, 0.01, 'contrast');
  assert.ok(s.entropy >= 1 && s.entropy < 1.5, `entropy ${s.entropy}`);
  assert.equal(s.isGrayscale, false);
  assert.equal(s.alphaFraction, 0);
  // One vertical seam in the 128x128 grid: a few of 126 columns are edges.
  assert.ok(s.edgeDensity > 0 && s.edgeDensity < 0.05, `edgeDensity ${s.edgeDensity}`);
  assert.ok(s.sharpness > 0, `sharpness ${s.sharpness}`);
});

test('real JPEG of a grey gradient stays grayscale; a sepia-toned JPEG does not', async () => {
  const w = 800;
  const h = 600;
  const rand = rng(3);
  // Grey gradient + texture, plus independent 0..2 per-channel noise (a slightly
  // off-grey scan/camera file); JPEG at high quality keeps that chroma noise.
  const grey = makeImage(w, h, 3, (x, y) => {
    const v = Math.min(253, Math.floor(((x + y) / (w + h)) * 255 + rand() * 20));
    const j = () => v + Math.floor(rand() * 3);
    return [j(), j(), j()];
  });
  const jpeg = await sharp(Buffer.from(grey.data), { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
    .toBuffer();
  const a = await decodeLikeCaller(jpeg);
  const sg = computeImageStats(a.color, a.gray);
  assert.equal(sg.isGrayscale, true);
  assert.ok(sg.saturation < 0.05 && sg.colorfulness < 3, JSON.stringify(sg));

  const sepia = makeImage(w, h, 3, (x, y) => {
    const v = ((x + y) / (w + h)) * 200 + 30;
    return [Math.min(255, v * 1.07), v * 0.74 + 40 * 0.74, v * 0.43 + 20];
  });
  const jpeg2 = await sharp(Buffer.from(sepia.data), { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 70 })
    .toBuffer();
  const b = await decodeLikeCaller(jpeg2);
  assert.equal(computeImageStats(b.color, b.gray).isGrayscale, false);
});

test('real RGBA PNG with a transparent half through the pipeline', async () => {
  const png = await sharp({
    create: { width: 600, height: 300, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
  })
    .composite([
      {
        input: { create: { width: 300, height: 300, channels: 4, background: { r: 30, g: 120, b: 220, alpha: 1 } } },
        left: 300,
        top: 0,
      },
    ])
    .png()
    .toBuffer();
  const { color, gray } = await decodeLikeCaller(png);
  assert.equal(color.channels, 4);
  assert.equal(gray.channels, 1);
  const s = computeImageStats(color, gray);
  assertAllFinite(s);
  close(s.alphaFraction, 0.5, 0.01, 'alphaFraction');
  // Visible pixels are the opaque blue (libvips resizes premultiplied, so the seam keeps the blue's colour).
  close(s.saturation, (220 - 30) / 220, 0.01, 'saturation');
  close(s.brightness, (0.299 * 30 + 0.587 * 120 + 0.114 * 220) / 255, 0.01, 'brightness');
  // Gray grid: the transparent left half is mid grey, the blue half its luma, round(104.49) = 104.
  const n = SHARPNESS_GRID;
  assert.equal(gray.data[(n >> 1) * n + 10], 128);
  assert.ok(Math.abs(gray.data[(n >> 1) * n + n - 10] - 104) <= 1, `blue luma ${gray.data[(n >> 1) * n + n - 10]}`);
});

// ---------------------------------------------------------------- timing (informational)

test('timing sanity: 256x256 working copy + 128x128 gray grid (printed, not asserted)', () => {
  const rand = rng(99);
  // Worst case: uniform noise with 16 % randomly placed transparent pixels
  // (every data-dependent branch unpredictable).
  const noise: RawImage = { data: new Uint8Array(256 * 256 * 4), width: 256, height: 256, channels: 4 };
  for (let i = 0; i < noise.data.length; i++) noise.data[i] = (rand() * 256) | 0;
  for (let i = 3; i < noise.data.length; i += 4) if (noise.data[i] < 40) noise.data[i] = 0;
  // Photo-like: smooth colour fields plus grain, a transparent corner block.
  const photo = makeImage(256, 256, 4, (x, y) => {
    const grain = (rand() - 0.5) * 24;
    return [
      Math.max(0, Math.min(255, 120 + 90 * Math.sin(x / 40) + grain)) | 0,
      Math.max(0, Math.min(255, 110 + 80 * Math.cos(y / 33) + grain)) | 0,
      Math.max(0, Math.min(255, 100 + 70 * Math.sin((x + y) / 57) + grain)) | 0,
      x < 64 && y < 64 ? 0 : 255,
    ];
  });
  const photoRgb = makeImage(256, 256, 3, (x, y) => {
    const o = (y * 256 + x) * 4;
    return [photo.data[o], photo.data[o + 1], photo.data[o + 2]];
  });
  const gray = grayImg(SHARPNESS_GRID, (x, y) => (128 + 100 * Math.sin(x / 9) * Math.cos(y / 13) + (rand() - 0.5) * 30) | 0);

  let sink = 0;
  for (let i = 0; i < 60; i++) {
    sink += computeImageStats(noise, gray).brightness + computeImageStats(photo, gray).brightness;
    sink += computeImageStats(photoRgb, gray).brightness;
  }
  // Best and median of several batches, in wall time and in this process's CPU
  // time (the latter is not inflated when a busy shared box deschedules us).
  const batches = (img: RawImage, run: (img: RawImage) => number = (im) => computeImageStats(im, gray).sharpness): string => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let rep = 0; rep < 7; rep++) {
      const iters = 30;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) sink += run(img);
      wall.push((performance.now() - t0) / iters);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000 / iters);
    }
    const fmt = (xs: number[]): string => {
      xs.sort((x, y) => x - y);
      return `${xs[0].toFixed(3)}/${xs[xs.length >> 1].toFixed(3)}`;
    };
    return `wall ${fmt(wall)} ms, cpu ${fmt(cpu)} ms (best/median of 7x30)`;
  };
  const grid = (im: RawImage): number => grayGrid(im, SHARPNESS_GRID).data[77];
  console.log(`computeImageStats 256x256 RGBA photo-like + 128x128 gray: ${batches(photo)}`);
  console.log(`computeImageStats 256x256 RGB  photo-like + 128x128 gray: ${batches(photoRgb)}`);
  console.log(`computeImageStats 256x256 RGBA uniform noise + 128x128 gray: ${batches(noise)}`);
  console.log(`grayGrid 256x256 RGBA -> 128x128: ${batches(photo, grid)}`);
  console.log(`grayGrid 256x256 RGB  -> 128x128: ${batches(photoRgb, grid)}`);
  console.log(`grayGrid 256x171 RGB  -> 128x128 (fractional rows): ${batches({ ...photoRgb, height: 171, data: photoRgb.data.subarray(0, 256 * 171 * 3) }, grid)}`);
  assert.ok(sink > 0);
});
