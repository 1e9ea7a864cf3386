/**
 * The cold-item test: how well does the item tower place items it never saw in training,
 * from their content features alone?
 *
 * Definition (every number the CLI reports under `cold` follows it):
 * 1. Cold items: round(share · numItems) internal items drawn uniformly without replacement
 *    from 1..numItems with a seeded Rng ({@link pickColdItems}).
 * 2. Cold split ({@link removeItems}): every user's training sequence with the cold items'
 *    events deleted; validation and test items are left as they are. A model trained on it
 *    never sees a cold item: no trained id embedding (features.known = 0), popularity bucket
 *    0 (no events), never in a training history nor a target.
 * 3. Cold users of a stage: users whose validation (resp. test) target is a cold item.
 * 4. For each of them, full ranking as in BENCHMARKS.md: every catalog item is scored from the
 *    user's input in the cold split (training sequence, plus the validation item for test),
 *    items of that input are excluded except the target, rank = items scoring strictly
 *    higher. Recall@100 = share of cold users with rank < 100.
 * 5. Baselines, same users, same input, same exclusions, same rank rule:
 *    - random: the exact expectation under uniformly random scores: mean over users of
 *      min(1, 100 / M_u), M_u = items left after the exclusions (target included);
 *    - popularity: score = events in the cold split's training sequences. A cold item has
 *      none, so it ranks below every item with events — what a most-popular list does for new
 *      items (≈ 0, by construction);
 *    - popularity oracle: score = events in the full split's training sequences, i.e. the cold
 *      items' real counts, which a new item does not have: how far knowing an item's
 *      popularity would go. Not a fair competitor, a yardstick.
 */
import { fullRanks, retrievalMetrics, type BatchScorer } from '../../src/core/metrics.ts';
import { LocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import { stageInput, stageTarget } from '../../src/core/split.ts';
import type { SplitData, UserSplit } from '../../src/core/types.ts';
import { trainCounts } from '../training/item-features.ts';

/** round(share · numItems) distinct items of 1..numItems, seeded; as flags (numItems+1). */
export function pickColdItems(numItems: number, share: number, seed: number): Uint8Array {
  if (!(share >= 0 && share < 1))
    throw new LocalrecError('bad-input', `cold-item share must be in [0, 1), got ${share}`);
  const order = Int32Array.from({ length: numItems }, (_, k) => k + 1);
  new Rng(seed).shuffle(order);
  const cold = new Uint8Array(numItems + 1);
  const n = Math.round(share * numItems);
  for (let k = 0; k < n; k++) cold[order[k]!] = 1;
  return cold;
}

/**
 * The split with `cold` items removed from every training sequence (valid/test unchanged).
 * Timestamps and types, when kept, lose the same events; tie runs are dropped (they index the
 * old sequence).
 */
export function removeItems(split: SplitData, cold: Uint8Array): SplitData {
  return {
    ...split,
    users: split.users.map((u) => {
      const keep = (k: number) => k >= u.train.length || cold[u.train[k]!] !== 1;
      const out: UserSplit = { ...u, train: u.train.filter((i) => cold[i] !== 1) };
      delete out.trainTies;
      if (u.times) out.times = u.times.filter((_, k) => keep(k));
      if (u.types) out.types = u.types.filter((_, k) => keep(k));
      return out;
    }),
  };
}

/** Indices of users whose `stage` target is flagged in `items`. */
export function usersWithTargetIn(
  split: SplitData,
  stage: 'valid' | 'test',
  items: Uint8Array,
): number[] {
  const out: number[] = [];
  split.users.forEach((u, i) => {
    const t = stageTarget(u, stage);
    if (t !== 0 && items[t] === 1) out.push(i);
  });
  return out;
}

/**
 * Expected Recall@k of uniformly random scores over `users` (those with a target): a random
 * order puts the target at each of its M_u possible ranks with equal chance, so
 * P(rank < k) = min(1, k / M_u), M_u = numItems − |distinct input items ≠ target|.
 */
export function randomRecall(
  split: SplitData,
  stage: 'valid' | 'test',
  users: number[],
  k = 100,
): number {
  let sum = 0;
  let n = 0;
  for (const u of users) {
    const us = split.users[u]!;
    const target = stageTarget(us, stage);
    if (target === 0) continue;
    const excluded = new Set<number>();
    for (const i of stageInput(us, stage))
      if (i >= 1 && i <= split.numItems && i !== target) excluded.add(i);
    sum += Math.min(1, k / (split.numItems - excluded.size));
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

/** A scorer that gives every user the same scores (e.g. training counts: popularity). */
export function fixedScorer(scores: Float32Array): BatchScorer {
  return (inputs) => inputs.map(() => scores);
}

/** Recall@100 on one stage's cold users: the model and the three baselines of the module comment. */
export interface ColdStageResult {
  /** Users whose target is a cold item. */
  users: number;
  model: number;
  random: number;
  popularity: number;
  popularityOracle: number;
}

/**
 * The cold-item test of one stage (module comment, steps 3–5). `model` scores inputs of the
 * cold split (a model trained on `coldSplit`); `fullSplit` only supplies the oracle's counts.
 */
export async function coldItemRecall(
  fullSplit: SplitData,
  coldSplit: SplitData,
  cold: Uint8Array,
  stage: 'valid' | 'test',
  model: BatchScorer,
): Promise<ColdStageResult> {
  const users = usersWithTargetIn(coldSplit, stage, cold);
  const recall = async (s: BatchScorer) =>
    retrievalMetrics((await fullRanks(coldSplit, stage, s, { users })).ranks).recall100;
  return {
    users: users.length,
    model: await recall(model),
    random: randomRecall(coldSplit, stage, users),
    popularity: await recall(fixedScorer(trainCounts(coldSplit))),
    popularityOracle: await recall(fixedScorer(trainCounts(fullSplit))),
  };
}
