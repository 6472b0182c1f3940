// Builds the SVG of one illustration-like scene: a soft gradient sky, a ground band, outlined clutter shapes
// with flat or gradient fills, and a simple character figure (the subject) at a known box. No text anywhere:
// text would depend on the fonts installed, and the output must be identical on every machine.
import type { ImageAttributes, RenderParameters } from './attributes.js';
import type { Hsl, Palette } from './palette.js';
import { darker, hslToHex, lighter } from './palette.js';
import type { SeededRandom } from './random.js';

/** A box in pixels of the written image. */
export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IllustrationSvg {
  svg: string;
  subjectBox: PixelBox;
}

/** The subject figure is drawn in a 60 x 100 unit box (width : height = 0.6). */
const figureUnitWidth = 60;
const figureUnitHeight = 100;
const outlineColor = '#1f1a24';

const shapeKinds = ['circle', 'roundedRect', 'triangle', 'star', 'diamond', 'blob'] as const;
type ShapeKind = (typeof shapeKinds)[number];

/** Two decimals are plenty for pixels and keep the SVG (and so the output) stable. */
const n = (value: number) => Number(value.toFixed(2)).toString();

/** Collects <defs> entries with unique ids. */
class Defs {
  private entries: string[] = [];
  private next = 0;

  add(build: (id: string) => string): string {
    const id = `d${this.next++}`;
    this.entries.push(build(id));
    return id;
  }

  toString(): string {
    return `<defs>${this.entries.join('')}</defs>`;
  }
}

function fillFor(rng: SeededRandom, defs: Defs, color: Hsl): string {
  const style = rng.pick(['flat', 'linear', 'radial'] as const);
  if (style === 'flat') return hslToHex(color);
  if (style === 'linear') {
    const angle = rng.uniform(0, Math.PI);
    const dx = Math.cos(angle) / 2;
    const dy = Math.sin(angle) / 2;
    const id = defs.add(
      (id) =>
        `<linearGradient id="${id}" x1="${n(0.5 - dx)}" y1="${n(0.5 - dy)}" x2="${n(0.5 + dx)}" y2="${n(0.5 + dy)}">` +
        `<stop offset="0" stop-color="${hslToHex(lighter(color, 0.18))}"/>` +
        `<stop offset="1" stop-color="${hslToHex(darker(color, 0.15))}"/></linearGradient>`,
    );
    return `url(#${id})`;
  }
  // A radial highlight up-left reads as a lit, rounded object.
  const id = defs.add(
    (id) =>
      `<radialGradient id="${id}" cx="0.38" cy="0.35" r="0.7">` +
      `<stop offset="0" stop-color="${hslToHex(lighter(color, 0.25))}"/>` +
      `<stop offset="0.55" stop-color="${hslToHex(color)}"/>` +
      `<stop offset="1" stop-color="${hslToHex(darker(color, 0.18))}"/></radialGradient>`,
  );
  return `url(#${id})`;
}

function polygon(points: Array<[number, number]>): string {
  return points.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');
}

function shapeElement(kind: ShapeKind, cx: number, cy: number, r: number, rotation: number, attrs: string): string {
  const rotate = `transform="rotate(${n(rotation)} ${n(cx)} ${n(cy)})"`;
  switch (kind) {
    case 'circle':
      return `<circle cx="${n(cx)}" cy="${n(cy)}" r="${n(r)}" ${attrs}/>`;
    case 'blob':
      return `<ellipse cx="${n(cx)}" cy="${n(cy)}" rx="${n(r)}" ry="${n(r * 0.62)}" ${rotate} ${attrs}/>`;
    case 'roundedRect':
      return (
        `<rect x="${n(cx - r)}" y="${n(cy - r * 0.7)}" width="${n(2 * r)}" height="${n(1.4 * r)}" ` +
        `rx="${n(r * 0.28)}" ${rotate} ${attrs}/>`
      );
    case 'triangle': {
      const pts: Array<[number, number]> = [0, 1, 2].map((k) => {
        const a = -Math.PI / 2 + (k * 2 * Math.PI) / 3;
        return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
      });
      return `<polygon points="${polygon(pts)}" stroke-linejoin="round" ${rotate} ${attrs}/>`;
    }
    case 'diamond':
      return `<polygon points="${polygon([[cx, cy - r], [cx + r * 0.7, cy], [cx, cy + r], [cx - r * 0.7, cy]])}" stroke-linejoin="round" ${rotate} ${attrs}/>`;
    case 'star': {
      const pts: Array<[number, number]> = [];
      for (let k = 0; k < 10; k++) {
        const a = -Math.PI / 2 + (k * Math.PI) / 5;
        const rr = k % 2 === 0 ? r : r * 0.45;
        pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
      }
      return `<polygon points="${polygon(pts)}" stroke-linejoin="round" ${rotate} ${attrs}/>`;
    }
  }
}

/** One random clutter shape centred in the x range given; returns its SVG. */
function clutterShape(
  rng: SeededRandom,
  defs: Defs,
  palette: Palette,
  xRange: [number, number],
  width: number,
  height: number,
  strokeWidth: number,
): string {
  const longSide = Math.max(width, height);
  const kind = rng.pick(shapeKinds);
  const r = rng.uniform(0.035, 0.12) * longSide;
  const cx = rng.uniform(xRange[0], xRange[1]);
  const cy = rng.uniform(0.06, 0.94) * height;
  const rotation = rng.uniform(-35, 35);
  const fill = fillFor(rng, defs, rng.pick(palette.colors));
  const attrs = `fill="${fill}" stroke="${outlineColor}" stroke-width="${n(strokeWidth)}"`;
  return shapeElement(kind, cx, cy, r, rotation, attrs);
}

/**
 * The character figure in unit coordinates (60 x 100), outlined, with a flat shadow side on the body.
 * Everything, outline included, stays inside the unit box so the subject box is honest.
 */
function figureElements(defs: Defs, palette: Palette, strokeUnits: number): string {
  const clothes = palette.colors[0];
  const hair = darker(palette.colors[3], 0.12);
  const eyes = darker(palette.colors[1], 0.2);
  const shoes = darker(palette.colors[2], 0.22);
  const skin: Hsl = { h: 24, s: 0.7, l: 0.84 };
  const o = `stroke="${outlineColor}" stroke-width="${n(strokeUnits)}" stroke-linejoin="round"`;
  const skinFill = defs.add(
    (id) =>
      `<radialGradient id="${id}" cx="0.4" cy="0.38" r="0.75"><stop offset="0" stop-color="${hslToHex(lighter(skin, 0.08))}"/>` +
      `<stop offset="1" stop-color="${hslToHex(darker(skin, 0.08))}"/></radialGradient>`,
  );
  const clothesFill = defs.add(
    (id) =>
      `<linearGradient id="${id}" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${hslToHex(lighter(clothes, 0.12))}"/>` +
      `<stop offset="1" stop-color="${hslToHex(darker(clothes, 0.08))}"/></linearGradient>`,
  );
  const body = 'M17 44 Q30 38 43 44 L48 74 Q30 79 12 74 Z';
  return [
    `<ellipse cx="30" cy="96" rx="18" ry="2.5" fill="#000" fill-opacity="0.2"/>`,
    // legs and shoes
    `<rect x="20" y="70" width="8" height="24" rx="3" fill="url(#${skinFill})" ${o}/>`,
    `<rect x="32" y="70" width="8" height="24" rx="3" fill="url(#${skinFill})" ${o}/>`,
    `<ellipse cx="23.5" cy="94.5" rx="6" ry="3.2" fill="${hslToHex(shoes)}" ${o}/>`,
    `<ellipse cx="36.5" cy="94.5" rx="6" ry="3.2" fill="${hslToHex(shoes)}" ${o}/>`,
    // arms (behind the body) and hands
    `<ellipse cx="12" cy="57" rx="4.5" ry="13" transform="rotate(18 12 57)" fill="${hslToHex(clothes)}" ${o}/>`,
    `<ellipse cx="48" cy="57" rx="4.5" ry="13" transform="rotate(-18 48 57)" fill="${hslToHex(clothes)}" ${o}/>`,
    `<circle cx="8" cy="69" r="3.4" fill="url(#${skinFill})" ${o}/>`,
    `<circle cx="52" cy="69" r="3.4" fill="url(#${skinFill})" ${o}/>`,
    // body: fill, flat shadow side, then the outline on top so the shadow doesn't cover it
    `<path d="${body}" fill="url(#${clothesFill})"/>`,
    `<path d="M30 41 Q37 41 43 44 L48 74 Q39 77 30 77 Z" fill="#000" fill-opacity="0.16"/>`,
    `<path d="${body}" fill="none" ${o}/>`,
    // hair behind the head, head, fringe and a bun
    `<circle cx="30" cy="5.5" r="4" fill="${hslToHex(hair)}" ${o}/>`,
    `<ellipse cx="30" cy="25" rx="19" ry="17" fill="${hslToHex(hair)}" ${o}/>`,
    `<circle cx="30" cy="25" r="16" fill="url(#${skinFill})" ${o}/>`,
    `<path d="M13 25 Q12 7 30 7 Q48 7 47 25 Q41 15 34 18 Q30 13 25 18 Q18 15 13 25 Z" fill="${hslToHex(hair)}" ${o}/>`,
    // face
    `<ellipse cx="24" cy="28" rx="3.2" ry="4.4" fill="${hslToHex(eyes)}" ${o}/>`,
    `<ellipse cx="36" cy="28" rx="3.2" ry="4.4" fill="${hslToHex(eyes)}" ${o}/>`,
    `<circle cx="25" cy="26.5" r="1.2" fill="#fff"/>`,
    `<circle cx="37" cy="26.5" r="1.2" fill="#fff"/>`,
    `<ellipse cx="19.5" cy="33" rx="2.6" ry="1.4" fill="#f06080" fill-opacity="0.45"/>`,
    `<ellipse cx="40.5" cy="33" rx="2.6" ry="1.4" fill="#f06080" fill-opacity="0.45"/>`,
    `<path d="M27.5 35 Q30 37 32.5 35" fill="none" ${o}/>`,
  ].join('');
}

/**
 * @param rng this image's own generator (layout, shapes, fills)
 * @param params the pixel size and subject size realising the attributes
 */
export function renderIllustrationSvg(
  rng: SeededRandom,
  attributes: ImageAttributes,
  params: RenderParameters,
  palette: Palette,
): IllustrationSvg {
  const { width, height } = params;
  const longSide = Math.max(width, height);
  const strokeWidth = Math.max(1, 0.006 * longSide);
  const defs = new Defs();
  const parts: string[] = [];

  // Sky gradient and a ground band with a symmetric curve, so a fully symmetric image stays symmetric.
  const sky = defs.add(
    (id) =>
      `<linearGradient id="${id}" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${hslToHex(palette.background[0])}"/>` +
      `<stop offset="1" stop-color="${hslToHex(palette.background[1])}"/></linearGradient>`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="url(#${sky})"/>`);
  const groundY = rng.uniform(0.62, 0.8) * height;
  const bulge = rng.uniform(-0.08, 0.08) * height;
  const ground = defs.add(
    (id) =>
      `<radialGradient id="${id}" cx="0.5" cy="0" r="0.9"><stop offset="0" stop-color="${hslToHex(lighter(palette.ground, 0.15))}"/>` +
      `<stop offset="1" stop-color="${hslToHex(palette.ground)}"/></radialGradient>`,
  );
  parts.push(
    `<path d="M0 ${n(groundY)} Q${n(width / 2)} ${n(groundY + bulge)} ${width} ${n(groundY)} L${width} ${height} L0 ${height} Z" ` +
      `fill="url(#${ground})" stroke="${outlineColor}" stroke-width="${n(strokeWidth)}"/>`,
  );

  // Clutter: shapes on the left half; each is mirrored onto the right half with probability `symmetry`,
  // otherwise the right half gets an unrelated shape. symmetry 1 is a perfect mirror image.
  const pairs = rng.int(4, 8);
  const mirror = `transform="matrix(-1 0 0 1 ${width} 0)"`;
  for (let i = 0; i < pairs; i++) {
    const left = clutterShape(rng, defs, palette, [0, width / 2], width, height, strokeWidth);
    parts.push(left);
    if (rng.bool(attributes.symmetry)) parts.push(`<g ${mirror}>${left}</g>`);
    else parts.push(clutterShape(rng, defs, palette, [width / 2, width], width, height, strokeWidth));
  }

  // Subject: its box height follows subjectSize; its position subjectX/subjectY within the room left over.
  const boxHeight = Math.max(8, Math.round(params.subjectHeightFraction * height));
  const boxWidth = Math.min(width, Math.round((boxHeight * figureUnitWidth) / figureUnitHeight));
  const x = Math.round(attributes.subjectX * (width - boxWidth));
  const y = Math.round(attributes.subjectY * (height - boxHeight));
  const k = boxHeight / figureUnitHeight;
  // Thin outlines on tiny figures: a fixed 1-px line would be a large share of the figure and spill out of its box.
  const figureStroke = Math.max(0.5, 0.012 * boxHeight) / k;
  parts.push(
    `<g transform="translate(${x} ${y}) scale(${Number(k.toFixed(6))})">` +
      figureElements(defs, palette, figureStroke) +
      `</g>`,
  );

  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    defs.toString() +
    parts.join('') +
    `</svg>`;
  return { svg, subjectBox: { x, y, width: boxWidth, height: boxHeight } };
}
