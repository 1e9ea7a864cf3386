import type { SplitData } from '../../core/types.ts';
import type { TwoTowerConfig, TwoTowerTrainConfig } from '../../../models/two-tower/config.ts';
import type { ItemFeatures } from '../../../models/training/item-features.ts';
import type { TwoTowerWeights } from '../../../models/two-tower/model.ts';
import { trainTwoTower, type TwoTowerTrainResult } from '../../../models/two-tower/train.ts';
import { bar, duration, type ProgressLine } from '../progress.ts';

/** Trains one model with progress lines on stderr (prefixed with `label`). */
export async function trainWithProgress(
  label: string,
  c: TwoTowerConfig,
  split: SplitData,
  f: ItemFeatures,
  tc: TwoTowerTrainConfig,
  progress: ProgressLine,
  opts: { validUsers?: number[]; onCheckpoint?: (w: TwoTowerWeights, epoch: number) => void },
): Promise<TwoTowerTrainResult> {
  return trainTwoTower(
    c,
    split,
    f,
    tc,
    {
      onProgress: (p) =>
        progress.update(
          `${label}epoch ${p.epoch}/${p.epochs} ${bar(p.step / p.stepsPerEpoch)} loss ${p.loss.toFixed(4)} ` +
            `${Math.round(p.examplesPerSec)} examples/s  epoch ETA ${duration(p.epochEtaSec)}  elapsed ${duration(p.elapsedSec)}`,
        ),
      onEpoch: (r) =>
        progress.log(
          `${label}epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(1)} s, ${Math.round(r.examplesPerSec)} examples/s` +
            (r.valid
              ? `  valid Recall@100 ${r.valid.recall100.toFixed(4)} NDCG@10 ${r.valid.ndcg10.toFixed(4)}`
              : '') +
            (r.best ? '  (best)' : '') +
            (r.learningRate !== undefined
              ? `  (learning rate now ${r.learningRate.toExponential(1)})`
              : ''),
        ),
      onCheckpoint: (w, r) => opts.onCheckpoint?.(w, r.epoch),
    },
    { validUsers: opts.validUsers },
  );
}
