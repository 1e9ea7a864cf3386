import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { softmaxCrossEntropy, weightsToArrays } from '../../models/tf-ops.ts';
import {
  decodeTwoTowerCheckpoint,
  encodeTwoTowerCheckpoint,
} from '../../models/two-tower/checkpoint.ts';
import {
  coldItemRecall,
  fixedScorer,
  pickColdItems,
  randomRecall,
  removeItems,
} from '../../models/two-tower/cold.ts';
import { configFor, type TwoTowerConfig } from '../../models/two-tower/config.ts';
import { exportTwoTowerUserTower, quantizeUserTower } from '../../models/two-tower/export-onnx.ts';
import {
  buildItemFeatures,
  popularityBucket,
  titleTokens,
  tokenBucket,
  type ItemFeatures,
} from '../../models/training/item-features.ts';
import {
  correctedLogits,
  logQCorrection,
  prepareBatch,
  targetDistribution,
  twoTowerLoss,
} from '../../models/two-tower/loss.ts';
import {
  arraysToWeights,
  encodeUsers,
  initWeights,
  itemTable,
  itemTower,
  userTowerPrefixes,
  type TwoTowerWeights,
} from '../../models/two-tower/model.ts';
import {
  makeTwoTowerScorer,
  trainTwoTower,
  type TwoTowerTrainResult,
} from '../../models/two-tower/train.ts';
import { contextVector, contextWidth } from '../../src/core/context.ts';
import { ENCODER_INPUT, ENCODER_OUTPUT } from '../../src/core/encoder-io.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { fullRanks, retrievalMetrics } from '../../src/core/metrics.ts';
import { Rng } from '../../src/core/random.ts';
import { decodeShard, shardRowsAsFloat32 } from '../../src/core/shard.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';
import type { Dataset, SplitData } from '../../src/core/types.ts';
import { localrec } from './cli-runner.ts';

const { onnx } = onnxProto;

let ds: Dataset;
let split: SplitData;
let features: ItemFeatures;
let config: TwoTowerConfig;
let trained: TwoTowerTrainResult;

const trainSettings = {
  epochs: 8,
  batchSize: 32,
  learningRate: 3e-3,
  evalEvery: 4,
  patience: 10,
  cropRate: 0,
  seed: 3,
};

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  ort.env.wasm.numThreads = 1;
  ds = generateSyntheticCatalog({ items: 300, users: 400, seed: 11, minEvents: 5, maxEvents: 40 });
  split = leaveOneOut(ds.events, { extraItems: ds.items.map((i) => i.id) });
  features = buildItemFeatures(split, ds.items, { titleBuckets: 256 });
  config = configFor(features, {
    maxLen: 20,
    dim: 32,
    hidden: 64,
    recencyDecay: 0.8,
    temperature: 0.05,
  });
  trained = await trainTwoTower(config, split, features, trainSettings);
}, 120_000);

afterAll(() => tf.dispose(Object.values(trained.weights)));

describe('item features', () => {
  it('tokenizes titles (stop words out, decade added), hashes into 1..buckets, buckets popularity', () => {
    expect(titleTokens('The Usual Suspects, The (1995)')).toEqual([
      'usual',
      'suspects',
      '1995',
      '1990s',
    ]);
    expect(titleTokens('Amélie of Paris')).toEqual(['amélie', 'paris']);
    for (const t of ['a', 'usual', '1990s']) {
      const b = tokenBucket(t, 7);
      expect(b).toBeGreaterThanOrEqual(1);
      expect(b).toBeLessThanOrEqual(7);
      expect(tokenBucket(t, 7)).toBe(b);
    }
    expect([0, 1, 2, 3, 4, 1000, 1e9].map((n) => popularityBucket(n, 16))).toEqual([
      0, 1, 2, 2, 3, 10, 15,
    ]);
  });

  it('builds categories by frequency, training counts only, and marks untrained items unknown', () => {
    const s: SplitData = {
      numItems: 3,
      itemIds: ['', 'x', 'y', 'z'],
      users: [{ user: 'u', train: Int32Array.of(1, 1, 2), valid: 3, test: 3 }],
    };
    const f = buildItemFeatures(
      s,
      [
        { id: 'x', title: 'Alpha (1999)', categories: ['Drama', 'Comedy'] },
        { id: 'y', title: 'Beta', categories: ['Drama'] },
      ],
      { titleBuckets: 64, maxTitleTokens: 2, minTokenItems: 1 },
    );
    expect(f.categoryVocab).toEqual(['Drama', 'Comedy']);
    expect([...f.categories.subarray(6, 8)]).toEqual([1, 2]); // x: Drama, Comedy
    expect([...f.categories.subarray(18, 24)]).toEqual([0, 0, 0, 0, 0, 0]); // z: no metadata
    expect([...f.titleTokens.subarray(2, 4)]).toEqual([
      tokenBucket('alpha', 64),
      tokenBucket('1999', 64),
    ]);
    // By default a word must occur in two titles: 'alpha' and 'beta' are dropped, '1990s' kept.
    const shared = buildItemFeatures(
      s,
      [
        { id: 'x', title: 'Alpha (1999)', categories: [] },
        { id: 'y', title: 'Beta (1995)', categories: [] },
      ],
      { titleBuckets: 64 },
    );
    expect([...shared.titleTokens.subarray(8, 10)]).toEqual([tokenBucket('1990s', 64), 0]);
    expect([...f.counts]).toEqual([0, 2, 1, 0]); // z is only a valid/test item
    expect([...f.known]).toEqual([0, 1, 1, 0]);
    expect([...f.popBucket]).toEqual([0, 2, 1, 0]);
  });
});

describe('logQ correction', () => {
  it('log π = log(1 − (1 − p)^R): exact, ≈ log(R·p) for rare items, 0 for certain ones', () => {
    const p = [1e-6, 0.001, 0.05, 0.5, 1];
    const got = logQCorrection(p, 200);
    p.forEach((pj, j) => expect(got[j]).toBeCloseTo(Math.log(1 - Math.pow(1 - pj, 200)), 5));
    expect(got[0]).toBeCloseTo(Math.log(200e-6), 3);
    expect(got[4]).toBe(0);
    const dist = targetDistribution([Int32Array.of(0, 1, 2, 2), Int32Array.of(2, 3)], 3);
    expect([...dist]).toEqual([0, 0.2, 0.6, 0.2]);
  });

  it('prepareBatch: distinct candidates, labels, R, logQ of the candidates, seen mask', () => {
    const p = [0, 0.1, 0.2, 0.3, 0.4];
    const b = prepareBatch(
      [Int32Array.of(1, 2), Int32Array.of(3)],
      [Int32Array.of(2, 3), Int32Array.of(3)],
      10,
      p,
      new Rng(1),
      { idDropout: 0, excludeSeen: true },
    );
    expect(b.T).toBe(2);
    expect([...b.candidates]).toEqual([2, 3]);
    expect(b.rows).toBe(3);
    // rows: (1→2) (2→3) (pad) (3→3)
    expect([...b.labels]).toEqual([0, 1, 0, 1]);
    expect([...b.weights]).toEqual([1, 1, 0, 1]);
    expect([...b.logQ]).toEqual([...logQCorrection([0.2, 0.3], 3)]);
    // Row 1 (input 2, target 3) has seen item 2: masked; its target 3 is not.
    expect(b.seen![1 * 2 + 0]).toBeLessThan(-1e8);
    expect(b.seen![1 * 2 + 1]).toBe(0);
    // Row 3 (input 3, target 3): the target stays even though it was seen.
    expect(b.seen![3 * 2 + 1]).toBe(0);
    const off = prepareBatch([Int32Array.of(1, 2)], [Int32Array.of(2, 3)], 10, p, new Rng(1), {
      idDropout: 0,
      excludeSeen: false,
      logQ: false,
    });
    expect([...off.logQ]).toEqual([0, 0]);
    const drop = prepareBatch(
      [Int32Array.from({ length: 200 }, (_, i) => 1 + (i % 4))],
      [Int32Array.from({ length: 200 }, (_, i) => 1 + ((i + 1) % 4))],
      200,
      p,
      new Rng(2),
      { idDropout: 0.5, excludeSeen: false },
    );
    expect(drop.keep.length).toBe(4);
  });

  it('the loss is softmax cross-entropy over cos/τ − log π, the positive column included', () => {
    const w = initWeights(config, 5);
    const inputs = split.users.slice(0, 6).map((u) => u.train.subarray(0, -1));
    const targets = split.users.slice(0, 6).map((u) => u.train.subarray(1));
    const prob = targetDistribution(
      split.users.map((u) => u.train.subarray(1)),
      config.numItems,
    );
    const b = prepareBatch(inputs, targets, config.maxLen, prob, new Rng(3), {
      idDropout: 0,
      excludeSeen: false,
    });
    // Skewed probabilities give a non-constant correction.
    expect(Math.max(...b.logQ) - Math.min(...b.logQ)).toBeGreaterThan(0.5);
    const loss = twoTowerLoss(config, w, features, b).dataSync()[0]!;

    // The same loss by hand, in float64, from the towers' outputs.
    const vecs = tf.concat([tf.zeros([1, config.dim]), itemTower(config, w, features, b.items)]);
    const hist = tf.gather(vecs, Array.from(b.localInputs)).reshape([b.batch, b.T, config.dim]);
    const mask = tf.tensor2d(
      Array.from(b.localInputs, (l) => (l ? 1 : 0)),
      [b.batch, b.T],
    );
    const users = userTowerPrefixes(config, w, hist as tf.Tensor3D, mask).arraySync();
    const cand = tf.gather(vecs, Array.from(b.candidateLocal)).arraySync() as number[][];
    let sum = 0;
    users.forEach((u, r) => {
      if (!b.weights[r]) return;
      const z = cand.map(
        (v, j) => v.reduce((a, x, k) => a + x * u[k]!, 0) / config.temperature - b.logQ[j]!,
      );
      const max = Math.max(...z);
      const lse = max + Math.log(z.reduce((a, x) => a + Math.exp(x - max), 0));
      sum += lse - z[b.labels[r]!]!;
    });
    expect(loss).toBeCloseTo(sum / b.rows, 3);
    // Without the correction the number differs: it is really applied.
    const plain = twoTowerLoss(config, w, features, {
      ...b,
      logQ: new Float32Array(b.logQ.length),
    });
    expect(Math.abs(plain.dataSync()[0]! - loss)).toBeGreaterThan(0.01);

    // correctedLogits subtracts exactly logQ per column, and a constant logQ changes nothing.
    const U = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const V = tf.tensor2d([
      [0.6, 0.8],
      [1, 0],
      [0, -1],
    ]);
    const lq = Float32Array.of(-1, -2, -3);
    const diff = tf.sub(
      correctedLogits(U, V, 0.5, lq, null),
      correctedLogits(U, V, 0.5, new Float32Array(3), null),
    );
    Array.from(diff.dataSync()).forEach((d, i) => expect(d).toBeCloseTo([1, 2, 3][i % 3]!, 5));
    const labels = tf.tensor1d([0, 2], 'int32');
    const ones = tf.ones([2]) as tf.Tensor1D;
    const ce = (q: Float32Array) =>
      softmaxCrossEntropy(correctedLogits(U, V, 0.5, q, null), labels, ones).dataSync()[0]!;
    expect(ce(Float32Array.of(-4, -4, -4))).toBeCloseTo(ce(new Float32Array(3)), 6);
    tf.dispose(Object.values(w));
  });
});

describe('training on a synthetic catalog', () => {
  it('lowers the loss and beats popularity on validation and test (full ranking)', async () => {
    const h = trained.history;
    expect(h.at(-1)!.loss).toBeLessThan(h[0]!.loss * 0.9);
    expect(h.every((e) => e.examplesPerSec > 0)).toBe(true);
    const s = makeTwoTowerScorer(config, trained.weights, features);
    const pop = fixedScorer(features.counts);
    for (const stage of ['valid', 'test'] as const) {
      const m = retrievalMetrics((await fullRanks(split, stage, s.score)).ranks);
      const p = retrievalMetrics((await fullRanks(split, stage, pop)).ranks);
      console.log(
        `${stage}: two-tower Recall@100 ${m.recall100.toFixed(3)} NDCG@10 ${m.ndcg10.toFixed(3)}; popularity ${p.recall100.toFixed(3)} / ${p.ndcg10.toFixed(3)}`,
      );
      expect(m.recall100).toBeGreaterThan(p.recall100 + 0.05);
      expect(m.ndcg10).toBeGreaterThan(p.ndcg10 * 1.5);
    }
    s.dispose();
    expect(trained.bestValid!.recall100).toBeGreaterThan(0);
  });
});

describe('cold items', () => {
  it('picks a seeded share, removes their training events, and defines the baselines exactly', async () => {
    const cold = pickColdItems(50, 0.1, 4);
    expect(cold.reduce((a, x) => a + x, 0)).toBe(5);
    expect(pickColdItems(50, 0.1, 4)).toEqual(cold);
    expect(pickColdItems(50, 0.1, 5)).not.toEqual(cold);
    expect(() => pickColdItems(50, 1, 4)).toThrow(/\[0, 1\)/);

    const s: SplitData = {
      numItems: 5,
      itemIds: ['', 'a', 'b', 'c', 'd', 'e'],
      users: [
        { user: 'u', train: Int32Array.of(1, 2, 3), valid: 5, test: 4 },
        { user: 'v', train: Int32Array.of(5, 1, 1), valid: 2, test: 5 },
      ],
    };
    const flags = Uint8Array.of(0, 0, 0, 0, 0, 1); // item 5 is cold
    const cs = removeItems(s, flags);
    expect([...cs.users[1]!.train]).toEqual([1, 1]);
    expect(cs.users[1]!.test).toBe(5);
    // u's valid target 5 is cold: input {1,2,3}, 5 − 3 excluded = 2 candidates → recall 1.
    expect(randomRecall(cs, 'valid', [0], 1)).toBe(0.5);
    const r = await coldItemRecall(
      s,
      cs,
      flags,
      'test',
      fixedScorer(Float32Array.of(0, 0, 0, 0, 0, 9)),
    );
    // Only v's test target is cold; a scorer that puts item 5 first finds it, popularity of
    // the cold split ranks it last among 4 candidates (still < 100), the oracle knows it.
    expect(r).toMatchObject({ users: 1, model: 1, popularity: 1, popularityOracle: 1, random: 1 });
  });

  it('an untrained item has no id part, and held-out items are found from features far above random', async () => {
    const cold = pickColdItems(split.numItems, 0.1, 7);
    const coldSplit = removeItems(split, cold);
    const f = buildItemFeatures(coldSplit, ds.items, { titleBuckets: 256 });
    const c = configFor(f, config);
    const res = await trainTwoTower(c, coldSplit, f, trainSettings);
    const coldIds = Int32Array.from([...cold.keys()].filter((i) => cold[i] === 1));
    // Their id embeddings never moved from zero, and the tower ignores that row anyway.
    const idEmb = res.weights['item.id_emb']!.arraySync() as number[][];
    for (const i of coldIds) expect(idEmb[i]!.every((x) => x === 0)).toBe(true);
    const a = itemTower(c, res.weights, f, coldIds);
    const noisy: TwoTowerWeights = {
      ...res.weights,
      'item.id_emb': tf.randomNormal(res.weights['item.id_emb']!.shape, 0, 1, 'float32', 1),
    };
    const b = itemTower(c, noisy, f, coldIds);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);

    const s = makeTwoTowerScorer(c, res.weights, f);
    const r = await coldItemRecall(split, coldSplit, cold, 'test', s.score);
    s.dispose();
    console.log(`cold test targets: ${JSON.stringify(r)}`);
    expect(r.users).toBeGreaterThan(10);
    expect(r.popularity).toBe(0); // no events → below every item with events
    expect(r.model).toBeGreaterThan(Math.min(0.95, r.random * 1.6));
    expect(r.model).toBeGreaterThan(r.random + 0.2);
    tf.dispose([a, b, noisy['item.id_emb']!, ...Object.values(res.weights)]);
  });
});

describe('ONNX user tower (onnxruntime-web, wasm) vs tfjs', () => {
  function ids(seqs: ArrayLike<number>[]): ort.Tensor {
    // The layout of padBatch: left-padded, cut to the last maxLen items.
    const T = Math.max(1, Math.min(config.maxLen, Math.max(...seqs.map((s) => s.length))));
    const out = new BigInt64Array(seqs.length * T);
    seqs.forEach((s, b) => {
      const n = Math.min(T, s.length);
      for (let j = 0; j < n; j++) out[b * T + T - n + j] = BigInt(s[s.length - n + j]!);
    });
    return new ort.Tensor('int64', out, [seqs.length, T]);
  }
  const batches = (): number[][][] => {
    const seq = (n: number, start: number) =>
      Array.from({ length: n }, (_, i) => 1 + ((start + 7 * i) % config.numItems));
    return [
      [seq(1, 3), seq(config.maxLen, 10), seq(config.maxLen + 9, 20), [], seq(5, 40)],
      [[config.numItems]],
      split.users.slice(0, 48).map((u) => [...u.train]),
    ];
  };

  it('fp32 and int8 match tfjs (int8 against the dequantized weights) within 1e-4; graph contract', async () => {
    const arrays = weightsToArrays(trained.weights);
    const tableT = itemTable(config, trained.weights, features);
    const table = tableT.dataSync() as Float32Array;
    for (const q of ['fp32', 'int8'] as const) {
      const bytes = exportTwoTowerUserTower(config, arrays, table, { quantization: q });
      const m = onnx.ModelProto.decode(bytes);
      expect(Number(m.opsetImport![0]!.version)).toBe(17);
      expect(m.graph!.input![0]!.name).toBe(ENCODER_INPUT);
      expect(m.graph!.input![0]!.type!.tensorType!.elemType).toBe(7); // int64
      expect(m.graph!.output![0]!.name).toBe(ENCODER_OUTPUT);
      expect(m.graph!.node!.some((n) => n.opType === 'DequantizeLinear')).toBe(q === 'int8');
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
      const deq = quantizeUserTower(config, arrays, table, q).dequantized;
      const w = arraysToWeights(config, { ...arrays, ...deq });
      const t = tf.tensor2d(deq['item_vectors']!.data, [config.numItems + 1, config.dim]);
      let worst = 0;
      for (const batch of batches()) {
        const y = (await session.run({ [ENCODER_INPUT]: ids(batch) }))[ENCODER_OUTPUT]!;
        expect(y.dims).toEqual([batch.length, config.dim]);
        const ref = encodeUsers(config, w, t, batch).dataSync();
        const got = y.data as Float32Array;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
      }
      console.log(
        `${q} ONNX vs tfjs: max |diff| ${worst.toExponential(2)} (${bytes.length} bytes)`,
      );
      expect(worst).toBeLessThanOrEqual(1e-4);
      tf.dispose([t, ...Object.values(w)]);
    }
    tableT.dispose();
  });

  it('rejects weights that do not fit the config', () => {
    const arrays = weightsToArrays(trained.weights);
    const table = new Float32Array((config.numItems + 1) * config.dim);
    const bad = { ...arrays, 'user.w1': { data: new Float32Array(4), shape: [2, 2] } };
    try {
      exportTwoTowerUserTower(config, bad, table, { quantization: 'int8' });
      expect.unreachable();
    } catch (e) {
      expect(isLocalrecError(e) && e.code === 'bad-input' && /user\.w1/.test(e.message)).toBe(true);
    }
    expect(() =>
      exportTwoTowerUserTower(config, arrays, table.subarray(1), { quantization: 'fp32' }),
    ).toThrow(/item_vectors/);
  });

  it('checkpoints round-trip weights, item vectors and features', () => {
    const arrays = weightsToArrays(trained.weights);
    const table = new Float32Array((config.numItems + 1) * config.dim).map((_, i) => i % 7);
    const bytes = encodeTwoTowerCheckpoint({
      config,
      weights: arrays,
      table,
      features,
      meta: { itemIds: split.itemIds, bestEpoch: 3 },
    });
    const ck = decodeTwoTowerCheckpoint(bytes);
    expect(ck.config).toEqual(config);
    expect(ck.meta.bestEpoch).toBe(3);
    expect(ck.table).toEqual(table);
    expect(ck.weights['user.w2']!.data).toEqual(arrays['user.w2']!.data);
    expect(ck.features.titleTokens).toEqual(features.titleTokens);
    expect(ck.features.categoryVocab).toEqual(features.categoryVocab);
    expect(ck.features.known).toEqual(features.known);
    expect(() => decodeTwoTowerCheckpoint(bytes.subarray(0, 40), 'x.ckpt')).toThrow(/x\.ckpt/);
  });
});

describe('localrec two-tower (the real binary)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'localrec-tt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains, evaluates, runs the cold test and exports; ends with a JSON summary', async () => {
    const out = join(dir, 'tt');
    const r = await localrec(
      'two-tower',
      '--data',
      'demo:120:150:3',
      '--out',
      out,
      '--epochs',
      '2',
      '--dim',
      '16',
      '--hidden',
      '16',
      '--max-len',
      '10',
      '--shard-items',
      '50',
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/epoch 2: loss .* examples\/s/);
    expect(r.stderr).toMatch(/cold model: epoch 2/);
    const j = r.json;
    expect(j).toMatchObject({ dataset: 'demo', items: 120, users: 150, epochs: 2 });
    for (const k of ['valid', 'test']) expect(j[k]).toHaveProperty('recall100');
    expect(j.cold).toMatchObject({ items: 12 });
    expect(j.cold.test).toHaveProperty('random');
    expect(j.bytes.userTowerOnnx).toBeGreaterThan(1000);
    for (const f of ['two-tower.ckpt', 'catalog.json', 'export/manifest.json'])
      expect(existsSync(join(out, f))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, 'export', 'manifest.json'), 'utf8'));
    expect(manifest.shards.map((s: { count: number }) => s.count)).toEqual([50, 50, 20]);
    const shard = decodeShard(
      readFileSync(join(out, 'export', 'blobs', manifest.shards[0].sha256)),
    );
    expect(shard).toMatchObject({ dtype: 'int8', dim: 16, baseIndex: 1 });
    // Shard rows are the checkpoint's item vectors (int8: within one quantization step).
    const ck = decodeTwoTowerCheckpoint(readFileSync(join(out, 'two-tower.ckpt')));
    const rows = shardRowsAsFloat32(shard);
    for (let i = 0; i < rows.length; i++)
      expect(Math.abs(rows[i]! - ck.table[16 + i]!)).toBeLessThan(0.01);
    const s = await ort.InferenceSession.create(
      readFileSync(join(out, 'export', 'blobs', manifest.models.twoTower.userTower.sha256)),
    );
    // Context on by default: the demo's timestamps are unix seconds and it has no event types.
    const spec = manifest.models.twoTower.config.context;
    expect(j.context).toEqual(spec);
    expect(spec).toEqual({
      features: ['hour', 'weekday', 'gap'],
      eventTypes: [],
      trainingUtcOffsetMinutes: 0,
    });
    expect(r.stderr).toMatch(/context features: hour, weekday, gap \(10 values/);
    const y = await s.run({
      item_ids: new ort.Tensor('int64', BigInt64Array.of(0n, 3n, 5n), [1, 3]),
      context: new ort.Tensor(
        'float32',
        contextVector(spec, { time: Date.now(), utcOffsetMinutes: 0 }),
        [1, contextWidth(spec)],
      ),
    });
    expect(y['user_vec']!.dims).toEqual([1, 16]);

    // --no-context: the history alone, an encoder with one input (as before context existed).
    const plain = join(dir, 'plain');
    const p = await localrec(
      'two-tower',
      '--data',
      'demo:120:150:3',
      '--out',
      plain,
      '--epochs',
      '1',
      '--dim',
      '16',
      '--hidden',
      '16',
      '--cold-share',
      '0',
      '--no-context',
    );
    expect(p.code).toBe(0);
    expect(p.json.context).toBeNull();
    const pm = JSON.parse(readFileSync(join(plain, 'export', 'manifest.json'), 'utf8'));
    expect(pm.models.twoTower.config).not.toHaveProperty('context');
    const ps = await ort.InferenceSession.create(
      readFileSync(join(plain, 'export', 'blobs', pm.models.twoTower.userTower.sha256)),
    );
    expect(ps.inputNames).toEqual(['item_ids']);
  }, 60_000);

  it('answers --help, and bad input with a clear error and a non-zero exit', async () => {
    const help = await localrec('two-tower', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--id-dropout/);
    const noData = await localrec('two-tower');
    expect(noData.code).toBe(1);
    expect(noData.json).toMatchObject({ error: { code: 'bad-input' } });
    expect(noData.stderr).toMatch(/--data is required/);
    const badFlag = await localrec('two-tower', '--data', 'demo:50:20:1', '--id-dropout', '2');
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/--id-dropout must be a number >= 0 <= 0.95/);
    const badQ = await localrec('two-tower', '--data', 'demo:50:20:1', '--quantization', 'int4');
    expect(badQ.stderr).toMatch(/--quantization must be int8 or fp32/);
    const badCtx = await localrec('two-tower', '--data', 'demo:50:20:1', '--context', 'hour,moon');
    expect(badCtx.code).toBe(1);
    expect(badCtx.stderr).toMatch(
      /--context takes distinct features from hour, weekday, gap, type/,
    );
  }, 60_000);
});
