import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { Feeds, HostMessage, TensorPayload, WorkerMessage } from './inferenceMessages.js';
import { isOutOfMemory } from './inferenceMessages.js';
import type { ProviderName } from './executionProviders.js';

// One ONNX Runtime session per worker thread: session.run is a blocking native call, so it must never run on
// the host's main thread (the UI and the database live there).

if (!parentPort) throw new Error('inferenceWorker.js runs only as a worker thread.');
const port = parentPort;
let session: ort.InferenceSession | null = null;

const send = (message: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

port.on('message', (message: HostMessage) => {
  if (message.type === 'init') void init(message.model, message.providers, message.threads);
  else if (message.type === 'run') void run(message.id, message.feeds, message.outputs);
});

async function init(model: string | Uint8Array, providers: ProviderName[], threads: number): Promise<void> {
  const fallbacks: { provider: ProviderName; error: string }[] = [];
  for (const provider of providers) {
    try {
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: [provider],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // Idle intra-op threads sleep instead of spinning: the decode pipeline (libvips) needs those cores while a
        // batch is being prepared, and spinning threads took them (bench:score: +10-17% end-to-end on 2 cores).
        extra: { session: { intra_op: { allow_spinning: '0' } } },
        // Failed provider probes are reported to the user as values; keep ONNX Runtime's own log quiet.
        logSeverityLevel: 3,
      };
      session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
      send({ type: 'ready', provider, fallbacks, inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
      return;
    } catch (error) {
      fallbacks.push({ provider, error: firstLine(error) });
    }
  }
  send({ type: 'init-failed', fallbacks });
}

async function run(id: number, feeds: Feeds, outputs?: string[]): Promise<void> {
  if (!session) {
    send({ type: 'error', id, message: 'the inference session is not ready', outOfMemory: false });
    return;
  }
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.type, t.data as Float32Array, t.dims);
    const result = outputs ? await session.run(inputs, outputs) : await session.run(inputs);
    const payload: Feeds = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, tensor] of Object.entries(result)) {
      const data = tensor.data as TensorPayload['data'];
      payload[name] = { type: tensor.type as TensorPayload['type'], data, dims: [...tensor.dims] };
      if (data.buffer instanceof ArrayBuffer && !transfer.includes(data.buffer)) transfer.push(data.buffer);
    }
    send({ type: 'result', id, outputs: payload }, transfer);
  } catch (error) {
    const message = firstLine(error);
    send({ type: 'error', id, message, outOfMemory: isOutOfMemory(message) });
  }
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!.trim();
}
