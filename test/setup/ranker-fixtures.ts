/**
 * globalSetup of the `browser` vitest project (runs in Node, once, before the browser starts):
 * trains a tiny SASRec on a synthetic catalog, exports its int8 ONNX encoder and int8 item
 * shards, computes the expected answers with tfjs in Node, and hands everything to the
 * browser tests through `provide()` (base64 for the binaries).
 *
 * The expected answers come from the *dequantized* weights the int8 export ships
 * (`quantizeSasrecWeights(...).dequantized`), so Node, ORT-WASM and ORT-WebGPU all compute
 * the same function and must agree up to float rounding.
 */
import * as tf from '@tensorflow/tfjs';
import type { TestProject } from 'vitest/node';
import { initTf } from '../../src/cli/tf-node.ts';
import { encodeShard } from '../../src/core/shard.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';
import { leaveOneOut, stageInput } from '../../src/core/split.ts';
import { topK } from '../../src/core/topk.ts';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { exportSasrecEncoder, quantizeSasrecWeights } from '../../models/sasrec/export-onnx.ts';
import { arraysToWeights, encode, scoreAll, weightsToArrays } from '../../models/sasrec/model.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';

/** One history and what Node says the ranker must answer for it. */
export interface ExpectedCase {
  name: string;
  /** External ids, oldest first (may contain ids the shards do not know). */
  history: string[];
  /** Top-10 external ids, history excluded, ties to the lower index. */
  top10: string[];
  /** Their scores, for telling a genuine near-tie from a wrong answer. */
  top10Scores: number[];
  /** Score of the 11th item (the margin the 10th must keep). */
  score11: number;
  /** The user vector (dim). */
  userVec: number[];
}

/** Everything the browser tests receive. */
export interface RankerFixture {
  /** int8 ONNX encoder, base64. */
  encoderB64: string;
  /** int8 embedding shards, base64, in catalog order. */
  shardsB64: string[];
  maxLen: number;
  dim: number;
  numItems: number;
  cases: ExpectedCase[];
  trainSeconds: number;
  epochs: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    rankerFixture: RankerFixture;
  }
}

const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');

export default async function setup(project: TestProject): Promise<void> {
  const t0 = performance.now();
  await initTf();
  const ds = generateSyntheticCatalog({
    items: 240,
    users: 400,
    seed: 11,
    minEvents: 5,
    maxEvents: 40,
  });
  const split = leaveOneOut(ds.events);
  const config: SasrecConfig = {
    numItems: split.numItems,
    maxLen: 16, // shorter than many histories, so truncation is exercised
    dim: 32,
    blocks: 2,
    heads: 2,
    ffnDim: 32,
    dropout: 0.2,
    layerNormEps: 1e-6,
  };
  // A fixed epoch count (no time limit), so the fixture is the same on fast and slow machines.
  const trained = await trainSasrec(config, split, {
    epochs: 10,
    maxSeconds: 0,
    patience: 100,
    batchSize: 64,
    learningRate: 3e-3,
    seed: 5,
  });
  const arrays = weightsToArrays(trained.weights);
  tf.dispose(Object.values(trained.weights));

  const encoder = exportSasrecEncoder(config, arrays, { quantization: 'int8' });
  const deq = quantizeSasrecWeights(config, arrays, 'int8').dequantized;
  const w = arraysToWeights(config, deq);

  // Two shards, so the ranker's multi-shard indexing is exercised; rows come from the fp32
  // table and are quantized per row by encodeShard, as `localrec export` does.
  const table = arrays['item_emb']!.data;
  const dim = config.dim;
  const cut = 1 + Math.floor(config.numItems / 2);
  const shards = [
    [1, cut],
    [cut, config.numItems + 1],
  ].map(([a, b]) =>
    encodeShard({
      dtype: 'int8',
      dim,
      baseIndex: a!,
      ids: split.itemIds.slice(a, b),
      rows: table.subarray(a! * dim, b! * dim),
    }),
  );

  // Histories: real users (test-stage input), one with unknown ids mixed in, one far longer
  // than maxLen, one of a single item.
  const users = split.users.filter((u) => u.test > 0);
  const byLen = [...users].sort((a, b) => b.train.length - a.train.length);
  const seqs: { name: string; idx: number[]; extraUnknown?: boolean }[] = [
    { name: 'user-0', idx: Array.from(stageInput(users[0]!, 'test')) },
    { name: 'user-1', idx: Array.from(stageInput(users[1]!, 'test')) },
    { name: 'user-7', idx: Array.from(stageInput(users[7]!, 'test')) },
    { name: 'longest', idx: Array.from(stageInput(byLen[0]!, 'test')) },
    { name: 'single', idx: [users[3]!.train[0]!] },
    { name: 'with-unknown', idx: Array.from(stageInput(users[2]!, 'test')), extraUnknown: true },
  ];
  const cases: ExpectedCase[] = [];
  for (const s of seqs) {
    const known = s.idx.slice(-config.maxLen);
    const scores = scoreAll(config, w, [known]);
    const row = new Float32Array((await scores.data()) as Float32Array);
    scores.dispose();
    row[0] = NaN; // padding never ranks
    const best = topK(row, 11, new Set(s.idx));
    const vecT = encode(config, w, [known]);
    const userVec = Array.from((await vecT.data()) as Float32Array);
    vecT.dispose();
    let history = s.idx.map((i) => split.itemIds[i]!);
    if (s.extraUnknown)
      history = history
        .flatMap((id, j) => (j % 3 === 0 ? [`unknown-${j}`, id] : [id]))
        .concat('unknown-last');
    cases.push({
      name: s.name,
      history,
      top10: Array.from(best.indices.subarray(0, 10), (i) => split.itemIds[i]!),
      top10Scores: Array.from(best.scores.subarray(0, 10)),
      score11: best.scores[10] ?? -Infinity,
      userVec,
    });
  }
  tf.dispose(Object.values(w));

  const fixture: RankerFixture = {
    encoderB64: b64(encoder),
    shardsB64: shards.map(b64),
    maxLen: config.maxLen,
    dim,
    numItems: config.numItems,
    cases,
    trainSeconds: trained.trainSeconds,
    epochs: trained.epochsRun,
  };
  project.provide('rankerFixture', fixture);
  console.log(
    `[ranker-fixtures] ${config.numItems} items, ${trained.epochsRun} epochs in ${trained.trainSeconds.toFixed(1)} s ` +
      `(best valid NDCG@10 ${trained.bestValid?.full.ndcg10.toFixed(3) ?? 'n/a'}), encoder ${encoder.length} B, ` +
      `shards ${shards.map((s) => s.length).join('+')} B, setup ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}
