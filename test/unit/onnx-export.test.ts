import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import {
  exportSasrecEncoder,
  quantizeSasrecWeights,
  shippedItemTable,
  type SasrecQuantization,
} from '../../models/sasrec/export-onnx.ts';
import {
  arraysToWeights,
  encode,
  initWeights,
  memberWeights,
  mergeMembers,
  scoreAll,
  userVectors,
  type SasrecWeights,
} from '../../models/sasrec/model.ts';
import { weightsToArrays } from '../../models/tf-ops.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';
import type { WeightArrays } from '../../models/weights.ts';
import { OnnxGraphBuilder } from '../../models/onnx/graph-builder.ts';
import { ENCODER_INPUT, ENCODER_OUTPUT } from '../../src/core/encoder-io.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { decodeShard, encodeShard } from '../../src/core/shard.ts';
import { scoreInt8 } from '../../src/core/topk.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';

const { onnx } = onnxProto;

let config: SasrecConfig;
let trained: WeightArrays;
let tfWeights: SasrecWeights;
/** Real training sequences, for the batch parity and top-10 checks. */
let userSeqs: Int32Array[];

function padIds(seqs: ArrayLike<number>[], maxLen: number): ort.Tensor {
  // The same layout as padBatch in model.ts: left-padded, cut to the last maxLen items.
  const T = Math.max(1, Math.min(maxLen, Math.max(...seqs.map((s) => s.length))));
  const out = new BigInt64Array(seqs.length * T);
  seqs.forEach((s, b) => {
    const n = Math.min(T, s.length);
    for (let j = 0; j < n; j++) out[b * T + T - n + j] = BigInt(s[s.length - n + j]!);
  });
  return new ort.Tensor('int64', out, [seqs.length, T]);
}

async function runOnnx(
  session: ort.InferenceSession,
  seqs: ArrayLike<number>[],
): Promise<Float32Array> {
  const out = await session.run({ [ENCODER_INPUT]: padIds(seqs, config.maxLen) });
  const y = out[ENCODER_OUTPUT]!;
  expect(y.dims).toEqual([seqs.length, config.dim]);
  return y.data as Float32Array;
}

async function runTf(w: SasrecWeights, seqs: ArrayLike<number>[]): Promise<Float32Array> {
  const t = encode(config, w, seqs);
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Edge-case batches: each pads to its own length T (T = maxLen, 5 and 1). */
function edgeBatches(): number[][][] {
  const { maxLen, numItems } = config;
  const seq = (n: number, start: number) =>
    Array.from({ length: n }, (_, i) => 1 + ((start + 7 * i) % numItems));
  return [
    [
      seq(1, 3),
      seq(maxLen, 10),
      seq(maxLen + 7, 20),
      seq(3, 40),
      seq(11, 50),
      [],
      seq(maxLen - 1, 60),
    ],
    [seq(1, 5), seq(2, 6), seq(3, 7), seq(4, 8), seq(5, 9)],
    [[numItems]],
  ];
}

const sessions = new Map<SasrecQuantization, ort.InferenceSession>();
const bytesOf = new Map<SasrecQuantization, Uint8Array>();

async function session(q: SasrecQuantization): Promise<ort.InferenceSession> {
  let s = sessions.get(q);
  if (!s) {
    const bytes = exportSasrecEncoder(config, trained, { quantization: q });
    bytesOf.set(q, bytes);
    s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    sessions.set(q, s);
  }
  return s;
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  ort.env.wasm.numThreads = 1;
  const data = generateSyntheticCatalog({
    items: 300,
    users: 300,
    seed: 7,
    minEvents: 5,
    maxEvents: 40,
  });
  const split = leaveOneOut(data.events);
  config = {
    numItems: split.numItems,
    maxLen: 20,
    dim: 32,
    blocks: 2,
    heads: 2,
    ffnDim: 64,
    dropout: 0.2,
    layerNormEps: 1e-6,
  };
  const res = await trainSasrec(config, split, {
    epochs: 5,
    batchSize: 32,
    learningRate: 3e-3,
    evalEvery: 5,
    patience: 10,
    seed: 3,
  });
  // Trained, not the init: the loss went down and LayerNorm gains moved off 1.
  expect(res.history.at(-1)!.loss).toBeLessThan(res.history[0]!.loss);
  trained = weightsToArrays(res.weights);
  tfWeights = res.weights;
  const gamma = trained['final_ln.gamma']!.data;
  expect(Math.max(...Array.from(gamma, (g) => Math.abs(g - 1)))).toBeGreaterThan(1e-3);
  userSeqs = split.users.slice(0, 64).map((u) => u.train);
}, 60_000);

describe('OnnxGraphBuilder', () => {
  it('builds a graph onnxruntime-web runs: dynamic dims, shared constants, float attributes', async () => {
    const g = new OnnxGraphBuilder('tiny');
    const x = g.input('x', 'float32', ['n', 3]);
    const w = g.float('w', [3, 2], [1, 2, 3, 4, 5, 6]);
    expect(g.scalar(20)).toBe(g.scalar(20)); // created once
    const y = g.op('MatMul', [x, w]);
    g.node('LeakyRelu', [g.op('Sub', [y, g.scalar(20)])], { alpha: { float: 0.5 } }, ['out']);
    g.output('out', 'float32', ['n', 2]);
    const s = await ort.InferenceSession.create(
      g.toBytes({ opsets: [{ domain: '', version: 17 }], irVersion: 8 }),
    );
    const r = await s.run({
      x: new ort.Tensor('float32', new Float32Array([1, 1, 1, 2, 2, 2]), [2, 3]),
    });
    // [9, 12] - 20 → leaky → [-5.5, -4]; [18, 24] - 20 → [-1, 4]
    expect(Array.from(r['out']!.data as Float32Array)).toEqual([-5.5, -4, -1, 4]);
  });

  it('refuses duplicate names, wrong data sizes and non-integer INT attributes', () => {
    const g = new OnnxGraphBuilder('bad');
    g.float('a', [2], [1, 2]);
    expect(() => g.float('a', [2], [1, 2])).toThrow(/duplicate value name a/);
    expect(() => g.float('b', [3], [1, 2])).toThrow(/needs 12 bytes, got 8/);
    expect(() => g.initializer('c', 'int4', [3], new Uint8Array(1))).toThrow(
      /needs 2 bytes, got 1/,
    );
    expect(() => g.op('LeakyRelu', ['a'], { alpha: 0.5 })).toThrow(/use \{ float: 0.5 \}/);
  });
});

describe('exportSasrecEncoder graph', () => {
  it('declares item_ids (batch, seq) int64 → user_vec (batch, dim), opset 17 / 21 and metadata', async () => {
    for (const q of ['fp32', 'int8', 'int4'] as const) {
      await session(q);
      const m = onnx.ModelProto.decode(bytesOf.get(q)!);
      const g = m.graph!;
      const input = g.input![0]!.type!.tensorType!;
      expect(g.input![0]!.name).toBe('item_ids');
      expect(input.elemType).toBe(7);
      expect(input.shape!.dim!.map((d) => d.dimParam)).toEqual(['batch', 'seq']);
      const output = g.output![0]!.type!.tensorType!;
      expect(g.output![0]!.name).toBe('user_vec');
      expect(output.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual([
        'batch',
        config.dim,
      ]);
      expect(Number(m.opsetImport!.find((o) => !o.domain)!.version)).toBe(q === 'int4' ? 21 : 17);
      const meta = Object.fromEntries(m.metadataProps!.map((p) => [p.key, p.value]));
      expect(JSON.parse(meta['localrec.sasrec.config']!)).toEqual(config);
      expect(meta['localrec.quantization']).toBe(q);
      const ops = new Set(g.node!.map((n) => n.opType));
      expect(ops.has('LayerNormalization') && ops.has('Softmax')).toBe(true);
      expect(ops.has('DequantizeLinear')).toBe(q !== 'fp32');
      expect(ops.has('GatherBlockQuantized')).toBe(q === 'int4');
    }
    const size = (q: SasrecQuantization) => bytesOf.get(q)!.length;
    const [f, i8, i4] = [size('fp32'), size('int8'), size('int4')];
    console.log(
      `SASRec encoder bytes (numItems ${config.numItems}, dim ${config.dim}): fp32 ${f}, int8 ${i8}, int4 ${i4}`,
    );
    // Tiny model: graph structure, per-row scales and float vectors are a big share here.
    expect(i8).toBeLessThan(f * 0.45);
    expect(i4).toBeLessThan(i8 * 0.8);
  });

  it('rejects missing weights and bad int4 block sizes', () => {
    const missing = { ...trained };
    delete missing['item_emb'];
    expect(() => exportSasrecEncoder(config, missing, { quantization: 'fp32' })).toThrow(
      /lack item_emb/,
    );
    try {
      exportSasrecEncoder(config, trained, { quantization: 'int4', int4BlockSize: 24 });
      expect.unreachable();
    } catch (e) {
      expect(isLocalrecError(e) && e.code === 'bad-input' && /power of two/.test(e.message)).toBe(
        true,
      );
    }
  });
});

describe('ONNX (onnxruntime-web, wasm) vs tfjs encode()', () => {
  it('fp32 matches on padded, cut, short and single-item batches (≤ 1e-3)', async () => {
    const s = await session('fp32');
    let worst = 0;
    for (const batch of [...edgeBatches(), userSeqs])
      worst = Math.max(worst, maxAbsDiff(await runOnnx(s, batch), await runTf(tfWeights, batch)));
    console.log(`fp32 ONNX vs tfjs: max |diff| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-3);
  });

  for (const q of ['int8', 'int4'] as const) {
    it(`${q} matches tfjs with the dequantized weights (≤ 1e-3)`, async () => {
      const s = await session(q);
      const deq = arraysToWeights(config, quantizeSasrecWeights(config, trained, q).dequantized);
      let worst = 0;
      for (const batch of [...edgeBatches(), userSeqs])
        worst = Math.max(worst, maxAbsDiff(await runOnnx(s, batch), await runTf(deq, batch)));
      tf.dispose(Object.values(deq));
      console.log(`${q} ONNX vs tfjs(dequantized): max |diff| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-3);
    });
  }

  it('int8 and int4 keep most of the fp32 top-10 (scores against each scheme’s own item table)', async () => {
    const { numItems, dim } = config;
    const top10 = (u: Float32Array, table: Float32Array, b: number): Set<number> => {
      const s: [number, number][] = [];
      for (let i = 1; i <= numItems; i++) {
        let d = 0;
        for (let k = 0; k < dim; k++) d += u[b * dim + k]! * table[i * dim + k]!;
        s.push([d, i]);
      }
      s.sort((a, c) => c[0] - a[0] || a[1] - c[1]);
      return new Set(s.slice(0, 10).map((x) => x[1]));
    };
    const ref = await runOnnx(await session('fp32'), userSeqs);
    const overlaps: Record<string, number> = {};
    for (const q of ['int8', 'int4'] as const) {
      const table = quantizeSasrecWeights(config, trained, q).dequantized['item_emb']!.data;
      const u = await runOnnx(await session(q), userSeqs);
      let hits = 0;
      for (let b = 0; b < userSeqs.length; b++) {
        const a = top10(ref, trained['item_emb']!.data, b);
        for (const i of top10(u, table, b)) if (a.has(i)) hits++;
      }
      overlaps[q] = hits / (10 * userSeqs.length);
    }
    console.log(
      `top-10 overlap with fp32 over ${userSeqs.length} users: int8 ${overlaps['int8']!.toFixed(3)}, int4 ${overlaps['int4']!.toFixed(3)}`,
    );
    expect(overlaps['int8']).toBeGreaterThanOrEqual(0.85);
    expect(overlaps['int4']).toBeGreaterThanOrEqual(0.5);
  });
});

describe('exportSasrecEncoder on untrained weights', () => {
  it('one block, one head: fp32 still matches (the last block is also the first)', async () => {
    const c1: SasrecConfig = { ...config, blocks: 1, heads: 1, maxLen: 8 };
    const w = initWeights(c1, 11);
    const s = await ort.InferenceSession.create(
      exportSasrecEncoder(c1, weightsToArrays(w), { quantization: 'fp32' }),
    );
    const seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11, 12, 13]];
    const ids = new BigInt64Array(3 * 8);
    seqs.forEach((sq, b) =>
      sq.slice(-8).forEach((v, j, a) => (ids[b * 8 + 8 - a.length + j] = BigInt(v))),
    );
    const y = (await s.run({ item_ids: new ort.Tensor('int64', ids, [3, 8]) }))['user_vec']!
      .data as Float32Array;
    const t = encode(c1, w, seqs);
    expect(maxAbsDiff(y, t.dataSync() as Float32Array)).toBeLessThanOrEqual(1e-3);
    tf.dispose([t, ...Object.values(w)]);
  });
});

describe('cosine scoring (cosineTemperature > 0)', () => {
  it('the int8 encoder outputs h / (|h|·T) and the int8 shard rows are unit length: scores = tfjs cos/T', async () => {
    const c: SasrecConfig = { ...config, cosineTemperature: 0.1 };
    const bytes = exportSasrecEncoder(c, trained, { quantization: 'int8' });
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const deq = quantizeSasrecWeights(c, trained, 'int8').dequantized;
    const w = arraysToWeights(c, deq);
    const seqs = userSeqs.slice(0, 16);
    const out = await s.run({ [ENCODER_INPUT]: padIds(seqs, c.maxLen) });
    const user = out[ENCODER_OUTPUT]!.data as Float32Array;
    // What the shards ship, quantized per row as `localrec export` does.
    const shard = decodeShard(
      encodeShard({
        dtype: 'int8',
        dim: c.dim,
        baseIndex: 1,
        ids: Array.from({ length: c.numItems }, (_, i) => `i${i + 1}`),
        rows: shippedItemTable(c, deq).subarray(c.dim),
      }),
    );
    const ref = scoreAll(c, w, seqs);
    const want = (await ref.data()) as Float32Array;
    ref.dispose();
    let worst = 0;
    const scores = new Float32Array(c.numItems);
    for (let b = 0; b < seqs.length; b++) {
      const u = user.subarray(b * c.dim, (b + 1) * c.dim);
      let n = 0;
      for (const x of u) n += x * x;
      expect(Math.sqrt(n) * 0.1).toBeCloseTo(1, 4); // |user_vec| = 1 / T
      scoreInt8(u, shard.int8!, shard.scales!, c.dim, scores);
      for (let i = 0; i < c.numItems; i++)
        worst = Math.max(worst, Math.abs(scores[i]! - want[b * (c.numItems + 1) + i + 1]!));
    }
    console.log(
      `cosine int8: ONNX + int8 shard vs tfjs scores, max |diff| ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-3);
    tf.dispose(Object.values(w));
  });
});

describe('ensembles (config.members > 1)', () => {
  it('the encoder outputs the members side by side; with the shipped rows the score is the members’ mean', async () => {
    const one: SasrecConfig = { ...config, cosineTemperature: 0.1 };
    const ens: SasrecConfig = { ...one, members: 2 };
    const other = weightsToArrays(initWeights(one, 9));
    const weights = mergeMembers([trained, other]);
    expect(Object.keys(weights)).toContain('m1.item_emb');
    const seqs = userSeqs.slice(0, 12);
    for (const scheme of ['fp32', 'int8'] as const) {
      const bytes = exportSasrecEncoder(ens, weights, { quantization: scheme });
      const s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
      const arrays =
        scheme === 'fp32' ? weights : quantizeSasrecWeights(ens, weights, 'int8').dequantized;
      const w = arraysToWeights(ens, arrays);
      const out = await s.run({ [ENCODER_INPUT]: padIds(seqs, ens.maxLen) });
      const user = out[ENCODER_OUTPUT]!;
      expect(user.dims).toEqual([seqs.length, 2 * ens.dim]);
      // The ONNX output is what userVectors() computes in tfjs.
      const uv = userVectors(ens, w, seqs);
      expect(maxAbsDiff(user.data as Float32Array, uv.dataSync() as Float32Array)).toBeLessThan(
        1e-4,
      );
      // Shipped rows: member 0's unit row, then member 1's; user · row = mean of cos / T.
      const table = shippedItemTable(ens, arrays);
      expect(table.length).toBe((ens.numItems + 1) * 2 * ens.dim);
      const ref = scoreAll(ens, w, seqs);
      const want = ref.dataSync() as Float32Array;
      const m0 = scoreAll(one, memberWeights(ens, w, 0), seqs).dataSync() as Float32Array;
      const m1 = scoreAll(one, memberWeights(ens, w, 1), seqs).dataSync() as Float32Array;
      let worst = 0;
      let worstMean = 0;
      const u = user.data as Float32Array;
      const D = 2 * ens.dim;
      for (let b = 0; b < seqs.length; b++) {
        for (let i = 1; i <= ens.numItems; i++) {
          let dot = 0;
          for (let j = 0; j < D; j++) dot += u[b * D + j]! * table[i * D + j]!;
          const r = b * (ens.numItems + 1) + i;
          worst = Math.max(worst, Math.abs(dot - want[r]!));
          worstMean = Math.max(worstMean, Math.abs(want[r]! - (m0[r]! + m1[r]!) / 2));
        }
      }
      expect(worst, scheme).toBeLessThan(1e-3);
      expect(worstMean, scheme).toBeLessThan(1e-4);
      tf.dispose([ref, uv, ...Object.values(w)]);
    }
    // A single member's forward pass refuses an ensemble config, naming what to use instead.
    expect(() => encode(ens, arraysToWeights(ens, weights), [[1, 2]])).toThrow(/ensemble of 2/);
  });
});
