import { LocalrecError } from '../core/errors.ts';
import { evaluateRanking } from '../core/metrics.ts';
import type { Dataset, SplitData, SplitMetrics } from '../core/types.ts';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { quantizeSasrecWeights } from '../../models/sasrec/export-onnx.ts';
import { arraysToWeights } from '../../models/sasrec/model.ts';
import { makeScorer } from '../../models/sasrec/train.ts';
import { usersByTrainLength } from '../../models/training/examples.ts';
import type { WeightArrays } from '../../models/weights.ts';
import * as tf from '@tensorflow/tfjs';
import { splitDataset } from './data.ts';
import { initTf } from './tf-node.ts';

export type EvalQuantization = 'fp32' | 'int8' | 'int4';

export interface EvalResult {
  valid: SplitMetrics;
  test: SplitMetrics;
}

/** Rebuilds the split a checkpoint was trained on and checks its item table matches. */
export function splitForCheckpoint(ds: Dataset, itemIds: string[]): SplitData {
  const split = splitDataset(ds);
  if (split.itemIds.length !== itemIds.length || split.itemIds.some((id, i) => id !== itemIds[i])) {
    throw new LocalrecError(
      'bad-input',
      `the data gives ${split.numItems} items in a different order than the checkpoint's ${itemIds.length - 1}; ` +
        'evaluate on the same data the model was trained on',
    );
  }
  return split;
}

/**
 * Full-ranking and sampled-100 metrics on validation and test, for the fp32 weights or for
 * exactly the dequantized weights the int8/int4 export ships (same math as the ONNX encoder
 * plus the int8 shard; the parity tests hold the two together).
 */
export async function evaluateSasrec(
  config: SasrecConfig,
  weights: WeightArrays,
  split: SplitData,
  quantization: EvalQuantization,
): Promise<EvalResult> {
  await initTf();
  const arrays =
    quantization === 'fp32'
      ? weights
      : quantizeSasrecWeights(config, weights, quantization).dequantized;
  const w = arraysToWeights(config, arrays);
  try {
    const users = usersByTrainLength(split);
    const scorer = makeScorer(config, w);
    const valid = await evaluateRanking(split, 'valid', scorer, { users });
    const test = await evaluateRanking(split, 'test', scorer, { users });
    return { valid, test };
  } finally {
    tf.dispose(Object.values(w));
  }
}
