import type { Rng } from '../../src/core/random.ts';
import type { Example } from './examples.ts';

/**
 * Batches of similar length (to cut padding): shuffle, then sort inside pools of 8 batches
 * by length, then shuffle the batch order.
 */
export function lengthBatches(examples: Example[], batchSize: number, rng: Rng): Example[][] {
  const idx = rng.shuffle(Array.from(examples.keys())) as number[];
  const pool = batchSize * 8;
  const batches: Example[][] = [];
  for (let p = 0; p < idx.length; p += pool) {
    const chunk = idx
      .slice(p, p + pool)
      .sort((a, b) => examples[a]!.input.length - examples[b]!.input.length);
    for (let b = 0; b < chunk.length; b += batchSize)
      batches.push(chunk.slice(b, b + batchSize).map((i) => examples[i]!));
  }
  return rng.shuffle(batches) as Example[][];
}
