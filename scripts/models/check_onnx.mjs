// Runs an exported bundled model in onnxruntime-node and compares its outputs with the reference outputs that
// train_bundled_models.py saved from torch (issue 3). Exit 0 and one summary line when every output matches within
// the reference's tolerance; exit 1 naming the output and the worst element otherwise.
//
//   node scripts/models/check_onnx.mjs assets/models/miru-vit-s.onnx assets/models/miru-vit-s.reference.json
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [modelPath, referencePath] = process.argv.slice(2);
if (!modelPath || !referencePath) {
  console.error('usage: node check_onnx.mjs <model.onnx> <reference.json>');
  process.exit(2);
}
const ref = JSON.parse(readFileSync(referencePath, 'utf8'));
const [n, c, h, w] = ref.input.shape;
const pixels = Buffer.from(ref.input.pixelsNHWCUint8Base64, 'base64');
if (pixels.length !== n * h * w * c) throw new Error(`${referencePath}: pixel data has ${pixels.length} bytes, want ${n * h * w * c}`);

// Same arithmetic as the python side: float32 (p / 255 - 0.5) / 0.5, NHWC -> NCHW.
const data = new Float32Array(n * c * h * w);
for (let b = 0; b < n; b++)
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        const p = pixels[((b * h + y) * w + x) * c + k];
        data[((b * c + k) * h + y) * w + x] = Math.fround((Math.fround(p / 255) - 0.5) / 0.5);
      }

const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
const names = Object.keys(ref.outputs);
const result = await session.run({ [ref.input.name]: new ort.Tensor('float32', data, ref.input.shape) }, names);
const tolerance = ref.tolerance ?? 1e-4;
const parts = [];
let ok = true;
for (const name of names) {
  const expected = ref.outputs[name].flat(Infinity);
  const got = result[name];
  if (!got) {
    console.error(`${modelPath}: output "${name}" missing`);
    process.exit(1);
  }
  if (got.data.length !== expected.length) {
    console.error(`${modelPath}: output "${name}" has ${got.data.length} values, want ${expected.length}`);
    process.exit(1);
  }
  let worst = 0;
  let at = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(got.data[i] - expected[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (!(worst <= tolerance)) {
    ok = false;
    console.error(`${modelPath}: output "${name}" differs by ${worst} at ${at} (tolerance ${tolerance})`);
  }
  parts.push(`${name} [${got.dims.join(',')}] max |diff| ${worst.toExponential(2)}`);
}
console.log(`onnxruntime-node ${ort.env.versions?.common ?? ''} batch ${n}: ${parts.join('; ')}${ok ? ' (ok)' : ''}`);
process.exit(ok ? 0 : 1);
