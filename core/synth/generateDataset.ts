// `miru synth`: writes a synthetic image-aesthetics dataset with known ground truth (issue 2, "Synthetic
// datasets with ground truth"). Later features (attribution, rater analysis, data quality) check themselves
// against truth.json. Output, all deterministic for a seed and options:
//   images/       illustration-like PNG and JPEG files (renderIllustration.ts, applyImageAttributes.ts)
//   ratings.csv   image,rater,score,time from simulated raters (raters.ts, ratingsCsv.ts)
//   truth.json    attributes, true scores, subject boxes, raters, flipped ratings (truthFile.ts)
import path from 'node:path';
import type { ProgressListener } from '../jobs/progress.js';
import type { PreferenceGroup } from './aestheticTruth.js';
import {
  classesByRank,
  groupWeights,
  orderedGroupWeights,
  populationWeights,
  preferenceGroupNames,
  quantilePositions,
  weightedScore,
} from './aestheticTruth.js';
import type { ImageAttributes, RenderParameters } from './attributes.js';
import { attributeNames, drawAttributes, renderParameters, round6 } from './attributes.js';
import type { SynthImageFormat } from './applyImageAttributes.js';
import { renderImageFile } from './applyImageAttributes.js';
import { mapConcurrent } from '../util/mapConcurrent.js';
import { prepareOutputFolder, writeFileAtomic } from './outputFolder.js';
import { makePalette } from './palette.js';
import { SeededRandom } from './random.js';
import type { RaterProfile, SimulatedRating } from './raters.js';
import { makeRaters, simulateRatings } from './raters.js';
import type { RatingsCsvRow } from './ratingsCsv.js';
import { ratingsCsvChunks } from './ratingsCsv.js';
import type { PixelBox } from './renderIllustration.js';
import { renderIllustrationSvg } from './renderIllustration.js';
import type { SynthTruth } from './truthFile.js';
import { imagesFolderName, ratingsFileName, truthFileName } from './truthFile.js';
import type { SynthOptions } from './synthOptions.js';
import { resolveSynthOptions } from './synthOptions.js';

export { defaultSynthOptions } from './synthOptions.js';
export type { SynthOptions } from './synthOptions.js';
export type { SynthTruth } from './truthFile.js';

export interface SynthSummary {
  /** Absolute path of the dataset folder. */
  outDir: string;
  images: number;
  raters: number;
  /** Rows in ratings.csv. */
  ratings: number;
  /** Ratings deliberately flipped to the mirror value. */
  flipped: number;
  spammers: number;
  /** Preference groups the non-spammer raters fall into. */
  groups: number;
}

/** Share of images written as JPEG; the rest are PNG. Both kinds must index and import alike. */
const jpegShare = 0.3;
/** Mild aspect-ratio variety (width / height); square is the most common. */
const aspectChoices = [1, 1, 4 / 3, 3 / 4, 5 / 4, 4 / 5] as const;

interface ImagePlan {
  file: string;
  format: SynthImageFormat;
  attributes: ImageAttributes;
  params: RenderParameters;
}

/**
 * Everything about image i comes from generators derived for it alone, so an image doesn't depend on other
 * images or on the order images render in. Attributes don't depend on --size, so a seed gives the same
 * attributes at any size.
 */
function planImage(index: number, fileDigits: number, options: SynthOptions): ImagePlan {
  const rng = SeededRandom.derive(options.seed, 'image', index);
  const attributes = drawAttributes(rng);
  const aspect = rng.pick(aspectChoices);
  const format: SynthImageFormat = rng.bool(jpegShare) ? 'jpeg' : 'png';
  const params = renderParameters(attributes, options.size, aspect);
  const file = `img_${String(index + 1).padStart(fileDigits, '0')}.${format === 'png' ? 'png' : 'jpg'}`;
  return { file, format, attributes, params };
}

/** Draws the scene (palette, layout) and writes the file; returns the subject box. */
async function renderImage(plan: ImagePlan, index: number, seed: number, imagesDir: string): Promise<PixelBox> {
  const sceneRng = SeededRandom.derive(seed, 'scene', index);
  const palette = makePalette(sceneRng, plan.attributes.harmony);
  const { svg, subjectBox } = renderIllustrationSvg(sceneRng, plan.attributes, plan.params, palette);
  await renderImageFile(svg, plan.params, SeededRandom.derive(seed, 'noise', index), plan.format, path.join(imagesDir, plan.file));
  return subjectBox;
}

/** CSV rows one at a time, so millions of ratings never sit in memory twice. */
function* csvRows(
  ratings: readonly SimulatedRating[],
  plans: readonly ImagePlan[],
  raters: readonly RaterProfile[],
): Generator<RatingsCsvRow> {
  for (const r of ratings) yield { image: plans[r.image].file, rater: raters[r.rater].name, score: r.score, time: r.time };
}

export async function generateSynthDataset(outDir: string, options: Partial<SynthOptions> = {}): Promise<SynthSummary> {
  const opts = resolveSynthOptions(options);
  const { images: imageCount, raters: raterCount, seed, size, classes } = opts;
  const progress: ProgressListener = opts.onProgress ?? (() => {});
  const root = path.resolve(outDir);
  await prepareOutputFolder(root);

  // Plan every image (cheap, pure) before rendering, so the truth is known up front. SVGs are built only
  // while rendering, so memory stays small for large datasets.
  const fileDigits = Math.max(5, String(imageCount).length);
  const plans = Array.from({ length: imageCount }, (_, i) => planImage(i, fileDigits, opts));
  const trueScores = plans.map((p) => round6(weightedScore(p.attributes, populationWeights)));
  const trueClasses = classesByRank(trueScores, classes);
  const rankPositions = {} as Record<PreferenceGroup, number[]>;
  for (const group of preferenceGroupNames) {
    rankPositions[group] = quantilePositions(plans.map((p) => weightedScore(p.attributes, groupWeights[group])));
  }

  // Render. Large images hold a lot of raw pixels each, so fewer are in flight.
  const imagesDir = path.join(root, imagesFolderName);
  let done = 0;
  progress({ job: 'synth', phase: 'images', done, total: imageCount });
  const subjectBoxes = await mapConcurrent(plans, size > 2048 ? 2 : 4, async (plan, i) => {
    const box = await renderImage(plan, i, seed, imagesDir);
    done++;
    progress({ job: 'synth', phase: 'images', done, total: imageCount, message: plan.file });
    return box;
  });

  progress({ job: 'synth', phase: 'ratings', done: 0, total: 1 });
  const raters = makeRaters(raterCount, classes, seed);
  const { ratings, flipped } = simulateRatings(raters, rankPositions, imageCount, classes, seed);

  const truth: SynthTruth = {
    version: 1,
    seed,
    options: { images: imageCount, raters: raterCount, seed, size, classes },
    scale: { min: 1, max: classes },
    attributes: [...attributeNames],
    weights: { population: { ...populationWeights }, groups: orderedGroupWeights() },
    images: plans.map((plan, i) => ({
      file: plan.file,
      width: plan.params.width,
      height: plan.params.height,
      attributes: plan.attributes,
      trueScore: trueScores[i],
      trueClass: trueClasses[i],
      subjectBox: subjectBoxes[i],
    })),
    raters: raters.map((r) => ({ ...r, scaleRange: [r.scaleRange[0], r.scaleRange[1]] })),
    flipped: flipped.map((f) => ({
      image: plans[f.image].file,
      rater: raters[f.rater].name,
      original: f.original,
      flipped: f.flipped,
    })),
  };

  // Ratings, then truth last: truth.json existing means the whole dataset is complete.
  await writeFileAtomic(
    path.join(root, ratingsFileName),
    ratingsCsvChunks(csvRows(ratings, plans, raters)),
  );
  await writeFileAtomic(path.join(root, truthFileName), JSON.stringify(truth, null, 2) + '\n');
  progress({ job: 'synth', phase: 'ratings', done: 1, total: 1 });

  return {
    outDir: root,
    images: imageCount,
    raters: raterCount,
    ratings: ratings.length,
    flipped: flipped.length,
    spammers: raters.filter((r) => r.spammer).length,
    groups: new Set(raters.filter((r) => r.group !== null).map((r) => r.group)).size,
  };
}
