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
import {
  exportSasrecEncoder,
  quantizeSasrecWeights,
  shippedDim,
  shippedItemTable,
} from '../../models/sasrec/export-onnx.ts';
import {
  arraysToWeights,
  initWeights as initSasrec,
  mergeMembers,
  scoreAll,
  userVectors,
} from '../../models/sasrec/model.ts';
import { weightsToArrays } from '../../models/tf-ops.ts';
import type { WeightArrays } from '../../models/weights.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';
import { configFor } from '../../models/two-tower/config.ts';
import { exportTwoTowerUserTower, quantizeUserTower } from '../../models/two-tower/export-onnx.ts';
import { buildItemFeatures } from '../../models/training/item-features.ts';
import {
  arraysToWeights as twoTowerWeights,
  encodeUsers,
  initWeights,
  itemTable,
} from '../../models/two-tower/model.ts';
import { contextVector, type ContextSpec } from '../../src/core/context.ts';
import type { ItemInfo, SplitData } from '../../src/core/types.ts';

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

/** One (history, moment) pair for the two-tower user tower with context, and its tfjs vector. */
export interface ContextCase {
  name: string;
  history: string[];
  context: {
    time: number;
    utcOffsetMinutes: number;
    previousTime: number | null;
    previousType: string | null;
  };
  userVec: number[];
}

/**
 * A two-tower user tower with request-context features (untrained, seeded weights: only the
 * arithmetic is under test), int8, with its item shard and expected vectors.
 */
export interface TwoTowerContextFixture {
  encoderB64: string;
  shardB64: string;
  maxLen: number;
  dim: number;
  context: ContextSpec;
  cases: ContextCase[];
}

/**
 * An ensemble of two SASRec members (the trained fixture model and a seeded untrained one):
 * its int8 encoder outputs both members' vectors side by side (2·dim) and its f32 shard holds
 * both members' rows side by side, so scores are the members' mean (config.members).
 */
export interface EnsembleFixture {
  encoderB64: string;
  shardB64: string;
  dim: number;
  cases: ExpectedCase[];
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
  twoTowerContext: TwoTowerContextFixture;
  ensemble: EnsembleFixture;
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
  const cases = await expectedCases(config, w, seqs, split.itemIds);
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
    twoTowerContext: twoTowerContextFixture(split, ds.items),
    ensemble: await ensembleFixture(config, arrays, split, seqs.slice(0, 4)),
  };
  project.provide('rankerFixture', fixture);
  console.log(
    `[ranker-fixtures] ${config.numItems} items, ${trained.epochsRun} epochs in ${trained.trainSeconds.toFixed(1)} s ` +
      `(best valid NDCG@10 ${trained.bestValid?.full.ndcg10.toFixed(3) ?? 'n/a'}), encoder ${encoder.length} B, ` +
      `shards ${shards.map((s) => s.length).join('+')} B, setup ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

/**
 * What Node says the ranker must answer for each history: the top-10 (history excluded) and
 * the user vector the exported encoder outputs, from the weights the export ships.
 */
async function expectedCases(
  c: SasrecConfig,
  w: Record<string, tf.Tensor>,
  seqs: { name: string; idx: number[]; extraUnknown?: boolean }[],
  itemIds: string[],
): Promise<ExpectedCase[]> {
  const cases: ExpectedCase[] = [];
  for (const s of seqs) {
    const known = s.idx.slice(-c.maxLen);
    const scores = scoreAll(c, w, [known]);
    const row = new Float32Array((await scores.data()) as Float32Array);
    scores.dispose();
    row[0] = NaN; // padding never ranks
    const best = topK(row, 11, new Set(s.idx));
    const vecT = userVectors(c, w, [known]);
    const userVec = Array.from((await vecT.data()) as Float32Array);
    vecT.dispose();
    let history = s.idx.map((i) => itemIds[i]!);
    if (s.extraUnknown)
      history = history
        .flatMap((id, j) => (j % 3 === 0 ? [`unknown-${j}`, id] : [id]))
        .concat('unknown-last');
    cases.push({
      name: s.name,
      history,
      top10: Array.from(best.indices.subarray(0, 10), (i) => itemIds[i]!),
      top10Scores: Array.from(best.scores.subarray(0, 10)),
      score11: best.scores[10] ?? -Infinity,
      userVec,
    });
  }
  return cases;
}

/** The ensemble fixture: expected answers from the weights the int8 export ships. */
async function ensembleFixture(
  one: SasrecConfig,
  trained: WeightArrays,
  split: SplitData,
  seqs: { name: string; idx: number[] }[],
): Promise<EnsembleFixture> {
  const ens: SasrecConfig = { ...one, members: 2 };
  const untrained = initSasrec(one, 9);
  const arrays = mergeMembers([trained, weightsToArrays(untrained)]);
  tf.dispose(Object.values(untrained));
  const encoder = exportSasrecEncoder(ens, arrays, { quantization: 'int8' });
  const deq = quantizeSasrecWeights(ens, arrays, 'int8').dequantized;
  const w = arraysToWeights(ens, deq);
  const dim = shippedDim(ens);
  const shard = encodeShard({
    dtype: 'f32',
    dim,
    baseIndex: 1,
    ids: split.itemIds.slice(1),
    rows: shippedItemTable(ens, deq).subarray(dim),
  });
  const cases = await expectedCases(ens, w, seqs, split.itemIds);
  tf.dispose(Object.values(w));
  return { encoderB64: b64(encoder), shardB64: b64(shard), dim, cases };
}

/**
 * The two-tower fixture: a user tower taking all four context features, exported int8, and the
 * vectors tfjs computes for a few (history, moment) pairs from the weights the export ships.
 */
function twoTowerContextFixture(split: SplitData, items: ItemInfo[]): TwoTowerContextFixture {
  const spec: ContextSpec = {
    features: ['hour', 'weekday', 'gap', 'type'],
    eventTypes: ['click', 'purchase'],
    trainingUtcOffsetMinutes: 0,
  };
  const features = buildItemFeatures(split, items, { titleBuckets: 64 });
  const c = configFor(
    features,
    { maxLen: 12, dim: 16, hidden: 32, recencyDecay: 0.7, temperature: 0.05 },
    spec,
  );
  const w0 = initWeights(c, 17);
  const arrays = weightsToArrays(w0);
  const tableT = itemTable(c, w0, features);
  const table = tableT.dataSync() as Float32Array;
  tf.dispose([tableT, ...Object.values(w0)]);
  const encoder = exportTwoTowerUserTower(c, arrays, table, { quantization: 'int8' });
  const deq = quantizeUserTower(c, arrays, table, 'int8').dequantized;
  const w = twoTowerWeights(c, { ...arrays, ...deq });
  const t = tf.tensor2d(deq['item_vectors']!.data, [c.numItems + 1, c.dim]);
  const shard = encodeShard({
    dtype: 'int8',
    dim: c.dim,
    baseIndex: 1,
    ids: split.itemIds.slice(1),
    rows: table.subarray(c.dim),
  });
  const user = split.users.find((u) => u.train.length > c.maxLen)!;
  const idx = Array.from(user.train);
  const noon = Date.UTC(2026, 10, 22, 12); // a Sunday
  const moments: [string, ContextCase['context']][] = [
    [
      'sunday-noon-click',
      { time: noon, utcOffsetMinutes: 0, previousTime: noon - 60_000, previousType: 'click' },
    ],
    [
      'monday-3am-new',
      { time: noon + 15 * 3_600_000, utcOffsetMinutes: 0, previousTime: null, previousType: null },
    ],
    [
      'sunday-noon-paris',
      {
        time: noon,
        utcOffsetMinutes: 60,
        previousTime: noon - 86_400_000,
        previousType: 'purchase',
      },
    ],
  ];
  const cases = moments.map(([name, context]) => {
    const known = idx.slice(-c.maxLen);
    const v = encodeUsers(c, w, t, [known], contextVector(spec, context));
    const userVec = Array.from(v.dataSync());
    v.dispose();
    return { name, history: idx.map((i) => split.itemIds[i]!), context, userVec };
  });
  tf.dispose([t, ...Object.values(w)]);
  return {
    encoderB64: b64(encoder),
    shardB64: b64(shard),
    maxLen: c.maxLen,
    dim: c.dim,
    context: spec,
    cases,
  };
}
