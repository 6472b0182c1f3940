/**
 * The ProbeRunner buildGradientModel measures tensors with: one run of the model in a worker thread (never
 * session.run on the host's main thread), on the CPU provider, which can output any intermediate tensor.
 */
import { InferencePool } from '../models/inferencePool.js';
import type { ProbeRunner } from './gradientGraph.js';

export const probeInWorker: ProbeRunner = async (model, feeds, outputs) => {
  const pool = await InferencePool.create(model, { ep: 'cpu' });
  try {
    return await pool.run(feeds, outputs);
  } finally {
    await pool.close();
  }
};
