/**
 * Where one SASRec training step's time goes (issue #14): on the catalog and flags
 * scripts/bench-train.mjs uses, one thread (`--workers 1`, the trainer's single-thread branch:
 * optimizer.minimize over sliceLoss), a few steps after a warm-up, each split into
 *   - data: one epoch's examples and batches (per epoch, shown per step), padding the batch,
 *     and the CPU-built masks (seenMask) the loss uploads;
 *   - forward + backward (optimizer.computeGradients) and the Adam update (applyGradients),
 *     each under tf.profile: every kernel with its time and shapes, grouped by kernel and by
 *     what it works on (the output layer: a dimension of numItems+1; the item-feature mix: a
 *     dimension of the feature columns; the rest of the encoder);
 *   - what no kernel accounts for (tape, JS, uploads).
 * Usage: npx tsx scripts/profile-train.ts [--catalog=synthetic-25k|ml-100k] [--loss=full|sampled]
 *        [--negatives=1024] [--steps=3] [any localrec train flag, e.g. --no-item-features]
 * Prints a readable breakdown on stderr and one JSON line on stdout.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { parseTrainFlags, trainOptions } from '../src/cli/commands/train.ts';
import { trainCatalog } from './train-catalogs.ts';
import { initTf } from '../src/cli/tf-node.ts';
import { prepareTraining } from '../src/cli/train.ts';
import { Rng } from '../src/core/random.ts';
import { seenMask } from '../models/sasrec/loss.ts';
import { sliceLoss } from '../models/sasrec/slice.ts';
import { featureMix } from '../models/sasrec/item-features.ts';
import { initWeights } from '../models/sasrec/model.ts';
import { padBatch, toVariables } from '../models/tf-ops.ts';
import { lengthBatches } from '../models/training/batches.ts';
import { buildExamples } from '../models/training/examples.ts';

const log = (s: string) => process.stderr.write(`${s}\n`);
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    ...trainOptions,
    catalog: { type: 'string', default: 'synthetic-25k' },
    steps: { type: 'string', default: '3' },
  },
  strict: true,
});
const catalog = values.catalog!;
const steps = Number(values.steps);

await initTf();
const ds = trainCatalog(catalog, resolve(import.meta.dirname, '../../shared/data/ml-100k'));
const flags = parseTrainFlags({
  ...values,
  workers: '1',
  ...(values.loss === 'sampled' && { negatives: values.negatives ?? '1024' }),
});
const { split, features, config, tc } = prepareTraining(ds, flags);
const rng = new Rng(tc.seed);
const vars = toVariables(initWeights(config, rng.seed()));
const varList = Object.values(vars);
const F = features ? featureMix(features) : null;
const optimizer = tf.train.adam(tc.learningRate, 0.9, 0.98);

let t = performance.now();
const examples = buildExamples(split, config.maxLen, tc.cropRate, rng, tc.maskRate, tc.tieShuffle);
const batches = lengthBatches(examples, tc.batchSize, rng);
const epochDataMs = performance.now() - t;
const positions = (b: typeof examples) =>
  b.reduce((a, e) => a + e.target.reduce((x, y) => x + (y !== 0 ? 1 : 0), 0), 0);
// Batches near the median size, so a few steps stand for the epoch.
const bySize = [...batches].sort((a, b) => positions(a) - positions(b));
const mid = bySize.length >> 1;
const picked = bySize.slice(mid - 1, mid - 1 + steps + 1);
log(
  `${catalog}, loss ${tc.loss.kind}${tc.loss.kind === 'sampled' ? `(${tc.loss.negatives})` : ''}: ` +
    `${split.numItems} items, item features ${features?.cols ?? 'off'}, ${batches.length} batches/epoch; ` +
    `an epoch's examples + batches ${epochDataMs.toFixed(0)} ms (${(epochDataMs / batches.length).toFixed(2)} ms a step)`,
);

const opts = {
  loss: tc.loss,
  excludeSeen: tc.excludeSeen,
  perUser: tc.perUserLoss,
  F,
  idDropout: tc.idDropout,
};
const lossOf = (b: typeof examples) =>
  sliceLoss(
    config,
    vars,
    b.map((e) => e.input),
    b.map((e) => e.target),
    opts,
    rng,
  );

interface K {
  name: string;
  kernelTimeMs: number;
  inputShapes: number[][];
  outputShapes: number[][];
  bytesAdded: number;
}
const byKernel = new Map<string, { ms: number; calls: number; shapes: Map<string, number> }>();
const byPart = new Map<string, number>();
const N1 = config.numItems + 1;
const part = (k: K) => {
  const dims = [...k.inputShapes, ...k.outputShapes].flat();
  if (features && dims.includes(features.cols)) return 'item-feature mix';
  if (dims.includes(N1)) return 'output layer / item table';
  return 'encoder (blocks, attention, FFN, sampled logits)';
};
/** A registered kernel (a leaf); customGrad scopes ('forward', 'logSoftmax__op') contain leaves. */
const leaf = (k: K) => tf.getKernel(k.name, tf.getBackend()) !== undefined;
const record = (phase: string, ks: K[]) => {
  for (const k of ks) {
    if (!leaf(k)) continue;
    const name = `${phase}:${k.name}`;
    const e = byKernel.get(name) ?? { ms: 0, calls: 0, shapes: new Map() };
    e.ms += k.kernelTimeMs;
    e.calls++;
    const sh = `${k.inputShapes.map((s) => `[${s}]`).join('·')}→${k.outputShapes.map((s) => `[${s}]`).join('·')}`;
    e.shapes.set(sh, (e.shapes.get(sh) ?? 0) + k.kernelTimeMs);
    byKernel.set(name, e);
    const p = `${phase}: ${part(k)}`;
    byPart.set(p, (byPart.get(p) ?? 0) + k.kernelTimeMs);
  }
};

// Warm-up (kernel compilation, first allocations), then the profiled steps.
{
  const l = optimizer.minimize(() => lossOf(picked[0]!), true, varList)!;
  l.dispose();
}
const totals = { wall: 0, grads: 0, adam: 0, kernels: 0, pad: 0, mask: 0, positions: 0, calls: 0 };
let newBytes = 0;
let peakBytes = 0;
let newTensors = 0;
for (const b of picked.slice(1)) {
  const ins = b.map((e) => e.input);
  const tgs = b.map((e) => e.target);
  t = performance.now();
  const pi = padBatch(ins, config.maxLen);
  const pt = padBatch(tgs, config.maxLen);
  totals.pad += performance.now() - t;
  if (tc.loss.kind === 'full' && tc.excludeSeen) {
    t = performance.now();
    tf.dispose(seenMask(pi, pt, N1));
    totals.mask += performance.now() - t;
  }
  tf.dispose([pi, pt]);
  const w0 = performance.now();
  let grads: tf.NamedTensorMap = {};
  let value: tf.Scalar | null = null;
  t = performance.now();
  const pg = await tf.profile(() => {
    const r = optimizer.computeGradients(() => lossOf(b), varList);
    grads = r.grads;
    value = r.value;
    return value;
  });
  totals.grads += performance.now() - t;
  // tf.profile reuses one profile object: read each before the next.
  const gk = [...(pg.kernels as unknown as K[])];
  newBytes += pg.newBytes;
  peakBytes = Math.max(peakBytes, pg.peakBytes);
  newTensors += pg.newTensors;
  t = performance.now();
  const named = Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
  const pa = await tf.profile(() => optimizer.applyGradients(named));
  totals.adam += performance.now() - t;
  totals.wall += performance.now() - w0;
  const ak = [...(pa.kernels as unknown as K[])];
  record('fwd+bwd', gk);
  record('adam', ak);
  const leaves = [...gk, ...ak].filter(leaf);
  for (const k of leaves) totals.kernels += k.kernelTimeMs;
  totals.calls += leaves.length;
  totals.positions += positions(b);
  tf.dispose([value!, ...Object.values(grads)]);
}
const n = picked.length - 1;
const per = (x: number) => x / n;
log(
  `per step (mean of ${n}, ${(totals.positions / n).toFixed(0)} positions): ${per(totals.wall).toFixed(0)} ms ` +
    `= fwd+bwd ${per(totals.grads).toFixed(0)} + Adam ${per(totals.adam).toFixed(0)}; ` +
    `kernels ${per(totals.kernels).toFixed(0)} ms in ${(totals.calls / n).toFixed(0)} calls; ` +
    `outside kernels ${per(totals.wall - totals.kernels).toFixed(0)} ms; ` +
    `of which padBatch ${per(totals.pad).toFixed(1)} ms, seenMask (CPU build + upload) ${per(totals.mask).toFixed(0)} ms; ` +
    `tensor bytes allocated during fwd+bwd ${(peakBytes / 2 ** 20).toFixed(0)} MB peak`,
);
const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
log('top kernels (ms per step, calls per step, heaviest shapes):');
for (const [name, e] of top.slice(0, 20)) {
  const shapes = [...e.shapes.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([s, ms]) => `${s} ${per(ms).toFixed(0)}ms`)
    .join('; ');
  log(
    `  ${per(e.ms).toFixed(1).padStart(8)} ${String(per(e.calls)).padStart(5)}  ${name}  ${shapes}`,
  );
}
log('by part (ms per step):');
for (const [p, ms] of [...byPart.entries()].sort((a, b) => b[1] - a[1]))
  log(`  ${per(ms).toFixed(1).padStart(8)}  ${p}`);
process.stdout.write(
  `${JSON.stringify({
    catalog,
    loss: tc.loss,
    positionsPerStep: totals.positions / n,
    msPerStep: per(totals.wall),
    fwdBwdMs: per(totals.grads),
    adamMs: per(totals.adam),
    kernelMs: per(totals.kernels),
    kernelCalls: totals.calls / n,
    seenMaskMs: per(totals.mask),
    padMs: per(totals.pad),
    epochDataMsPerStep: epochDataMs / batches.length,
    newBytesPerStep: newBytes / n,
    newTensorsPerStep: newTensors / n,
    peakBytes,
    byPart: Object.fromEntries([...byPart.entries()].map(([k, v]) => [k, per(v)])),
    topKernels: top.slice(0, 25).map(([k, e]) => ({ k, ms: per(e.ms), calls: per(e.calls) })),
  })}\n`,
);
