import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelCardError, parseCard, resolveCard, type ModelIO, type ModelTensor } from '../../../core/models/modelCard.js';
import { PRESET_NAMES, type PresetName } from '../../../core/models/presets.js';
import { repoRoot } from '../../helpers/paths.js';

// ---------------------------------------------------------------- fake model infos

const t = (name: string, shape: (number | string)[], type = 'float32'): ModelTensor => ({ name, shape, type });
const model = (inputs: ModelTensor[], outputs: ModelTensor[], layers?: ModelIO['layers']): ModelIO => ({ inputs, outputs, layers });

const convnext = model([t('x', ['N', 3, 224, 224])], [t('logits', ['N', 1000])]);
const wdTagger = model([t('input_1', ['batch', 448, 448, 3])], [t('predictions_sigmoid', ['batch', 10861])]);
const deepghs = model([t('input', ['batch', 3, 448, 448])], [t('output', ['batch', 7])]);
const clipTower = model([t('pixel_values', ['batch', 3, 224, 224])], [t('last_hidden_state', ['batch', 50, 768]), t('image_embeds', ['batch', 512])]);
const symbolic = model([t('pixels', ['N', 3, 'H', 'W'])], [t('score', ['N', 1])]);

/** Runs resolveCard and returns its error message (failing the test when it resolves). */
function problem(args: Parameters<typeof resolveCard>[0]): string {
  try {
    resolveCard(args);
  } catch (error) {
    assert.ok(error instanceof ModelCardError, `expected a ModelCardError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('the card resolved, but an error was expected');
}

// ---------------------------------------------------------------- parseCard

test('parseCard accepts a full card and broadcasts single numbers for mean, std and pad', () => {
  const card = parseCard(
    {
      name: 'wd-vit-tagger-v3',
      input: { name: 'input', layout: 'NHWC', size: [448, 448], channels: 'BGR', resize: 'letterbox', pad: 255, interpolation: 'bicubic', scale: 1, mean: 0, std: 1 },
      outputs: { score: { name: 'output', kind: 'multilabel', labels: ['a', 'b'], activation: 'none', label: 'a' }, embedding: { name: 'emb' } },
      saliency: { layer: 'blocks.11', tokens: { prefix: 1, grid: [28, 28] } },
    },
    'card.json',
  );
  assert.deepEqual(card.input?.pad, [255, 255, 255]);
  assert.deepEqual(card.input?.std, [1, 1, 1]);
  assert.equal(card.outputs?.score?.label, 'a');
  assert.deepEqual(card.saliency?.tokens, { prefix: 1, grid: [28, 28] });
});

test('parseCard names the field path and the file in every problem', () => {
  const bad: [unknown, RegExp][] = [
    [{ input: { std: [0.2, 0, 0.2] } }, /^card\.json: input\.std\[1\] must be a non-zero number \(got 0\)$/],
    [{ input: { size: [224] } }, /card\.json: input\.size must be \[height, width\], two whole numbers \(got \[224\]\)/],
    [{ input: { size: [224, 0.5] } }, /input\.size\[1\] must be a whole number of pixels/],
    [{ input: { layout: 'CHW' } }, /input\.layout must be one of NCHW, NHWC \(got "CHW"\)/],
    [{ input: { interpolation: 'cubic' } }, /input\.interpolation must be one of nearest, bilinear, bicubic, lanczos3/],
    [{ input: { pad: [255, 255, 256] } }, /input\.pad\[2\] must be a whole number 0-255/],
    [{ input: { mean: [0.5, 0.5] } }, /input\.mean must be a list of three numbers/],
    [{ input: { scale: -1 } }, /input\.scale must be a positive number/],
    [{ input: { crop: 1.5 } }, /input\.crop must be a fraction in \(0, 1\]/],
    [{ input: { sise: [1, 1] } }, /unknown field input\.sise; the fields of input are name, layout, size/],
    [{ outputs: { score: { kind: 'ranking' } } }, /outputs\.score\.kind must be one of scalar, classes, ordinal, multilabel/],
    [{ outputs: { score: { labels: ['a', 'b', 'a'] } } }, /outputs\.score\.labels\[2\] repeats "a" \(also at \[0\]\)/],
    [{ outputs: { score: { values: [0, 'one'] } } }, /outputs\.score\.values\[1\] must be a finite number/],
    [{ outputs: { embedding: 'emb' } }, /outputs\.embedding must be an object/],
    [{ saliency: { layer: 'x', tokens: { prefix: -1, grid: [14, 14] } } }, /saliency\.tokens\.prefix must be a whole number/],
    [{ saliency: { tokens: { grid: [14] } } }, /saliency\.tokens\.grid must be \[rows, columns\]/],
    [[1, 2], /card\.json: a card must be a JSON object/],
  ];
  for (const [json, expected] of bad) {
    assert.throws(() => parseCard(json, 'card.json'), (error: Error) => error instanceof ModelCardError && expected.test(error.message), JSON.stringify(json));
  }
});

test('parseCard reports every problem at once', () => {
  assert.throws(
    () => parseCard({ input: { std: 0, layout: 'X' }, outputs: { score: { kind: 'y' } } }, 'c.json'),
    (error: Error) => error instanceof ModelCardError && error.problems.length === 3 && /3 problems/.test(error.message),
  );
});

// ---------------------------------------------------------------- resolveCard: what the model says

test('without preset or card the graph gives name, layout, size and the first output', () => {
  const card = resolveCard({ model: convnext, modelName: 'convnext' });
  assert.equal(card.name, 'convnext');
  assert.equal(card.input.name, 'x');
  assert.equal(card.input.layout, 'NCHW');
  assert.deepEqual(card.input.size, [224, 224]);
  assert.deepEqual(card.outputs.score, { name: 'logits', kind: 'classes', activation: 'softmax' });
  const nhwc = resolveCard({ model: wdTagger, modelName: 'wd' });
  assert.equal(nhwc.input.layout, 'NHWC');
  assert.deepEqual(nhwc.input.size, [448, 448]);
  // Last dim 1 or rank 1: a scalar.
  assert.equal(resolveCard({ model: symbolic, modelName: 's', card: { input: { size: [64, 64] } } }).outputs.score?.kind, 'scalar');
  assert.equal(resolveCard({ model: model([t('x', [1, 3, 8, 8])], [t('y', ['N'])]), modelName: 'r1' }).outputs.score?.kind, 'scalar');
});

test('a model with inputs besides the image is refused (Miru feeds only the image), naming them; the card must name an ambiguous image input', () => {
  const two = model([t('mask', ['N', 8]), t('image', ['N', 3, 32, 32])], [t('y', ['N', 1])]);
  assert.match(problem({ model: two, modelName: 'm' }), /an input besides the image input image: mask \[N,8\]\. Miru feeds only the image.*constants \(initializers\)/);
  assert.match(problem({ model: two, modelName: 'm', card: { input: { name: 'image' } } }), /besides the image input image: mask/);
  const ambiguous = model([t('a', ['N', 3, 32, 32]), t('b', ['N', 3, 32, 32])], [t('y', ['N', 1])]);
  assert.match(problem({ model: ambiguous, modelName: 'm' }), /2 inputs a \[N,3,32,32\], b \[N,3,32,32\] and more than one looks like an image batch; set input\.name/);
});

// ---------------------------------------------------------------- resolveCard: bad cards

test('an input name that is not in the model lists the inputs', () => {
  assert.match(problem({ model: convnext, modelName: 'm', card: { input: { name: 'images' } }, cardSource: 'card.json' }), /input\.name "images" \(from card\.json\) is not an input of the model; its inputs are x \[N,3,224,224\]/);
});

test('a layout contradicting the shape says which layout the model has', () => {
  const message = problem({ model: convnext, modelName: 'm', card: { input: { layout: 'NHWC' } }, cardSource: 'card.json' });
  assert.match(message, /the model's input x has shape \[N,3,224,224\], which is NCHW, but input\.layout is NHWC \(from card\.json\); set input\.layout to NCHW/);
  // The wd-tagger preset on an NCHW model.
  assert.match(problem({ model: deepghs, modelName: 'm', preset: 'wd-tagger' }), /which is NCHW, but input\.layout is NHWC \(from preset wd-tagger\); set input\.layout to NCHW/);
});

test('rank, channel count and element type are checked', () => {
  assert.match(problem({ model: model([t('x', ['N', 3, 224])], [t('y', ['N', 1])]), modelName: 'm' }), /input x has shape \[N,3,224\] \(rank 3\); Miru feeds images as rank-4 batches/);
  assert.match(problem({ model: model([t('x', ['N', 1, 28, 28])], [t('y', ['N', 10])]), modelName: 'm', card: { input: { layout: 'NCHW' } } }), /1 channels at index 1 \(NCHW\); Miru feeds 3-channel colour images/);
  assert.match(problem({ model: model([t('x', ['N', 3, 8, 8], 'uint8')], [t('y', ['N', 1])]), modelName: 'm' }), /element type uint8; Miru feeds float32 images/);
  assert.match(problem({ model: model([t('x', ['N', 'C', 'H', 'W'])], [t('y', ['N', 1])]), modelName: 'm' }), /does not show whether channels come first or last; set input\.layout/);
});

test('a size that contradicts the model\'s fixed size names both, from a card or a preset', () => {
  assert.match(
    problem({ model: convnext, modelName: 'm', card: { input: { size: [256, 256] } }, cardSource: 'card.json' }),
    /input\.size \[256, 256\] \(from card\.json\) does not match the model's input x \[N,3,224,224\], fixed at 224x224 \(height x width\); set input\.size to \[224, 224\]/,
  );
  const small = model([t('input', ['batch', 3, 384, 384])], [t('output', ['batch', 7])]);
  assert.match(problem({ model: small, modelName: 'm', preset: 'deepghs-aesthetic' }), /input\.size \[448, 448\] \(from preset deepghs-aesthetic\) does not match .* fixed at 384x384/);
  // The card fixes it.
  assert.deepEqual(resolveCard({ model: small, modelName: 'm', preset: 'deepghs-aesthetic', card: { input: { size: [384, 384] } } }).input.size, [384, 384]);
  // Symbolic height/width: any size, but one must be given.
  assert.match(problem({ model: symbolic, modelName: 'm' }), /input pixels has shape \[N,3,H,W\], whose height and width are not fixed; set input\.size/);
  assert.deepEqual(resolveCard({ model: symbolic, modelName: 'm', preset: 'imagenet' }).input.size, [224, 224]);
});

test('output names that are not in the model list the outputs', () => {
  assert.match(problem({ model: convnext, modelName: 'm', card: { outputs: { score: { name: 'probs' } } } }), /outputs\.score\.name "probs" \(from card\) is not an output of the model; its outputs are logits \[N,1000\]/);
  assert.match(problem({ model: convnext, modelName: 'm', card: { outputs: { embedding: { name: 'features' } } } }), /outputs\.embedding\.name "features" .* is not an output of the model; its outputs are logits \[N,1000\]/);
});

test('labels, label, values and kind are checked against the score output', () => {
  const src = { model: deepghs, modelName: 'm', cardSource: 'card.json' };
  assert.match(problem({ ...src, card: { outputs: { score: { kind: 'classes', labels: ['a', 'b', 'c'] } } } }), /outputs\.score\.labels has 3 labels but output output has shape \[batch,7\] \(7 values per image\); give exactly 7 labels/);
  assert.match(problem({ ...src, preset: 'deepghs-aesthetic', card: { outputs: { score: { values: [0, 1, 2] } } } }), /outputs\.score\.values has 3 values but the ordinal output output has 7 classes/);
  assert.match(
    problem({ ...src, card: { outputs: { score: { kind: 'classes', labels: ['a', 'b', 'c', 'd', 'e', 'f', 'g'], label: 'z' } } } }),
    /outputs\.score\.label "z" is not one of outputs\.score\.labels \("a", "b", "c", "d", "e", "f", "g"\)/,
  );
  assert.match(problem({ ...src, card: { outputs: { score: { kind: 'classes', label: 'z' } } } }), /outputs\.score\.label "z" needs outputs\.score\.labels/);
  assert.match(problem({ ...src, card: { outputs: { score: { kind: 'scalar' } } } }), /outputs\.score\.kind is scalar but output output has shape \[batch,7\] \(7 values per image\); set outputs\.score\.kind to classes/);
  assert.match(problem({ ...src, model: symbolic, card: { input: { size: [8, 8] }, outputs: { score: { kind: 'ordinal' } } } }), /outputs\.score\.kind is ordinal but output score has shape \[N,1\] \(one value per image\); set outputs\.score\.kind to scalar/);
  assert.match(problem({ ...src, card: { outputs: { score: { kind: 'classes', values: [0, 1, 2, 3, 4, 5, 6] } } } }), /values only applies to ordinal outputs/);
});

test('saliency is checked against the layer shapes the model reports', () => {
  const vit = model([t('x', ['N', 3, 448, 448])], [t('y', ['N', 7])], [
    { name: 'blocks.11', shape: ['N', 785, 768] },
    { name: 'stage4', shape: ['N', 768, 14, 14] },
  ]);
  assert.match(
    problem({ model: vit, modelName: 'm', card: { saliency: { layer: 'blocks.11', tokens: { prefix: 1, grid: [14, 14] } } } }),
    /saliency\.tokens says 1 prefix \+ 14x14 grid = 197 tokens, but layer blocks\.11 has shape \[N,785,768\] \(785 tokens\); 785 = 1 prefix \+ 28x28/,
  );
  assert.match(problem({ model: vit, modelName: 'm', card: { saliency: { layer: 'blocks.11' } } }), /blocks\.11 is a token sequence \[N,785,768\]; set saliency\.tokens .*"grid": \[28, 28\]/);
  assert.match(problem({ model: vit, modelName: 'm', card: { saliency: { layer: 'stage4', tokens: { grid: [14, 14] } } } }), /stage4 is a spatial map \[N,768,14,14\], not a token sequence; remove saliency\.tokens/);
  assert.match(problem({ model: vit, modelName: 'm', card: { saliency: { layer: 'blocks.99' } } }), /saliency\.layer "blocks\.99" .* is not a split point of the model; .*"blocks\.11", "stage4"/);
  const ok = resolveCard({ model: vit, modelName: 'm', card: { saliency: { layer: 'blocks.11', tokens: { prefix: 1, grid: [28, 28] } } } });
  assert.deepEqual(ok.saliency, { layer: 'blocks.11', tokens: { prefix: 1, grid: [28, 28] } });
});

test('an unknown preset and a malformed card are refused before anything else', () => {
  assert.match(problem({ model: convnext, modelName: 'm', preset: 'resnet' as PresetName }), /unknown preset "resnet": choose one of imagenet, clip, wd-tagger, deepghs-aesthetic/);
  assert.match(problem({ model: convnext, modelName: 'm', card: { input: { std: [1, 0, 1] } }, cardSource: 'my.card.json' }), /my\.card\.json: input\.std\[1\] must be a non-zero number/);
});

test('several problems are reported together', () => {
  const error = (() => {
    try {
      resolveCard({ model: convnext, modelName: 'm', card: { input: { size: [8, 8] }, outputs: { score: { name: 'nope' }, embedding: { name: 'nada' } } } });
    } catch (e) {
      return e as ModelCardError;
    }
    return null;
  })();
  assert.ok(error instanceof ModelCardError);
  assert.equal(error.problems.length, 3);
});

// ---------------------------------------------------------------- presets

test('each preset resolves on a model of its family', () => {
  const imagenet = resolveCard({ model: convnext, modelName: 'convnext_tiny', preset: 'imagenet' });
  assert.equal(imagenet.input.resize, 'center-crop');
  assert.equal(imagenet.input.crop, 0.875);
  assert.deepEqual(imagenet.outputs.score, { name: 'logits', kind: 'classes', activation: 'softmax' });

  const clip = resolveCard({ model: clipTower, modelName: 'clip-vit-b32', preset: 'clip' });
  assert.equal(clip.input.name, 'pixel_values');
  assert.equal(clip.input.interpolation, 'bicubic');
  assert.equal(clip.outputs.score, undefined);
  assert.deepEqual(clip.outputs.embedding, { name: 'image_embeds' });
  // Without an image_embeds output: the first output.
  assert.deepEqual(resolveCard({ model: convnext, modelName: 'c', preset: 'clip' }).outputs.embedding, { name: 'logits' });

  const wd = resolveCard({ model: wdTagger, modelName: 'wd-vit-tagger-v3', preset: 'wd-tagger' });
  assert.deepEqual(
    { layout: wd.input.layout, channels: wd.input.channels, resize: wd.input.resize, scale: wd.input.scale, pad: wd.input.pad },
    { layout: 'NHWC', channels: 'BGR', resize: 'letterbox', scale: 1, pad: [255, 255, 255] },
  );
  assert.deepEqual(wd.outputs.score, { name: 'predictions_sigmoid', kind: 'multilabel', activation: 'none' });

  const aesthetic = resolveCard({ model: deepghs, modelName: 'swinv2pv3_v0_448_ls0.2_x', preset: 'deepghs-aesthetic' });
  assert.deepEqual(aesthetic.outputs.score, {
    name: 'output',
    kind: 'ordinal',
    labels: ['worst', 'low', 'normal', 'good', 'great', 'best', 'masterpiece'],
    values: [0, 1, 2, 3, 4, 5, 6],
    activation: 'none',
  });
  assert.deepEqual(aesthetic.input.mean, [0.5, 0.5, 0.5]);
  assert.equal(aesthetic.input.resize, 'stretch');
});

test('the presets match the cards makeReference.py typed independently from the upstream code', () => {
  const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/preprocess/reference.json'), 'utf8')) as {
    cases: { preset: string | null; card: { input: Record<string, unknown> } }[];
  };
  const anySize = model([t('x', ['N', 3, 'H', 'W'])], [t('y', ['N', 7])]);
  const anySizeNhwc = model([t('x', ['N', 'H', 'W', 3])], [t('y', ['N', 7])]);
  for (const name of PRESET_NAMES) {
    const reference = manifest.cases.find((c) => c.preset === name)!.card.input;
    const resolved = resolveCard({ model: name === 'wd-tagger' ? anySizeNhwc : anySize, modelName: 'm', preset: name, card: { input: { size: reference.size } } });
    const { name: _inputName, ...input } = resolved.input;
    assert.deepEqual(input, { crop: 1, ...reference }, name);
  }
});

test('a card overrides any preset field and merges into input and outputs', () => {
  const card = resolveCard({
    model: wdTagger,
    modelName: 'wd',
    preset: 'wd-tagger',
    card: { name: 'wd-eva02', input: { interpolation: 'lanczos3' }, outputs: { score: { labels: Array.from({ length: 10861 }, (_, i) => `tag${i}`), label: 'tag5' } } },
  });
  assert.equal(card.name, 'wd-eva02');
  assert.equal(card.input.interpolation, 'lanczos3');
  assert.equal(card.input.channels, 'BGR'); // kept from the preset
  assert.equal(card.outputs.score?.kind, 'multilabel');
  assert.equal(card.outputs.score?.activation, 'none');
  assert.equal(card.outputs.score?.label, 'tag5');
  // null removes what a preset set.
  const noScore = resolveCard({ model: deepghs, modelName: 'm', preset: 'deepghs-aesthetic', card: { outputs: { score: { labels: null, values: null, kind: 'classes', activation: null } } } });
  assert.deepEqual(noScore.outputs.score, { name: 'output', kind: 'classes', activation: 'softmax' });
  const embeddingOnly = resolveCard({ model: clipTower, modelName: 'm', preset: 'clip', card: { outputs: { embedding: null, score: { name: 'image_embeds', kind: 'multilabel' } } } });
  assert.equal(embeddingOnly.outputs.embedding, undefined);
  assert.equal(embeddingOnly.outputs.score?.name, 'image_embeds');
});

test('a preset\'s crop fraction does not linger in a card that switched to another resize mode', () => {
  assert.equal(resolveCard({ model: symbolic, modelName: 'm', preset: 'imagenet' }).input.crop, 0.875);
  assert.equal(resolveCard({ model: symbolic, modelName: 'm', preset: 'imagenet', card: { input: { resize: 'stretch' } } }).input.crop, 1);
});
