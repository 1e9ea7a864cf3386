import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { loadDataset } from '../data.ts';
import { evaluateSasrec, type EvalResult } from '../evaluate.ts';
import { evaluateShipped } from '../evaluate-export.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import type { Command } from '../command.ts';
import { readSasrecCheckpoint } from '../model-dir.ts';
import { runTrain } from '../train.ts';
import { parseTrainFlags, trainOptions } from './train.ts';

/** Where the shared MovieLens 100K copy sits beside the repo (research licence: never copied in). */
export const SHARED_ML100K = resolve(PACKAGE_ROOT, '../shared/data/ml-100k');

export const benchAccuracyCommand: Command = {
  summary:
    'train the default SASRec on MovieLens 100K, evaluate the shipped int8 export (full ranking + sampled-100) with the in-memory fp32/int8 twins beside it, report sizes',
  usage: 'npm run bench:accuracy [-- --data <ml-100k folder>] [training options]',
  options: {
    data: { type: 'string', description: `MovieLens 100K folder (default ${SHARED_ML100K})` },
    out: { type: 'string', default: '.localrec/bench/ml-100k', description: 'model folder' },
    ...trainOptions,
    'max-minutes': {
      type: 'string',
      description:
        "the training's budget in minutes (default 28, so that the run with its evaluation stays within 30; 0 = no limit), validation included; the tuned ML-100K config, not localrec train's data-sized choices",
    },
  },
  async run(v) {
    const data = typeof v['data'] === 'string' ? v['data'] : SHARED_ML100K;
    if (!existsSync(join(data, 'u.data'))) {
      throw new LocalrecError(
        'not-found',
        `MovieLens 100K not found at ${data} (expected u.data); pass --data <folder>`,
      );
    }
    const out = String(v['out']);
    const ds = { ...loadDataset(data), name: 'ml-100k' };
    const flags = parseTrainFlags(v);
    // The default run must finish within 30 minutes on a 2-core machine: cap training at 28.
    flags.train.maxSeconds ??= 28 * 60;
    const { summary, split } = await runTrain(ds, { ...flags, out, dataSource: data });
    const ck = readSasrecCheckpoint(out);
    // The headline: the int8 export as a browser gets it (ONNX encoder + decoded shards).
    process.stderr.write('exporting int8 and scoring what ships on validation and test…\n');
    const shipped = await evaluateShipped(out, split, 'int8', { shardItems: 50_000 });
    process.stderr.write('evaluating the in-memory fp32 and int8 twins…\n');
    const fp32 = await evaluateSasrec(ck.config, ck.weights, split, 'fp32');
    const int8 = await evaluateSasrec(ck.config, ck.weights, split, 'int8');
    return {
      dataset: 'ml-100k',
      trainSeconds: summary.trainSeconds,
      epochs: summary.epochs,
      bestEpoch: summary.bestEpoch,
      parameters: summary.parameters,
      positionsPerSec: summary.positionsPerSec,
      // An ensemble's members: seed, epochs, best epoch, why each stopped, validation NDCG@10.
      ...(summary.members && { members: summary.members }),
      workers: summary.workers,
      config: ck.config,
      // Trained with catalog features folded into item_emb (models/sasrec/item-features.ts).
      itemFeatures: ck.meta['itemFeatures'] ?? null,
      // What ships: int8 ONNX encoder through onnxruntime-web, item rows from the decoded
      // shards; ranks count ties as half.
      shipped: { quantization: shipped.quantization, ...strip(shipped) },
      // Test NDCG@10 (full) of what ships relative to the in-memory fp32 model.
      shippedRelativeNdcgChange: relative(shipped, fp32),
      // Beside it only: the tfjs twins (fp32 weights, and the dequantized int8 weights).
      inMemory: { fp32: strip(fp32), int8: strip(int8) },
      inMemoryInt8RelativeNdcgChange: relative(int8, fp32),
      bytes: { encoderOnnx: shipped.bytes.encoderOnnx, itemShard: shipped.bytes.itemShards },
    };
  },
};

function strip(r: EvalResult) {
  return {
    valid: { full: pick(r.valid.full), s100: pick(r.valid.s100) },
    test: { full: pick(r.test.full), s100: pick(r.test.s100) },
  };
}

function relative(r: EvalResult, fp32: EvalResult): number {
  return round((r.test.full.ndcg10 - fp32.test.full.ndcg10) / fp32.test.full.ndcg10);
}

function pick(m: { hr10: number; ndcg10: number }) {
  return { hr10: round(m.hr10), ndcg10: round(m.ndcg10) };
}
function round(x: number) {
  return Math.round(x * 1e5) / 1e5;
}
