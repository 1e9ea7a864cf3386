/**
 * Request-context features of the two-tower user tower: the vector (src/core/context.ts), the
 * split's timestamps, the training contexts (models/two-tower/context.ts), training with them
 * on data where only the hour tells the next item, the ONNX export's `context` input against
 * tfjs. (The manifest side — old models without context, new ones with — is in
 * recommender-logic.test.ts; the ranker feeding it in a worker in test/browser/ranker.test.ts.)
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weightsToArrays } from '../../models/tf-ops.ts';
import {
  decodeTwoTowerCheckpoint,
  encodeTwoTowerCheckpoint,
} from '../../models/two-tower/checkpoint.ts';
import { removeItems } from '../../models/two-tower/cold.ts';
import { configFor, type TwoTowerConfig } from '../../models/two-tower/config.ts';
import { buildContextTable, contextSpecFor, stageContext } from '../../models/two-tower/context.ts';
import { exportTwoTowerUserTower, quantizeUserTower } from '../../models/two-tower/export-onnx.ts';
import { buildItemFeatures, type ItemFeatures } from '../../models/training/item-features.ts';
import {
  arraysToWeights,
  encodeUsers,
  initWeights,
  itemTable,
} from '../../models/two-tower/model.ts';
import {
  evaluateTwoTower,
  makeTwoTowerScorer,
  trainTwoTower,
  type TwoTowerTrainResult,
} from '../../models/two-tower/train.ts';
import { ENCODER_CONTEXT_INPUT, ENCODER_INPUT, ENCODER_OUTPUT } from '../../src/core/encoder-io.ts';
import {
  canonicalEventType,
  clockScale,
  contextVector,
  contextWidth,
  localUtcOffsetMinutes,
  parseContextSpec,
  type ContextSpec,
} from '../../src/core/context.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { fullRanks } from '../../src/core/metrics.ts';
import { Rng } from '../../src/core/random.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import type { Interaction, SplitData } from '../../src/core/types.ts';

const { onnx } = onnxProto;

const ALL: ContextSpec = {
  features: ['hour', 'weekday', 'gap', 'type'],
  eventTypes: ['click', 'purchase'],
  trainingUtcOffsetMinutes: 0,
};
const HOUR = 3_600_000;
/** log(1 + one year in seconds): the gap feature's unit. */
const YEAR_LOG = Math.log1p(365 * 86_400);

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

describe('the context vector', () => {
  it('hour (sin, cos), weekday one-hot, log gap and previous type, hand-checked', () => {
    expect(contextWidth(ALL)).toBe(2 + 7 + 1 + 3);
    expect(contextWidth(null)).toBe(0);
    // ML-100K's first rating: 881250949 s = Thursday 1997-12-04 15:55:49 UTC.
    const t = 881250949 * 1000;
    const v = contextVector(ALL, {
      time: t,
      utcOffsetMinutes: 0,
      previousTime: t - HOUR,
      previousType: 'purchase',
    });
    const h = 15 + 55 / 60 + 49 / 3600;
    expect(v[0]).toBeCloseTo(Math.sin((2 * Math.PI * h) / 24), 6);
    expect(v[1]).toBeCloseTo(Math.cos((2 * Math.PI * h) / 24), 6);
    expect(Array.from(v.subarray(2, 9))).toEqual([0, 0, 0, 0, 1, 0, 0]); // Sunday first: Thursday = 4
    expect(v[9]).toBeCloseTo(Math.log1p(3600) / YEAR_LOG, 6);
    expect(Array.from(v.subarray(10))).toEqual([0, 0, 1]); // [other, click, purchase]

    // The visitor's offset moves hour and day: US Eastern (−5 h) is 10:55 the same Thursday.
    const east = contextVector(ALL, { time: t, utcOffsetMinutes: -300 });
    const he = 10 + 55 / 60 + 49 / 3600;
    expect(east[0]).toBeCloseTo(Math.sin((2 * Math.PI * he) / 24), 6);
    expect(east[1]).toBeCloseTo(Math.cos((2 * Math.PI * he) / 24), 6);
    expect(east[2 + 4]).toBe(1);
    // No previous event: gap 0 and the "other/none" type slot.
    expect(east[9]).toBe(0);
    expect(Array.from(east.subarray(10))).toEqual([1, 0, 0]);

    // Sunday 2026-11-22 23:30 UTC is Monday 00:30 at +1 h and Sunday 18:30 at −5 h.
    const sun = Date.UTC(2026, 10, 22, 23, 30);
    const only = (f: ContextSpec['features']): ContextSpec => ({
      ...ALL,
      features: f,
      eventTypes: [],
    });
    expect(
      Array.from(contextVector(only(['weekday']), { time: sun, utcOffsetMinutes: 0 })),
    ).toEqual([1, 0, 0, 0, 0, 0, 0]);
    expect(
      Array.from(contextVector(only(['weekday']), { time: sun, utcOffsetMinutes: 60 })),
    ).toEqual([0, 1, 0, 0, 0, 0, 0]);
    const paris = contextVector(only(['hour']), { time: sun, utcOffsetMinutes: 60 });
    expect(paris[0]).toBeCloseTo(Math.sin((2 * Math.PI * 0.5) / 24), 6);
    // 23:59:59 and 00:00:00 are neighbours on the circle.
    const a = contextVector(only(['hour']), {
      time: Date.UTC(2026, 0, 1, 23, 59, 59),
      utcOffsetMinutes: 0,
    });
    const b = contextVector(only(['hour']), { time: Date.UTC(2026, 0, 2), utcOffsetMinutes: 0 });
    expect(Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!)).toBeLessThan(1e-3);

    // A type not in the vocabulary (or missing) is the "other" slot; a gap is never negative
    // and is capped (2 = about a century).
    const view = contextVector(ALL, { time: t, utcOffsetMinutes: 0, previousType: 'view' });
    expect(Array.from(view.subarray(10))).toEqual([1, 0, 0]);
    // A log's or a page's other names for the same type land in the same slot.
    for (const name of ['Transaction', 'buy', 'ORDER', 'purchase'])
      expect(
        Array.from(
          contextVector(ALL, { time: t, utcOffsetMinutes: 0, previousType: name }).subarray(10),
        ),
        name,
      ).toEqual([0, 0, 1]);
    expect(canonicalEventType('Add_To_Cart')).toBe('add-to-cart');
    expect(canonicalEventType('page view')).toBe('view');
    expect(canonicalEventType('share')).toBe('share');
    expect(contextVector(ALL, { time: t, utcOffsetMinutes: 0, previousTime: t + HOUR })[9]).toBe(0);
    expect(contextVector(ALL, { time: t, utcOffsetMinutes: 0, previousTime: -1e18 })[9]).toBe(2);
    // Written in place at an offset.
    const out = new Float32Array(3 + contextWidth(ALL)).fill(9);
    contextVector(ALL, { time: t, utcOffsetMinutes: 0 }, out, 3);
    expect(out[2]).toBe(9);
    expect(out[3]).toBeCloseTo(v[0]!, 6);
    expect(codeOf(() => contextVector(ALL, { time: NaN, utcOffsetMinutes: 0 }))).toBe('bad-input');
    expect(localUtcOffsetMinutes(t)).toBe(-new Date(t).getTimezoneOffset() || 0);
  });

  it('reads specs strictly (unknown features are a clear error) and tells clock times from counters', () => {
    expect(parseContextSpec(undefined)).toBeNull();
    expect(parseContextSpec(null)).toBeNull();
    expect(parseContextSpec(JSON.parse(JSON.stringify(ALL)))).toEqual(ALL);
    const bad = (v: unknown) => () => parseContextSpec(v, 'cfg.context');
    expect(codeOf(bad({ ...ALL, features: ['hour', 'moon'] }))).toBe('bad-format');
    expect(bad({ ...ALL, features: ['hour', 'moon'] })).toThrow(
      /cfg\.context: unknown feature "moon"/,
    );
    expect(bad({ ...ALL, features: ['hour', 'hour'] })).toThrow(/twice/);
    expect(bad({ ...ALL, features: [] })).toThrow(/non-empty/);
    expect(bad({ ...ALL, features: ['hour'] })).toThrow(/type feature is not used/);
    expect(bad({ ...ALL, trainingUtcOffsetMinutes: '0' })).toThrow(/trainingUtcOffsetMinutes/);
    expect(bad([1])).toThrow(/not an object/);

    expect(clockScale([881250949, 893286638])).toBe(1000); // ML-100K: unix seconds
    expect(clockScale([1.7e12, 1.8e12])).toBe(1); // epoch ms (ISO dates parse to these)
    expect(clockScale([0, 1, 2, 99_999])).toBeNull(); // line numbers (the SASRec text format)
    expect(clockScale([])).toBeNull();
  });
});

/** Events of users whose next item is a "day" item (1..30) from 06:00 to 18:00 UTC, else a "night" item (31..60). */
function hourDataset(users: number, events: number, seed: number): Interaction[] {
  const rng = new Rng(seed);
  const out: Interaction[] = [];
  for (let u = 0; u < users; u++) {
    let t = 1_700_000_000 + rng.int(10_000_000); // unix seconds, 2023
    const seen = new Set<number>();
    for (let e = 0; e < events; e++) {
      t += 3600 + rng.int(30 * 3600);
      const day = Math.floor((t % 86_400) / 3600) >= 6 && Math.floor((t % 86_400) / 3600) < 18;
      let item: number;
      do item = (day ? 1 : 31) + rng.int(30);
      while (seen.has(item));
      seen.add(item);
      out.push({
        user: `u${u}`,
        item: String(item),
        timestamp: t,
        type: rng.next() < 0.5 ? 'view' : 'click',
      });
    }
  }
  return out;
}

describe('training contexts from the split', () => {
  it('leaveOneOut keeps times and types in time order only when asked', () => {
    const events: Interaction[] = [
      { user: 'a', item: 'x', timestamp: 30, type: 'click' },
      { user: 'a', item: 'y', timestamp: 10 },
      { user: 'a', item: 'z', timestamp: 20, type: 'view' },
      { user: 'b', item: 'x', timestamp: 5 },
    ];
    expect(leaveOneOut(events).users[0]!.times).toBeUndefined();
    const s = leaveOneOut(events, { keepTimes: true });
    expect(Array.from(s.users[0]!.times!)).toEqual([10, 20, 30]);
    expect(s.users[0]!.types).toEqual(['', 'view', 'click']);
    expect(Array.from(s.users[1]!.times!)).toEqual([5]);
    const untyped = leaveOneOut([{ user: 'a', item: 'x', timestamp: 1 }], { keepTimes: true });
    expect(untyped.users[0]!.types).toBeUndefined();
  });

  it('row k is the context of predicting event k: its time, the previous event and its type', () => {
    const split = leaveOneOut(hourDataset(20, 6, 1), { keepTimes: true });
    const { spec, notes } = contextSpecFor(split);
    expect(spec).toEqual({
      features: ['hour', 'weekday', 'gap', 'type'],
      eventTypes: expect.arrayContaining(['view', 'click']),
      trainingUtcOffsetMinutes: 0,
    });
    expect(notes).toEqual([]);
    const table = buildContextTable(spec!, split);
    const C = contextWidth(spec!);
    expect(table.width).toBe(C);
    const u = split.users[3]!;
    for (const k of [0, 1, 5]) {
      const want = contextVector(spec!, {
        time: u.times![k]! * 1000,
        utcOffsetMinutes: 0,
        previousTime: k > 0 ? u.times![k - 1]! * 1000 : null,
        previousType: k > 0 ? u.types![k - 1]! : null,
      });
      expect(Array.from(table.users[3]!.subarray(k * C, (k + 1) * C))).toEqual(Array.from(want));
    }
    // Validation = event train.length, test = the one after.
    const valid = stageContext(table, split, [3], 'valid');
    const test = stageContext(table, split, [3], 'test');
    expect(Array.from(valid)).toEqual(Array.from(table.users[3]!.subarray(4 * C, 5 * C)));
    expect(Array.from(test)).toEqual(Array.from(table.users[3]!.subarray(5 * C, 6 * C)));

    // Removing items for the cold test removes their timestamps too.
    const cold = new Uint8Array(split.numItems + 1);
    cold[u.train[1]!] = 1;
    const cs = removeItems(split, cold).users[3]!;
    expect(cs.times!.length).toBe(cs.train.length + 2);
    expect(Array.from(cs.times!)).toEqual(Array.from(u.times!).filter((_, k) => k !== 1));

    // A spec the data cannot support: offsets, counters, no types.
    const offset = contextSpecFor(split, { features: ['hour'], utcOffsetMinutes: -300 }).spec;
    expect(offset).toEqual({ features: ['hour'], eventTypes: [], trainingUtcOffsetMinutes: -300 });
    const counters = leaveOneOut(
      [0, 1, 2, 3].map((i) => ({ user: 'a', item: `i${i}`, timestamp: i })),
      { keepTimes: true },
    );
    const none = contextSpecFor(counters);
    expect(none.spec).toBeNull();
    expect(none.notes.join('\n')).toMatch(/not clock times[\s\S]*fewer than two types/);
    expect(
      codeOf(() => buildContextTable({ ...ALL, eventTypes: [], features: ['hour'] }, counters)),
    ).toBe('bad-input');
    expect(() => buildContextTable(spec!, leaveOneOut(hourDataset(2, 4, 1)))).toThrow(
      /no timestamps/,
    );
  });
});

describe('a user tower with context', () => {
  let split: SplitData;
  let features: ItemFeatures;
  let withCtx: TwoTowerConfig;
  let without: TwoTowerConfig;
  let trained: TwoTowerTrainResult;
  let baseline: TwoTowerTrainResult;
  const settings = {
    epochs: 12,
    batchSize: 32,
    learningRate: 5e-3,
    evalEvery: 4,
    patience: 10,
    cropRate: 0,
    emaDecay: 0,
    idDropout: 0,
    seed: 5,
  };

  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    ort.env.wasm.numThreads = 1;
    split = leaveOneOut(hourDataset(300, 16, 7), { keepTimes: true });
    features = buildItemFeatures(split, [], { titleBuckets: 8 });
    const model = { maxLen: 15, dim: 16, hidden: 32, recencyDecay: 0.8, temperature: 0.1 };
    without = configFor(features, model);
    withCtx = configFor(features, model, contextSpecFor(split).spec);
    [trained, baseline] = [
      await trainTwoTower(withCtx, split, features, settings),
      await trainTwoTower(without, split, features, settings),
    ];
  }, 300_000);

  afterAll(() => {
    tf.dispose(Object.values(trained.weights));
    tf.dispose(Object.values(baseline.weights));
  });

  it('learns what only the hour tells: beats the same model without context on test', async () => {
    expect(withCtx.context?.features).toEqual(['hour', 'weekday', 'gap', 'type']);
    expect(trained.history.at(-1)!.loss).toBeLessThan(trained.history[0]!.loss);
    const a = (await evaluateTwoTower(withCtx, trained.weights, features, split, 'test')).metrics;
    const b = (await evaluateTwoTower(without, baseline.weights, features, split, 'test')).metrics;
    console.log(
      `hour-driven data, test HR@10 / NDCG@10: with context ${a.hr10.toFixed(3)} / ${a.ndcg10.toFixed(3)}, ` +
        `without ${b.hr10.toFixed(3)} / ${b.ndcg10.toFixed(3)}`,
    );
    // Without context the next item's half of the catalog is a coin flip; with it, known.
    expect(a.hr10).toBeGreaterThan(b.hr10 + 0.1);
    expect(a.ndcg10).toBeGreaterThan(b.ndcg10 * 1.3);
    // A scorer of a context model needs the split's times, and says so.
    expect(() => makeTwoTowerScorer(withCtx, trained.weights, features)).toThrow(
      /context features/,
    );
    const s = makeTwoTowerScorer(withCtx, trained.weights, features, { split });
    await expect(fullRanks(split, 'test', s.score, { users: [0, 1] })).resolves.toBeDefined();
    await expect(s.score([Int32Array.of(1)], { users: [], stage: 'test' })).rejects.toThrow(
      /context has 0 values/,
    );
    s.dispose();
  });

  it('the ONNX user tower takes `context` (batch, C) and matches tfjs (fp32, int8) within 1e-3', async () => {
    const arrays = weightsToArrays(trained.weights);
    const tableT = itemTable(withCtx, trained.weights, features);
    const table = tableT.dataSync() as Float32Array;
    tableT.dispose();
    const C = contextWidth(withCtx.context);
    const ctxTable = buildContextTable(withCtx.context!, split);
    const users = Array.from({ length: 40 }, (_, i) => i);
    const seqs = users.map((u) => [...split.users[u]!.train, split.users[u]!.valid]);
    const ctx = stageContext(ctxTable, split, users, 'test'); // (40, C)
    for (const q of ['fp32', 'int8'] as const) {
      const bytes = exportTwoTowerUserTower(withCtx, arrays, table, { quantization: q });
      const m = onnx.ModelProto.decode(bytes);
      expect(m.graph!.input!.map((i) => i.name)).toEqual([ENCODER_INPUT, ENCODER_CONTEXT_INPUT]);
      const ci = m.graph!.input![1]!.type!.tensorType!;
      expect(ci.elemType).toBe(1); // float32
      expect(ci.shape!.dim!.map((d) => (d.dimValue ? Number(d.dimValue) : d.dimParam))).toEqual([
        'batch',
        C,
      ]);
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
      const deq = quantizeUserTower(withCtx, arrays, table, q).dequantized;
      const w = arraysToWeights(withCtx, { ...arrays, ...deq });
      const t = tf.tensor2d(deq['item_vectors']!.data, [withCtx.numItems + 1, withCtx.dim]);
      let worst = 0;
      // Batches padded to different lengths, and one user alone.
      for (const [from, to] of [
        [0, 40],
        [7, 8],
        [10, 25],
      ] as const) {
        const batch = seqs.slice(from, to);
        const T = Math.min(withCtx.maxLen, Math.max(...batch.map((s) => s.length)));
        const ids = new BigInt64Array(batch.length * T);
        batch.forEach((s, b) => {
          const n = Math.min(T, s.length);
          for (let j = 0; j < n; j++) ids[b * T + T - n + j] = BigInt(s[s.length - n + j]!);
        });
        const c = ctx.slice(from * C, to * C);
        const y = (
          await session.run({
            [ENCODER_INPUT]: new ort.Tensor('int64', ids, [batch.length, T]),
            [ENCODER_CONTEXT_INPUT]: new ort.Tensor('float32', c, [batch.length, C]),
          })
        )[ENCODER_OUTPUT]!;
        const ref = encodeUsers(withCtx, w, t, batch, c).dataSync();
        const got = y.data as Float32Array;
        expect(got.length).toBe(ref.length);
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
      }
      console.log(`${q} ONNX (with context) vs tfjs: max |diff| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-3);
      // The context changes the vector: the same history at another hour encodes differently.
      const one = BigInt64Array.from(seqs[0]!.slice(-withCtx.maxLen), (i) => BigInt(i));
      const run = async (time: number) =>
        (
          await session.run({
            [ENCODER_INPUT]: new ort.Tensor('int64', one, [1, one.length]),
            [ENCODER_CONTEXT_INPUT]: new ort.Tensor(
              'float32',
              contextVector(withCtx.context!, { time, utcOffsetMinutes: 0 }),
              [1, C],
            ),
          })
        )[ENCODER_OUTPUT]!.data as Float32Array;
      const noon = await run(Date.UTC(2026, 10, 22, 12));
      const night = await run(Date.UTC(2026, 10, 22, 0));
      expect(Math.max(...noon.map((x, i) => Math.abs(x - night[i]!)))).toBeGreaterThan(1e-3);
      tf.dispose([t, ...Object.values(w)]);
      await session.release();
    }
    // Without context the graph keeps its one input.
    const plain = onnx.ModelProto.decode(
      exportTwoTowerUserTower(without, weightsToArrays(baseline.weights), table, {
        quantization: 'int8',
      }),
    );
    expect(plain.graph!.input!.map((i) => i.name)).toEqual([ENCODER_INPUT]);
  });

  it('tfjs refuses a missing or mis-sized context; checkpoints keep the spec', () => {
    const w = initWeights(withCtx, 1);
    const t = tf.zeros([withCtx.numItems + 1, withCtx.dim]) as tf.Tensor2D;
    expect(codeOf(() => encodeUsers(withCtx, w, t, [[1, 2]]))).toBe('bad-input');
    expect(() => encodeUsers(withCtx, w, t, [[1, 2]], new Float32Array(3))).toThrow(/3 values/);
    expect(() =>
      encodeUsers(without, initWeights(without, 1), t, [[1]], new Float32Array(1)),
    ).toThrow(/no context/);
    expect(w['user.w1']!.shape).toEqual([2 * 16 + contextWidth(withCtx.context), 32]);
    const ck = decodeTwoTowerCheckpoint(
      encodeTwoTowerCheckpoint({
        config: withCtx,
        weights: weightsToArrays(w),
        table: new Float32Array((withCtx.numItems + 1) * withCtx.dim),
        features,
        meta: { itemIds: split.itemIds },
      }),
    );
    expect(ck.config.context).toEqual(withCtx.context);
    expect(ck.weights['user.w1']!.shape).toEqual(w['user.w1']!.shape);
    tf.dispose([t, ...Object.values(w)]);
  });
});
