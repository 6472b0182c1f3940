/**
 * Runs `work` over items with at most `concurrency` calls in flight, in order of start. Used where work is
 * mostly native (sharp on libuv's pool), so a few in-flight promises keep every core busy without holding
 * every decoded image in memory at once.
 */
export async function mapConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length) {
      signal?.throwIfAborted();
      const index = next++;
      await work(items[index]!, index);
    }
  });
  await Promise.all(lanes);
}
