// Colour palettes whose harmony is controlled by one number. A harmonious palette takes its hues from a
// classic scheme around a base hue; as harmony falls, each hue is pushed further towards a random one, so at 0
// the hues clash at random.
import type { SeededRandom } from './random.js';

export interface Hsl {
  /** degrees, any value (taken modulo 360) */
  h: number;
  /** 0..1 */
  s: number;
  /** 0..1 */
  l: number;
}

/** Hue offsets (degrees) of classic colour schemes; the first entry is the base hue. */
const harmonySchemes: ReadonlyArray<readonly number[]> = [
  [0, 25, -25, 50, -50, 10], // analogous
  [0, 180, 20, 200, -20, 160], // complementary
  [0, 150, 210, 15, 165, 195], // split-complementary
  [0, 120, 240, 20, 140, 260], // triadic
];

export interface Palette {
  /** Six main colours: fills of shapes and the subject. */
  colors: Hsl[];
  /** Two pale colours for the sky-like background gradient. */
  background: [Hsl, Hsl];
  /** A darker colour for the ground band. */
  ground: Hsl;
}

export function makePalette(rng: SeededRandom, harmony: number): Palette {
  const base = rng.uniform(0, 360);
  const scheme = rng.pick(harmonySchemes);
  const discord = 1 - harmony;
  const hueAt = (offset: number) => base + offset + discord * rng.uniform(-180, 180);
  const colors = scheme.map((offset) => ({ h: hueAt(offset), s: rng.uniform(0.55, 0.85), l: rng.uniform(0.4, 0.65) }));
  return {
    colors,
    background: [
      { h: hueAt(scheme[1]), s: rng.uniform(0.35, 0.6), l: rng.uniform(0.8, 0.9) },
      { h: hueAt(scheme[0]), s: rng.uniform(0.35, 0.6), l: rng.uniform(0.68, 0.8) },
    ],
    ground: { h: hueAt(scheme[2]), s: rng.uniform(0.4, 0.65), l: rng.uniform(0.35, 0.5) },
  };
}

export function lighter(color: Hsl, amount: number): Hsl {
  return { ...color, l: Math.min(0.97, color.l + amount) };
}

export function darker(color: Hsl, amount: number): Hsl {
  return { ...color, l: Math.max(0.05, color.l - amount) };
}

/** CSS-style hex colour for SVG. */
export function hslToHex({ h, s, l }: Hsl): string {
  const hue = (((h % 360) + 360) % 360) / 360;
  const channel = (t: number) => {
    let x = t;
    if (x < 0) x += 1;
    if (x > 1) x -= 1;
    const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
    const p = 2 * l - q;
    if (x < 1 / 6) return p + (q - p) * 6 * x;
    if (x < 1 / 2) return q;
    if (x < 2 / 3) return p + (q - p) * (2 / 3 - x) * 6;
    return p;
  };
  const toHex = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255).toString(16).padStart(2, '0');
  return `#${toHex(channel(hue + 1 / 3))}${toHex(channel(hue))}${toHex(channel(hue - 1 / 3))}`;
}
