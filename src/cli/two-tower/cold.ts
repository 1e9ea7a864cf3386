import * as tf from '@tensorflow/tfjs';
import type { Dataset, SplitData } from '../../core/types.ts';
import { coldItemRecall, pickColdItems, removeItems } from '../../../models/two-tower/cold.ts';
import type { TwoTowerConfig, TwoTowerTrainConfig } from '../../../models/two-tower/config.ts';
import { buildItemFeatures } from '../../../models/training/item-features.ts';
import { makeTwoTowerScorer } from '../../../models/two-tower/train.ts';
import { usersByTrainLength } from '../../../models/training/examples.ts';
import type { ProgressLine } from '../progress.ts';
import type { TwoTowerFlags } from './flags.ts';
import { r5, roundCold } from './rounding.ts';
import { trainWithProgress } from './train.ts';

/**
 * The cold-item test (models/two-tower/cold.ts): a second model trained without
 * `flags.coldShare` of the items, then asked to place them from their features alone.
 */
export async function coldItemTest(
  ds: Dataset,
  split: SplitData,
  c: TwoTowerConfig,
  tc: TwoTowerTrainConfig,
  flags: TwoTowerFlags,
  progress: ProgressLine,
) {
  const flagsCold = pickColdItems(split.numItems, flags.coldShare, tc.seed);
  const coldSplit = removeItems(split, flagsCold);
  const coldFeatures = buildItemFeatures(coldSplit, ds.items, flags.features);
  // The cold model picks its epoch on validation users whose target is not cold.
  const validUsers = usersByTrainLength(coldSplit).filter((u) => {
    const t = coldSplit.users[u]!.valid;
    return t !== 0 && flagsCold[t] !== 1;
  });
  const nCold = flagsCold.reduce((a, x) => a + x, 0);
  progress.log(
    `cold-item test: training a second model without ${nCold} items (${flags.coldShare * 100}%)…`,
  );
  const cm = await trainWithProgress('cold model: ', c, coldSplit, coldFeatures, tc, progress, {
    validUsers,
  });
  const s = makeTwoTowerScorer(c, cm.weights, coldFeatures, { split: coldSplit });
  try {
    return {
      share: flags.coldShare,
      items: nCold,
      bestEpoch: cm.bestEpoch,
      trainSeconds: r5(cm.trainSeconds),
      valid: roundCold(await coldItemRecall(split, coldSplit, flagsCold, 'valid', s.score)),
      test: roundCold(await coldItemRecall(split, coldSplit, flagsCold, 'test', s.score)),
    };
  } finally {
    s.dispose();
    tf.dispose(Object.values(cm.weights));
  }
}
