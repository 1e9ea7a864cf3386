import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { loadDataset } from '../data.ts';
import { evaluateSasrec } from '../evaluate.ts';
import { exportModelDir } from '../export.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import type { Command } from '../command.ts';
import { readSasrecCheckpoint } from '../model-dir.ts';
import { runTrain } from '../train.ts';
import { parseTrainFlags, trainOptions } from './train.ts';

/** Where the shared MovieLens 100K copy sits beside the repo (research licence: never copied in). */
export const SHARED_ML100K = resolve(PACKAGE_ROOT, '../shared/data/ml-100k');

export const benchAccuracyCommand: Command = {
  summary:
    'train the default SASRec on MovieLens 100K, evaluate fp32 and int8 (full ranking + sampled-100), report sizes',
  usage: 'npm run bench:accuracy [-- --data <ml-100k folder>] [training options]',
  options: {
    data: { type: 'string', description: `MovieLens 100K folder (default ${SHARED_ML100K})` },
    out: { type: 'string', default: '.localrec/bench/ml-100k', description: 'model folder' },
    ...trainOptions,
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
    process.stderr.write('evaluating fp32 and int8 on validation and test…\n');
    const fp32 = await evaluateSasrec(ck.config, ck.weights, split, 'fp32');
    const int8 = await evaluateSasrec(ck.config, ck.weights, split, 'int8');
    const exp = exportModelDir({ modelDir: out, quantization: 'int8', shardItems: 50_000 });
    const strip = (r: typeof fp32) => ({
      valid: { full: pick(r.valid.full), s100: pick(r.valid.s100) },
      test: { full: pick(r.test.full), s100: pick(r.test.s100) },
    });
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
      fp32: strip(fp32),
      int8: strip(int8),
      int8RelativeNdcgChange:
        (int8.test.full.ndcg10 - fp32.test.full.ndcg10) / fp32.test.full.ndcg10,
      bytes: { encoderOnnx: exp.bytes.encoderOnnx, itemShard: exp.bytes.itemShards },
    };
  },
};

function pick(m: { hr10: number; ndcg10: number }) {
  return { hr10: round(m.hr10), ndcg10: round(m.ndcg10) };
}
function round(x: number) {
  return Math.round(x * 1e5) / 1e5;
}
