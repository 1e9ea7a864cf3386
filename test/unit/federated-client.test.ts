/**
 * The client's part of a round, in Node: the federated parameter set, the local fine-tuning
 * step (models/federated/local-update.ts) on the real SASRec, and the privatization of its
 * change (clip, stochastic int8 rounding, optional local noise) into a delta the server checks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initTf } from '../../src/cli/tf-node.ts';
import { decodeDelta, deltaNorm, encodeDelta } from '../../src/core/delta.ts';
import { privatizeDelta } from '../../src/core/privacy/privatize.ts';
import { Rng } from '../../src/core/random.ts';
import { localUpdate, DEFAULT_LOCAL_TRAIN } from '../../models/federated/local-update.ts';
import {
  addToWeights,
  defineParameterSet,
  parameterCount,
  parameterSetFromJson,
  parameterSetToJson,
  roundSlices,
} from '../../models/federated/parameter-set.ts';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { initWeights, mergeMembers, scoreAll, arraysToWeights } from '../../models/sasrec/model.ts';
import type { WeightArrays } from '../../models/weights.ts';

const config: SasrecConfig = {
  numItems: 40,
  maxLen: 12,
  dim: 8,
  blocks: 1,
  heads: 1,
  ffnDim: 8,
  dropout: 0.2,
  layerNormEps: 1e-6,
  cosineTemperature: 0.1,
};

function arrays(w: Record<string, tf.Tensor>): WeightArrays {
  const out: WeightArrays = {};
  for (const [k, t] of Object.entries(w))
    out[k] = { data: t.dataSync() as Float32Array, shape: [...t.shape] };
  return out;
}

const rng = (seed: number) => {
  const r = new Rng(seed);
  return () => r.next();
};

beforeAll(async () => {
  await initTf();
});

describe('the federated parameter set', () => {
  it('holds every shipped tensor, and all item rows of a small catalog', () => {
    const set = defineParameterSet(config);
    expect(set.rows).toEqual(Int32Array.from({ length: 40 }, (_, i) => i + 1));
    const names = set.slices.map((s) => s.name);
    expect(names).toContain('item_emb[rows]');
    expect(names).toContain('pos_emb');
    expect(names).toContain('blocks.0.attn.wq');
    expect(set.slices.find((s) => s.name === 'item_emb[rows]')!.shape).toEqual([40, 8]);
    // Everything but item_emb's padding row.
    const all = Object.values(arrays(initWeights(config, 1))).reduce(
      (a, t) => a + t.data.length,
      0,
    );
    expect(parameterCount(set)).toBe(all - 8);
    expect(roundSlices(set)[0]).toEqual({ name: set.slices[0]!.name, shape: set.slices[0]!.shape });
  });

  it('takes the most popular rows of a large catalog, ascending, the same for everyone', () => {
    const popularity = Array.from({ length: 41 }, (_, i) => (i * 7) % 13);
    const set = defineParameterSet(config, popularity, 5);
    expect(set.rows.length).toBe(5);
    for (const r of set.rows) expect(popularity[r]).toBeGreaterThanOrEqual(11);
    expect([...set.rows]).toEqual([...set.rows].sort((a, b) => a - b));
    expect(defineParameterSet(config, popularity, 5).rows).toEqual(set.rows);
    expect(() => defineParameterSet(config, undefined, 5)).toThrow(/popularity/);
  });

  it('round-trips through JSON and refuses a set that does not fit the model', () => {
    const set = defineParameterSet({ ...config, members: 2 });
    const back = parameterSetFromJson(parameterSetToJson(set), { ...config, members: 2 });
    expect(back).toEqual(set);
    expect(() => parameterSetFromJson(parameterSetToJson(set), config)).toThrow(/lacks/);
    const json = parameterSetToJson(defineParameterSet(config));
    json.rows = [3, 2];
    expect(() => parameterSetFromJson(json, config)).toThrow(/ascending/);
  });

  it('adds an update into exactly the set’s values', () => {
    const popularity = Array.from({ length: 41 }, (_, i) => i);
    const set = defineParameterSet(config, popularity, 3); // rows 38, 39, 40
    const w = arrays(initWeights(config, 2));
    const update = new Float64Array(parameterCount(set)).fill(0.5);
    const next = addToWeights(set, w, update);
    const emb = next['item_emb']!;
    expect(emb.data[39 * 8]).toBeCloseTo(w['item_emb']!.data[39 * 8]! + 0.5, 6);
    expect(emb.data[10 * 8]).toBe(w['item_emb']!.data[10 * 8]); // not in the set
    expect(next['pos_emb']!.data[0]).toBeCloseTo(w['pos_emb']!.data[0]! + 0.5, 6);
    expect(w['pos_emb']!.data[0]).not.toBeCloseTo(next['pos_emb']!.data[0]!, 6); // input untouched
    expect(() => addToWeights(set, w, new Float64Array(3))).toThrow(/does not fit/);
  });
});

describe('localUpdate', () => {
  const seq = Int32Array.from([3, 7, 3, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 2]);

  it('fine-tunes toward the visitor’s next items: base + change scores them higher', async () => {
    const base = arrays(initWeights(config, 3));
    const set = defineParameterSet(config);
    const up = await localUpdate(
      config,
      base,
      set,
      seq,
      { ...DEFAULT_LOCAL_TRAIN, steps: 8, learningRate: 1e-2 },
      5,
    );
    expect(up).not.toBeNull();
    expect(up!.slices.length).toBe(set.slices.length);
    expect(up!.losses[0]!.length).toBe(8);
    const flat = Float64Array.from(up!.slices.flatMap((s) => [...s]));
    expect(flat.some((x) => x !== 0)).toBe(true);
    const after = addToWeights(set, base, flat);
    const target = (w: WeightArrays) => {
      const s = scoreAll(config, arraysToWeights(config, w), [seq.subarray(0, 10)]);
      const row = s.dataSync();
      s.dispose();
      return row[seq[10]!]! - Math.max(...Array.from(row).slice(1));
    };
    expect(target(after)).toBeGreaterThan(target(base));
  });

  it('is deterministic given its seed, changes every member of an ensemble, and needs two items', async () => {
    const c2 = { ...config, members: 2 };
    const base = arrays(mergeMembers([initWeights(config, 4), initWeights(config, 5)]));
    const set = defineParameterSet(c2);
    const a = await localUpdate(c2, base, set, seq, DEFAULT_LOCAL_TRAIN, 9);
    const b = await localUpdate(c2, base, set, seq, DEFAULT_LOCAL_TRAIN, 9);
    expect(a!.slices).toEqual(b!.slices);
    for (const m of ['m0.', 'm1.']) {
      const i = set.slices.findIndex((s) => s.name === `${m}blocks.0.attn.wq`);
      expect(a!.slices[i]!.some((x) => x !== 0)).toBe(true);
    }
    expect(
      await localUpdate(c2, base, set, Int32Array.from([4]), DEFAULT_LOCAL_TRAIN, 1),
    ).toBeNull();
    await expect(
      localUpdate(c2, base, set, Int32Array.from([4, 41]), DEFAULT_LOCAL_TRAIN, 1),
    ).rejects.toThrow(/not an item index/);
    await expect(
      localUpdate(c2, base, set, seq, { ...DEFAULT_LOCAL_TRAIN, steps: 0 }, 1),
    ).rejects.toThrow(/steps/);
  });

  it('leaves no tensors behind', async () => {
    const base = arrays(initWeights(config, 6));
    const set = defineParameterSet(config);
    const before = tf.memory().numTensors;
    await localUpdate(config, base, set, seq, DEFAULT_LOCAL_TRAIN, 1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('privatizeDelta', () => {
  const round = { roundId: 4, baseVersion: 'v1' };

  it('clips to the bound and rounds without bias', () => {
    const x = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 0.01);
    const norm = Math.hypot(...x);
    const C = norm / 2;
    const { delta, normBeforeClip, clipped } = privatizeDelta({
      ...round,
      clipNorm: C,
      slices: [x],
      random: rng(1),
    });
    expect(normBeforeClip).toBeCloseTo(norm, 6);
    expect(clipped).toBe(true);
    expect(deltaNorm(delta)).toBeLessThanOrEqual(C);
    // Fitted to the bound, not shrunk far below it by the room left for rounding.
    expect(deltaNorm(delta)).toBeGreaterThan(C * 0.995);
    // Decodes as the server reads it.
    expect(decodeDelta(encodeDelta(delta)).slices[0]!.values).toEqual(delta.slices[0]!.values);
    // Unbiased: the mean of many roundings of a value between two steps is that value.
    const tiny = Float32Array.from([1, 0.3, -0.3]); // 0.3 sits between steps 38 and 39 of 1/127
    let sum = 0;
    const u = rng(2);
    for (let i = 0; i < 4000; i++) {
      const d = privatizeDelta({ ...round, clipNorm: 10, slices: [tiny], random: u }).delta;
      sum += d.slices[0]!.scale * d.slices[0]!.values[1]!;
    }
    expect(sum / 4000).toBeCloseTo(0.3, 3);
    // Round-to-nearest would always give 38/127 or 39/127, off by up to half a step (0.004).
    expect(Math.abs(sum / 4000 - 0.3)).toBeLessThan(0.0008);
  });

  it('keeps a change under the bound as it is (up to rounding)', () => {
    const x = Float32Array.from([0.1, -0.2, 0.05]);
    const { delta, clipped } = privatizeDelta({
      ...round,
      clipNorm: 1,
      slices: [x],
      random: rng(3),
    });
    expect(clipped).toBe(false);
    const s = delta.slices[0]!;
    for (let i = 0; i < 3; i++)
      expect(Math.abs(s.scale * s.values[i]! - x[i]!)).toBeLessThanOrEqual(s.scale);
  });

  it('adds local noise when asked, and still meets the bound', () => {
    const x = Float32Array.from({ length: 500 }, () => 0);
    x[0] = 0.1;
    const { delta } = privatizeDelta({
      ...round,
      clipNorm: 1,
      slices: [x],
      localNoise: 1,
      random: rng(4),
    });
    expect(deltaNorm(delta)).toBeLessThanOrEqual(1);
    expect(delta.slices[0]!.values.filter((v) => v !== 0).length).toBeGreaterThan(400);
  });

  it('refuses non-finite values, a bad bound, negative noise', () => {
    expect(() =>
      privatizeDelta({ ...round, clipNorm: 1, slices: [Float32Array.from([NaN])] }),
    ).toThrow(/finite/);
    expect(() =>
      privatizeDelta({ ...round, clipNorm: 0, slices: [Float32Array.from([1])] }),
    ).toThrow(/clip norm/);
    expect(() =>
      privatizeDelta({ ...round, clipNorm: 1, slices: [Float32Array.from([1])], localNoise: -1 }),
    ).toThrow(/localNoise/);
  });
});
