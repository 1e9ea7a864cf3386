/**
 * Training examples from a split's training sequences, shared by the SASRec and two-tower
 * trainers: next-item pairs (input = train[:-1], target = train[1:]) per user.
 */
import type { Rng } from '../../src/core/random.ts';
import type { SplitData } from '../../src/core/types.ts';

/** One user's training pairs, aligned position by position. */
export interface Example {
  input: Int32Array;
  target: Int32Array;
  /** The user (index into `split.users`) and where `input` starts in its training sequence. */
  user: number;
  start: number;
  /**
   * With a future window W > 1: for each input position, the items 2..W steps after it in the
   * training sequence (W-1 per position, 0 past its end).
   */
  future?: Int32Array;
}

/**
 * One example per user: input = train[:-1], target = train[1:], the last maxLen of each.
 * With `cropRate` > 0, that share of users (drawn afresh each epoch) instead trains on a
 * random prefix of its sequence, so no user's items sit at the same positions every epoch:
 * without it the model memorises each user's own context, which helps validation (whose
 * inputs were all trained on) but not test (whose last input never was).
 */
export function buildExamples(
  split: SplitData,
  maxLen: number,
  cropRate = 0,
  rng?: Rng,
  maskRate = 0,
  tieShuffle = 0,
  futureWindow = 1,
): Example[] {
  const out: Example[] = [];
  for (const [user, u] of split.users.entries()) {
    let s = u.train;
    if (s.length < 2) continue;
    if (tieShuffle > 0 && rng && u.trainTies && rng.next() < tieShuffle) {
      s = s.slice();
      const ties = u.trainTies;
      for (let i = 0; i < s.length; i++) {
        const run = ties[i]!;
        if (run > 1) rng.shuffle(s.subarray(i, i + run));
      }
    }
    // end in [2, length]: keep at least one input/target pair.
    const end = cropRate > 0 && rng && rng.next() < cropRate ? 2 + rng.int(s.length - 1) : s.length;
    const start = Math.max(0, end - 1 - maxLen);
    let input = s.subarray(start, end - 1);
    let target = s.subarray(start + 1, end);
    if (maskRate > 0 && rng) {
      // Item masking: drop inputs (as padding) and their targets; never the last input.
      input = input.slice();
      target = target.slice();
      for (let i = 0; i < input.length - 1; i++) {
        if (rng.next() < maskRate) input[i] = target[i] = 0;
      }
    }
    const ex: Example = { input, target, user, start };
    if (futureWindow > 1) {
      const k = futureWindow - 1;
      const future = new Int32Array(input.length * k);
      for (let i = 0; i < input.length; i++)
        for (let j = 0; j < k; j++) {
          const at = start + i + 2 + j;
          if (at < s.length) future[i * k + j] = s[at]!;
        }
      ex.future = future;
    }
    out.push(ex);
  }
  return out;
}

/** User indices in training-length order: evaluating in this order keeps each scoring batch's padding small. */
export function usersByTrainLength(split: SplitData): number[] {
  return Array.from(split.users.keys()).sort(
    (a, b) => split.users[a]!.train.length - split.users[b]!.train.length,
  );
}
