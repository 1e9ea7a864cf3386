/**
 * A fixed-seed short training run whose output says whether a change moved the model's results
 * (issue #14: speed-ups must not): on the catalog and `localrec train` flags of
 * scripts/bench-train.mjs (src/cli/train.ts prepareTraining, the CLI's defaults: ML-100K, full
 * softmax, item features, workers = min(4, cores)), `--epochs` epochs (default 2) validated after
 * each, one member. Prints each epoch's mean loss and validation NDCG@10 at full precision, the
 * sum and absolute sum of the returned (best, baked) weights, and a SHA-256 of their bytes in
 * name order: equal hashes before and after a change mean bit-identical training.
 * Usage: npx tsx scripts/train-fingerprint.ts [--catalog=ml-100k|synthetic-25k] [--epochs=2]
 *        [--data=<ml-100k folder>] [any localrec train flag, e.g. --loss sampled --workers 1]
 * One JSON line on stdout.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseTrainFlags, trainOptions } from '../src/cli/commands/train.ts';
import { trainCatalog } from './train-catalogs.ts';
import { initTf } from '../src/cli/tf-node.ts';
import { prepareTraining } from '../src/cli/train.ts';
import { trainSasrec } from '../models/sasrec/train.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    ...trainOptions,
    catalog: { type: 'string', default: 'ml-100k' },
    data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ml-100k') },
  },
  strict: true,
});
await initTf();
const catalog = values.catalog!;
const ds = trainCatalog(catalog, values.data!);
const flags = parseTrainFlags({
  ...values,
  epochs: values.epochs ?? '2',
  'eval-every': values['eval-every'] ?? '1',
  ...(values.loss === 'sampled' && { negatives: values.negatives ?? '1024' }),
});
const { split, features, config, tc } = prepareTraining(ds, flags);
const t0 = performance.now();
const r = await trainSasrec(config, split, tc, {}, features);
const seconds = (performance.now() - t0) / 1000;
const hash = createHash('sha256');
let sum = 0;
let absSum = 0;
for (const name of Object.keys(r.weights).sort()) {
  const d = r.weights[name]!.dataSync() as Float32Array;
  hash.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  for (const x of d) {
    sum += x;
    absSum += Math.abs(x);
  }
}
process.stdout.write(
  `${JSON.stringify({
    catalog,
    loss: tc.loss.kind,
    workers: tc.workers,
    epochs: r.history.map((h) => ({ epoch: h.epoch, loss: h.loss, ndcg10: h.valid?.full.ndcg10 })),
    bestEpoch: r.bestEpoch,
    weightSum: sum,
    weightAbsSum: absSum,
    sha256: hash.digest('hex'),
    seconds: Math.round(seconds * 10) / 10,
  })}\n`,
);
