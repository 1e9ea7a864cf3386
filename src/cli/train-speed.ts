/**
 * How fast this machine trains a configuration: a few real steps of `trainSasrec` (the first
 * one untimed — it compiles and allocates), timed as positions per second, then stopped. What
 * `localrec train`'s data-sized defaults (./train-plan.ts) fit the time budget with.
 */
import type { SasrecConfig, TrainConfig } from '../../models/sasrec/config.ts';
import type { ItemFeatureMatrix } from '../../models/sasrec/item-features.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';
import type { SplitData } from '../core/types.ts';

/** Thrown from the progress hook to end the probe's training. */
class EnoughSteps extends Error {}

/** Measures positions/s over up to `steps` steps after one warm-up step, or `seconds` of them. */
export async function measureTrainingSpeed(
  c: SasrecConfig,
  split: SplitData,
  tc: TrainConfig,
  features: ItemFeatureMatrix | undefined,
  limits: { steps: number; seconds: number } = { steps: 6, seconds: 8 },
): Promise<number> {
  let prevCount = 0;
  let last = 0;
  let timedSeconds = 0;
  let timedPositions = 0;
  let timedSteps = 0;
  const onProgress = (p: { step: number; count: number }) => {
    const now = performance.now();
    // The first step of an epoch is not timed: it includes building the epoch's batches (and in
    // the first epoch, compiling), and the time before it the previous epoch's validation.
    if (p.step > 1) {
      timedPositions += p.count - prevCount;
      timedSeconds += (now - last) / 1000;
      timedSteps++;
    }
    prevCount = p.count;
    last = now;
    if (timedSteps >= limits.steps || timedSeconds >= limits.seconds) throw new EnoughSteps();
  };
  try {
    await trainSasrec(c, split, { ...tc, maxSeconds: 0, epochs: 1000 }, { onProgress }, features);
  } catch (e) {
    if (!(e instanceof EnoughSteps)) throw e;
  }
  return timedSeconds > 0 ? timedPositions / timedSeconds : Infinity;
}
