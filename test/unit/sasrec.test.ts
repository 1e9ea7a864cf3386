import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint } from '../../models/checkpoint.ts';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { validateModelConfig } from '../../models/sasrec/config.ts';
import { futureTargets, padFutures, sasrecLoss, seenMask } from '../../models/sasrec/loss.ts';
import { arraysToWeights, encode, initWeights, scoreAll } from '../../models/sasrec/model.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';
import { exportSasrecEncoder } from '../../models/sasrec/export-onnx.ts';
import {
  lookup,
  MASK_VALUE,
  matMul,
  padBatch,
  softCrossEntropy,
  softmaxCrossEntropy,
  weightsToArrays,
} from '../../models/tf-ops.ts';
import { buildExamples } from '../../models/training/examples.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { evaluateRanking } from '../../src/core/metrics.ts';
import { Rng } from '../../src/core/random.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { generateSyntheticCatalog, type SyntheticOptions } from '../../src/core/synthetic.ts';

const small: SasrecConfig = {
  numItems: 50,
  maxLen: 12,
  dim: 16,
  blocks: 2,
  heads: 2,
  ffnDim: 32,
  dropout: 0.2,
  layerNormEps: 1e-6,
};

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** A leave-one-out split of a seeded synthetic catalog. */
function syntheticSplit(opts: SyntheticOptions) {
  return leaveOneOut(generateSyntheticCatalog(opts).events);
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('tf-ops gradients (wasm backend)', () => {
  it('lookup: gradient is the summed rows, repeated ids included', () => {
    const table = tf.randomNormal([10, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const ids = tf.tensor1d([1, 3, 3, 0], 'int32');
    const up = tf.range(0, 16).reshape([4, 4]);
    const g = tf.grad((t) => tf.sum(tf.mul(lookup(t as tf.Tensor2D, ids), up)))(table);
    const expected = tf.matMul(tf.oneHot(ids, 10).toFloat(), up, true, false); // (10, 4)
    expect(maxAbsDiff(g, expected)).toBe(0);
    // Row 3 got two updates summed; row 2 none.
    expect(Array.from(g.slice([3, 0], [1, 4]).dataSync())).toEqual([12, 14, 16, 18]);
    expect(Array.from(g.slice([2, 0], [1, 4]).dataSync())).toEqual([0, 0, 0, 0]);
  });

  it('softmaxCrossEntropy matches tf.losses value and gradient, with masked rows', () => {
    const logits = tf.randomNormal([5, 7], 0, 2, 'float32', 2) as tf.Tensor2D;
    const labels = tf.tensor1d([1, 2, 0, 6, 3], 'int32');
    const w = tf.tensor1d([1, 1, 0, 1, 1]);
    const ref = (l: tf.Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 7), l, w);
    expect(softmaxCrossEntropy(logits, labels, w).dataSync()[0]).toBeCloseTo(
      ref(logits).dataSync()[0]!,
      5,
    );
    const ga = tf.grad((l) => softmaxCrossEntropy(l as tf.Tensor2D, labels, w))(logits);
    const gb = tf.grad((l) => ref(l))(logits);
    expect(maxAbsDiff(ga, gb)).toBeLessThan(1e-6);
  });

  it('softmaxCrossEntropy with masked pairs is bit-for-bit the one-hot soft loss over logits + a dense mask', () => {
    // Labels picked, mask and gradient written in place: the same numbers as the dense forms.
    const [rows, classes] = [6, 9];
    const logits = tf.mul(tf.randomNormal([rows, classes], 0, 1, 'float32', 7), 5) as tf.Tensor2D;
    const labels = tf.tensor1d([1, 2, 0, 8, 3, 3], 'int32');
    const w = tf.tensor1d([1, 1, 0, 1, 1, 1]);
    const pairs = [0, 4, 1, 1, 1, 7, 3, 0, 3, 2, 5, 8];
    const masked = tf.tensor2d(pairs, [pairs.length / 2, 2], 'int32');
    const dense = tf.scatterND(masked, tf.fill([pairs.length / 2], MASK_VALUE), [rows, classes]);
    const oneHot = tf.oneHot(labels, classes).toFloat() as tf.Tensor2D;
    const ref = (l: tf.Tensor) => softCrossEntropy(tf.add(l, dense) as tf.Tensor2D, oneHot, w);
    const got = (l: tf.Tensor) => softmaxCrossEntropy(l as tf.Tensor2D, labels, w, masked);
    expect(got(logits).dataSync()[0]).toBe(ref(logits).dataSync()[0]);
    expect(tf.grad(got)(logits).dataSync()).toEqual(tf.grad(ref)(logits).dataSync());
    // Unmasked, likewise.
    const plain = (l: tf.Tensor) => softCrossEntropy(l as tf.Tensor2D, oneHot, w);
    const g0 = tf.grad((l) => softmaxCrossEntropy(l as tf.Tensor2D, labels, w))(logits);
    expect(g0.dataSync()).toEqual(tf.grad(plain)(logits).dataSync());
  });

  it('matMul with explicit transposes has the same value and gradients as tf.matMul', () => {
    const a = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 3);
    const b = tf.randomNormal([2, 3, 6, 4], 0, 1, 'float32', 4);
    expect(maxAbsDiff(matMul(a, b, false, true), tf.matMul(a, b, false, true))).toBeLessThan(1e-5);
    const up = tf.randomNormal([2, 3, 5, 6], 0, 1, 'float32', 5);
    const [ga, gb] = tf.grads((x, y) => tf.sum(tf.mul(matMul(x!, y!, false, true), up)))([a, b]);
    // Reference gradient by hand: d/da = up @ b, d/db = up^T @ a.
    expect(maxAbsDiff(ga!, tf.matMul(up, b))).toBeLessThan(1e-5);
    expect(maxAbsDiff(gb!, tf.matMul(up, a, true, false))).toBeLessThan(1e-5);
  });
});

describe('SASRec model', () => {
  it('rejects configs that cannot build a model', () => {
    expect(() => validateModelConfig({ ...small, heads: 3 })).toThrow(/divisible by heads/);
    expect(() => validateModelConfig({ ...small, dropout: 1 })).toThrow(/dropout/);
    expect(() => validateModelConfig({ ...small, numItems: 0 })).toThrow(/numItems/);
  });

  it('gives the same user vector whatever the padding length (right-aligned positions, masked keys)', () => {
    const w = initWeights(small, 7);
    const seqs = [[3, 9, 4], [7], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]];
    const tight = encode(small, w, seqs); // T = min(maxLen, longest)
    for (const [i, s] of seqs.entries()) {
      const alone = encode(small, w, [s]); // T = this sequence's own length
      expect(maxAbsDiff(alone, tight.slice([i, 0], [1, -1]))).toBeLessThan(1e-5);
    }
    // Cutting to the last maxLen items is what padBatch does for long histories.
    const cut = encode(small, w, [seqs[2]!.slice(-small.maxLen)]);
    expect(maxAbsDiff(cut, tight.slice([2, 0], [1, -1]))).toBeLessThan(1e-5);
  });

  it('padBatch left-pads and keeps the most recent items', () => {
    const t = padBatch([[1, 2, 3], [4]], 2);
    expect(Array.from(t.dataSync())).toEqual([2, 3, 0, 4]);
  });

  it("seenMask hides the sequence so far from each position, except that position's target", () => {
    // One sequence, left-padded: inputs [0, 2, 3, 2], targets [0, 3, 2, 4]; 5 classes.
    const m = seenMask(
      tf.tensor2d([[0, 2, 3, 2]], [1, 4], 'int32'),
      tf.tensor2d([[0, 3, 2, 4]], [1, 4], 'int32'),
      5,
    );
    const rows = (m.arraySync() as number[][]).map((r) => r.map((x) => (x < 0 ? 1 : 0)));
    expect(rows).toEqual([
      [0, 0, 0, 0, 0], // padding position
      [0, 0, 1, 0, 0], // seen {2}, target 3
      [0, 0, 0, 1, 0], // seen {2, 3}, target 2 is a repeat: left unmasked
      [0, 0, 1, 1, 0], // seen {2, 3}, target 4
    ]);
  });

  it('both losses are finite and decrease over a few steps', () => {
    const rng = new Rng(1);
    for (const loss of [{ kind: 'full' as const }, { kind: 'sampled' as const, negatives: 16 }]) {
      const vars = Object.fromEntries(
        Object.entries(initWeights(small, 3)).map(([k, v]) => [k, tf.variable(v)]),
      );
      const opt = tf.train.adam(1e-2);
      const inputs = padBatch(
        [
          [1, 2, 3, 4, 5],
          [6, 7, 8],
        ],
        small.maxLen,
      );
      const targets = padBatch(
        [
          [2, 3, 4, 5, 6],
          [7, 8, 9],
        ],
        small.maxLen,
      );
      const losses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const l = opt.minimize(
          () => sasrecLoss(small, vars, inputs, targets, loss, rng),
          true,
          Object.values(vars),
        );
        losses.push(l!.dataSync()[0]!);
      }
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
    }
  });

  it('learns a synthetic catalog far better than popularity, picking the epoch by validation', async () => {
    const split = syntheticSplit({ items: 200, users: 400, seed: 11, minEvents: 8, maxEvents: 30 });
    const c: SasrecConfig = { ...small, numItems: split.numItems, maxLen: 30, dim: 32 };
    const r = await trainSasrec(c, split, {
      epochs: 6,
      batchSize: 32,
      learningRate: 5e-3,
      evalEvery: 1,
      patience: 3,
      seed: 1,
    });
    expect(r.bestValid).not.toBeNull();
    expect(r.history.filter((h) => h.best).at(-1)!.epoch).toBe(r.bestEpoch);
    // Popularity baseline on the same split and protocol.
    const counts = new Float32Array(split.numItems + 1);
    for (const u of split.users) for (const i of u.train) counts[i]! += 1;
    const pop = await evaluateRanking(split, 'valid', (inputs) => inputs.map(() => counts));
    expect(r.bestValid!.full.ndcg10).toBeGreaterThan(2 * pop.full.ndcg10);
    tf.dispose(Object.values(r.weights));
  }, 60_000);
});

describe('training examples', () => {
  const split = syntheticSplit({ items: 80, users: 60, seed: 9, minEvents: 5, maxEvents: 40 });

  it("without cropping: each user's last maxLen+1 training items, input shifted against target", () => {
    const ex = buildExamples(split, 10);
    const users = split.users.filter((u) => u.train.length >= 2);
    expect(ex).toHaveLength(users.length);
    ex.forEach((e, i) => {
      const s = Array.from(users[i]!.train);
      expect(Array.from(e.target)).toEqual(s.slice(-Math.min(10, s.length - 1)));
      expect(Array.from(e.input)).toEqual(s.slice(0, -1).slice(-Math.min(10, s.length - 1)));
    });
  });

  it('cropping trains on random prefixes (never past the training items) that change between epochs', () => {
    const rng = new Rng(4);
    const a = buildExamples(split, 10, 1, rng);
    const b = buildExamples(split, 10, 1, rng);
    const users = split.users.filter((u) => u.train.length >= 2);
    let shorter = 0;
    a.forEach((e, i) => {
      const s = Array.from(users[i]!.train);
      expect(e.input.length).toBeGreaterThanOrEqual(1);
      expect(e.input.length).toBe(e.target.length);
      // Synthetic users never repeat an item, so the prefix ends right after its last target.
      const end = s.indexOf(e.target[e.target.length - 1]!) + 1;
      expect(Array.from(e.target)).toEqual(s.slice(end - e.target.length, end));
      expect(Array.from(e.input)).toEqual(s.slice(end - 1 - e.input.length, end - 1));
      if (end < s.length) shorter++;
      // user/start locate the example in its training sequence (the two-tower context uses them).
      const own = split.users[e.user]!.train;
      expect(Array.from(own.subarray(e.start, e.start + e.input.length))).toEqual(
        Array.from(e.input),
      );
      expect(Array.from(own.subarray(e.start + 1, e.start + 1 + e.target.length))).toEqual(
        Array.from(e.target),
      );
    });
    expect(shorter).toBeGreaterThan(users.length / 2);
    expect(a.map((e) => e.target.length)).not.toEqual(b.map((e) => e.target.length));
  });
});

describe('learning-rate schedule', () => {
  const split = syntheticSplit({ items: 60, users: 40, seed: 2, minEvents: 5, maxEvents: 12 });
  const c: SasrecConfig = { ...small, numItems: split.numItems };
  // A rate too small to change the ranking: validation cannot improve after epoch 1.
  const frozen = { batchSize: 16, learningRate: 1e-9, evalEvery: 1, lrPatience: 1 };

  it('halves the rate after each lrPatience evaluations without a validation gain', async () => {
    const r = await trainSasrec(c, split, { ...frozen, epochs: 4, patience: 100, minEpochs: 0 });
    expect(r.history.map((h) => h.learningRate)).toEqual([undefined, 5e-10, 2.5e-10, 1.25e-10]);
    expect(r.bestEpoch).toBe(1);
  }, 30_000);

  it('neither lowers the rate nor stops early before minEpochs', async () => {
    const r = await trainSasrec(c, split, { ...frozen, epochs: 10, patience: 2, minEpochs: 4 });
    // Epochs 2 and 3 do not count; 4 and 5 do: the rate halves at each, and the run stops at 5.
    expect(r.history.map((h) => h.learningRate)).toEqual([
      undefined,
      undefined,
      undefined,
      5e-10,
      2.5e-10,
    ]);
    expect(r.stoppedBy).toBe('patience');
    expect(r.bestEpoch).toBe(1);
  }, 30_000);
});

describe('cosine scoring', () => {
  it('scores = cos(user state, item) / temperature', () => {
    const c: SasrecConfig = { ...small, cosineTemperature: 0.1 };
    const w = initWeights(c, 5);
    const seqs = [[1, 2, 3], [4]];
    const got = scoreAll(c, w, seqs).arraySync() as number[][];
    const h = encode(c, w, seqs).arraySync() as number[][];
    const table = w['item_emb']!.arraySync() as number[][];
    const norm = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    for (let b = 0; b < 2; b++) {
      for (const i of [1, 5, c.numItems]) {
        const dot = h[b]!.reduce((a, x, j) => a + x * table[i]![j]!, 0);
        expect(got[b]![i]).toBeCloseTo(dot / norm(h[b]!) / norm(table[i]!) / 0.1, 3);
      }
    }
    expect(() => validateModelConfig({ ...c, cosineTemperature: -1 })).toThrow(/cosineTemperature/);
  });
});

describe('item bias (experiment)', () => {
  it('adds a learned per-item bias to every score, trains it, and refuses to export it', async () => {
    const c: SasrecConfig = { ...small, cosineTemperature: 0.1, itemBias: true };
    const w = initWeights(c, 5);
    expect(w['item_bias']!.shape).toEqual([c.numItems + 1]);
    const bias = Float32Array.from({ length: c.numItems + 1 }, (_, i) => i / 10);
    w['item_bias'] = tf.tensor1d(bias);
    const plain = scoreAll({ ...c, itemBias: false }, w, [[1, 2, 3]]).arraySync() as number[][];
    const got = scoreAll(c, w, [[1, 2, 3]]).arraySync() as number[][];
    for (const i of [1, 5, c.numItems]) expect(got[0]![i]).toBeCloseTo(plain[0]![i]! + bias[i]!, 4);

    const split = syntheticSplit({ items: 40, users: 20, seed: 4, minEvents: 5, maxEvents: 10 });
    const cc: SasrecConfig = { ...c, numItems: split.numItems, maxLen: 10 };
    const r = await trainSasrec(cc, split, {
      epochs: 2,
      batchSize: 64,
      learningRate: 1e-2,
      evalEvery: 100,
      patience: 100,
      seed: 2,
      workers: 1,
    });
    const learned = r.weights['item_bias']!.dataSync();
    expect(Math.max(...Array.from(learned, Math.abs))).toBeGreaterThan(0);
    expect(() =>
      exportSasrecEncoder(cc, weightsToArrays(r.weights), { quantization: 'fp32' }),
    ).toThrow(/item-bias/);
  }, 30_000);
});

describe('weight averaging (EMA)', () => {
  it('returns ema = d·ema + (1−d)·w over the steps, checked against the raw weights by hand', async () => {
    const split = syntheticSplit({ items: 40, users: 20, seed: 4, minEvents: 5, maxEvents: 10 });
    const c: SasrecConfig = { ...small, numItems: split.numItems, maxLen: 10, dropout: 0 };
    // One step per epoch (batch ≥ users), no validation: the result is the final average.
    const base = {
      batchSize: 64,
      learningRate: 1e-2,
      evalEvery: 100,
      patience: 100,
      seed: 2,
      workers: 1,
    };
    const raw1 = await trainSasrec({ ...c }, split, { ...base, epochs: 1 });
    const raw2 = await trainSasrec({ ...c }, split, { ...base, epochs: 2 });
    const init = initWeights(c, new Rng(2).seed());
    const avg = await trainSasrec({ ...c }, split, { ...base, epochs: 2, emaDecay: 0.5 });
    for (const k of Object.keys(avg.weights)) {
      // ema0 = init; ema1 = .5·init + .5·w1; ema2 = .5·ema1 + .5·w2 = .25·init + .25·w1 + .5·w2.
      const want = tf.tidy(() =>
        tf.addN([
          tf.mul(init[k]!, 0.25),
          tf.mul(raw1.weights[k]!, 0.25),
          tf.mul(raw2.weights[k]!, 0.5),
        ]),
      );
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(avg.weights[k]!, want))).dataSync()[0]!);
      expect(diff, k).toBeLessThan(1e-5);
      want.dispose();
    }
    await expect(
      trainSasrec({ ...c }, split, { ...base, epochs: 1, emaDecay: 1 }),
    ).rejects.toMatchObject({
      code: 'bad-input',
    });
  }, 60_000);
});

describe('tie shuffling', () => {
  it('reorders items only inside runs of equal timestamps, a fresh order each epoch', () => {
    const events = [1, 2, 2, 2, 2, 3, 4, 4, 4, 5, 6, 7].map((ts, i) => ({
      user: 'u',
      item: `i${i}`,
      timestamp: ts,
    }));
    const split = leaveOneOut(events);
    const train = Array.from(split.users[0]!.train); // 10 items: runs at 1..4 and 6..8
    const rng = new Rng(5);
    const orders = new Set<string>();
    for (let epoch = 0; epoch < 20; epoch++) {
      const [ex] = buildExamples(split, 20, 0, rng, 0, 1);
      const seq = [ex!.input[0]!, ...Array.from(ex!.target)];
      expect([seq[0], seq[5], seq[9]]).toEqual([train[0], train[5], train[9]]);
      expect(seq.slice(1, 5).sort()).toEqual(train.slice(1, 5).sort());
      expect(seq.slice(6, 9).sort()).toEqual(train.slice(6, 9).sort());
      orders.add(seq.join(','));
    }
    expect(orders.size).toBeGreaterThan(10);
    // The split itself is never modified.
    expect(Array.from(split.users[0]!.train)).toEqual(train);
  });
});

describe('future-window targets', () => {
  it('each position lists the 2..W-th items after its input, never past the training items', () => {
    const split = syntheticSplit({ items: 80, users: 40, seed: 9, minEvents: 5, maxEvents: 30 });
    const users = split.users.filter((u) => u.train.length >= 2);
    const ex = buildExamples(split, 10, 0, undefined, 0, 0, 4);
    ex.forEach((e, n) => {
      const s = Array.from(users[n]!.train);
      expect(e.future).toHaveLength(e.input.length * 3);
      for (let i = 0; i < e.input.length; i++) {
        const at = e.start + i;
        expect(e.input[i]).toBe(s[at]);
        const want = [2, 3, 4].map((d) => s[at + d] ?? 0);
        expect(Array.from(e.future!.subarray(i * 3, i * 3 + 3))).toEqual(want);
      }
    });
    // The last position of a full sequence has no future inside the training items.
    const last = ex[0]!;
    expect(Array.from(last.future!.subarray(-3))).toEqual([0, 0, 0]);
    expect(buildExamples(split, 10)[0]!.future).toBeUndefined();
  });

  it('targets: 1-w on the next item, w shared by the items after it; the mask never hides a target', () => {
    // One sequence, left-padded to T=4: inputs [0, 1, 2, 3], next [0, 2, 3, 4], then 2 more each.
    const inputs = tf.tensor2d([[0, 1, 2, 3]], [1, 4], 'int32');
    const targets = tf.tensor2d([[0, 2, 3, 4]], [1, 4], 'int32');
    const items = padFutures([new Int32Array([3, 4, 4, 1, 0, 0])], [3], 4, 2);
    expect(Array.from(items.dataSync())).toEqual([0, 0, 3, 4, 4, 1, 0, 0]);
    const { dist, mask } = futureTargets(inputs, targets, { items, weight: 0.4 }, 6, true);
    const d = (dist.arraySync() as number[][]).map((r) => r.map((x) => +x.toFixed(3)));
    expect(d).toEqual([
      [0, 0, 0, 0, 0, 0], // padding
      [0, 0, 0.6, 0.2, 0.2, 0], // next 2, then 3 and 4
      [0, 0.2, 0, 0.6, 0.2, 0], // next 3, then 4 and 1 (1 was seen: a repeat stays a target)
      [0, 0, 0, 0, 1, 0], // next 4, nothing after it: all on the next item
    ]);
    const m = (mask!.arraySync() as number[][]).map((r) => r.map((x) => (x < 0 ? 1 : 0)));
    expect(m).toEqual([
      [0, 0, 0, 0, 0, 0], // padding
      [0, 1, 0, 0, 0, 0], // seen {1}
      [0, 0, 1, 0, 0, 0], // seen {1, 2}; 1 is a target again, so only 2 is hidden
      [0, 1, 1, 1, 0, 0], // seen {1, 2, 3}
    ]);
  });

  it('with weight 0 the loss is the plain next-item loss; the sampled loss refuses a window', () => {
    const vars = initWeights(small, 3);
    const rng = () => new Rng(1);
    const inputs = padBatch([[1, 2, 3, 4, 5]], small.maxLen);
    const targets = padBatch([[2, 3, 4, 5, 6]], small.maxLen);
    const items = padFutures([new Int32Array(10).fill(7)], [5], inputs.shape[1], 2);
    const cfg = { ...small, dropout: 0 };
    const plain = sasrecLoss(cfg, vars, inputs, targets, { kind: 'full' }, rng(), true);
    const zero = sasrecLoss(cfg, vars, inputs, targets, { kind: 'full' }, rng(), true, false, {
      items,
      weight: 0,
    });
    const some = sasrecLoss(cfg, vars, inputs, targets, { kind: 'full' }, rng(), true, false, {
      items,
      weight: 0.5,
    });
    expect(zero.dataSync()[0]).toBeCloseTo(plain.dataSync()[0]!, 6);
    expect(Math.abs(some.dataSync()[0]! - plain.dataSync()[0]!)).toBeGreaterThan(1e-3);
    expect(() =>
      sasrecLoss(
        cfg,
        vars,
        inputs,
        targets,
        { kind: 'sampled', negatives: 4 },
        rng(),
        false,
        false,
        {
          items,
          weight: 0.5,
        },
      ),
    ).toThrow(/full softmax/);
  });
});

describe('item masking', () => {
  it('drops inputs together with their targets, never the last input, at about the asked rate', () => {
    const split = syntheticSplit({ items: 80, users: 60, seed: 9, minEvents: 20, maxEvents: 40 });
    const plain = buildExamples(split, 30);
    const masked = buildExamples(split, 30, 0, new Rng(2), 0.3);
    let dropped = 0;
    let total = 0;
    masked.forEach((e, i) => {
      const p = plain[i]!;
      expect(e.input.length).toBe(p.input.length);
      expect(e.input.at(-1)).toBe(p.input.at(-1));
      for (let j = 0; j < e.input.length - 1; j++) {
        total++;
        if (e.input[j] === 0) {
          dropped++;
          expect(e.target[j]).toBe(0);
        } else {
          expect([e.input[j], e.target[j]]).toEqual([p.input[j], p.target[j]]);
        }
      }
    });
    expect(dropped / total).toBeGreaterThan(0.2);
    expect(dropped / total).toBeLessThan(0.4);
    // The split itself is untouched.
    expect(Array.from(plain[0]!.input)).toEqual(Array.from(buildExamples(split, 30)[0]!.input));
  });
});

describe('data-parallel training', () => {
  it('two threads give the weights one thread gives (dropout off, full loss)', async () => {
    const split = syntheticSplit({ items: 120, users: 150, seed: 5, minEvents: 6, maxEvents: 20 });
    const c: SasrecConfig = { ...small, numItems: split.numItems, maxLen: 20, dropout: 0 };
    for (const extra of [
      {},
      { perUserLoss: true, maskRate: 0.2 },
      { futureWindow: 3, futureWeight: 0.3 },
    ]) {
      const run = (workers: number) =>
        trainSasrec(c, split, {
          epochs: 1,
          batchSize: 32,
          learningRate: 1e-2,
          evalEvery: 100,
          seed: 3,
          workers,
          ...extra,
        });
      const one = await run(1);
      const two = await run(2);
      for (const k of Object.keys(one.weights)) {
        // The key bias shifts every score of a query equally, so softmax ignores it: its true
        // gradient is 0 and what remains is rounding noise, which Adam rescales to full steps.
        if (k.endsWith('attn.bk')) continue;
        expect(maxAbsDiff(one.weights[k]!, two.weights[k]!), k).toBeLessThan(1e-4);
      }
      // The update is real: weights moved away from a fresh init.
      expect(
        maxAbsDiff(one.weights['item_emb']!, initWeights(c, new Rng(3).seed())['item_emb']!),
      ).toBeGreaterThan(1e-3);
      expect(two.history[0]!.loss).toBeCloseTo(one.history[0]!.loss, 4);
    }
  }, 60_000);
});

describe('checkpoint codec', () => {
  it('round-trips config, meta and weights exactly', () => {
    const w = initWeights(small, 5);
    const arrays = weightsToArrays(w);
    const bytes = encodeCheckpoint({
      model: 'sasrec',
      config: small,
      meta: { itemIds: ['', 'a'] },
      weights: arrays,
    });
    const back = decodeCheckpoint<SasrecConfig>(bytes);
    expect(back.config).toEqual(small);
    expect(back.meta).toEqual({ itemIds: ['', 'a'] });
    for (const [k, a] of Object.entries(arrays)) {
      expect(back.weights[k]!.shape).toEqual(a.shape);
      expect(Array.from(back.weights[k]!.data)).toEqual(Array.from(a.data));
    }
    // A Node Buffer from readFileSync is a view into a shared pool: decoding must not care.
    const pooled = Buffer.concat([Buffer.from('padding'), Buffer.from(bytes)]).subarray(7);
    const fromBuffer = decodeCheckpoint<SasrecConfig>(pooled);
    for (const [k, a] of Object.entries(arrays))
      expect(Array.from(fromBuffer.weights[k]!.data)).toEqual(Array.from(a.data));
    const again = arraysToWeights(small, back.weights);
    expect(maxAbsDiff(again['item_emb']!, w['item_emb']!)).toBe(0);
  });

  it('rejects wrong magic, unknown versions, truncation and shape mismatches with clear errors', () => {
    const bytes = encodeCheckpoint({
      model: 'sasrec',
      config: small,
      meta: {},
      weights: weightsToArrays(initWeights(small, 5)),
    });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isLocalrecError(e) ? `${e.code}: ${e.message}` : String(e);
      }
      return 'no error';
    };
    const bad = bytes.slice();
    bad[0] = 0;
    expect(code(() => decodeCheckpoint(bad, 'x.ckpt'))).toMatch(
      /^bad-format: x\.ckpt: not a localrec checkpoint/,
    );
    const v2 = bytes.slice();
    new DataView(v2.buffer).setUint32(4, 2, true);
    expect(code(() => decodeCheckpoint(v2))).toMatch(
      /^unsupported-version: .*version 2.*reads version 1/,
    );
    expect(code(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 8)))).toMatch(
      /^bad-format: .*truncated/,
    );
    expect(code(() => decodeCheckpoint(bytes.subarray(0, 5)))).toMatch(/^bad-format: .*too short/);
    const other = { ...small, dim: 8, heads: 1 };
    expect(code(() => arraysToWeights(other, decodeCheckpoint(bytes).weights))).toMatch(
      /^bad-format: .*item_emb has shape/,
    );
  });
});
