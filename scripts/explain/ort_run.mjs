// Runs an ONNX model in onnxruntime-node (CPU) for make_reference.py, which cannot import onnxruntime itself
// (Debian's python has no onnxruntime; onnx 1.12 has no reference evaluator).
//
//   node scripts/explain/ort_run.mjs REQUEST.json
//
// REQUEST: {"model": path, "inputs": {name: {"file": path of raw float32 LE, "dims": [..]}}, "outputs": [names],
//           "outDir": path, "optimize": true|false}
// Writes outDir/out<i>.bin (raw little-endian float32; other element types are skipped) and outDir/outputs.json:
// {"ort": version, "outputs": [{"name", "dims", "type", "file"}]}.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';

const request = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const feeds = {};
for (const [name, input] of Object.entries(request.inputs)) {
  const buf = readFileSync(input.file);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  feeds[name] = new ort.Tensor('float32', data, input.dims);
}
const session = await ort.InferenceSession.create(request.model, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: request.optimize ? 'all' : 'disabled',
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
const result = await session.run(feeds, request.outputs);
const outputs = [];
request.outputs.forEach((name, i) => {
  const tensor = result[name];
  if (tensor.type !== 'float32') {
    outputs.push({ name, dims: tensor.dims, type: tensor.type, file: null });
    return;
  }
  const file = join(request.outDir, `out${i}.bin`);
  writeFileSync(file, Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
  outputs.push({ name, dims: tensor.dims, type: tensor.type, file });
});
writeFileSync(join(request.outDir, 'outputs.json'),
  JSON.stringify({ ort: ort.env.versions?.common ?? '', outputs }));
