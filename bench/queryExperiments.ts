import type { Combination } from './queryCombos.js';

export async function runQueryExperiments(dbPath: string, combos: Combination[], depth: number, samples: number): Promise<void> {
  void dbPath; void combos; void depth; void samples;
}
