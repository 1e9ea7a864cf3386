/**
 * The ranker worker in real Chromium: the real worker file, the real ORT (WASM and WebGPU on
 * SwiftShader), an int8 SASRec encoder and int8 shards trained and exported in Node by
 * test/setup/ranker-fixtures.ts, checked against what tfjs computed in Node.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { transfer, wrap, type Remote } from 'comlink';
import { LocalrecError, isLocalrecError } from '../../src/core/errors.ts';
import { decodeShard, encodeShard, shardRowsAsFloat32 } from '../../src/core/shard.ts';
import { registerErrorTransfer } from '../../src/client/rpc/errors-transfer.ts';
import type { Ranker, RankerLoadResult, ScoredItem } from '../../src/client/ranker/api.ts';
import type { DeviceChoice } from '../../src/client/ranker/device.ts';
import type { ExpectedCase } from '../setup/ranker-fixtures.ts';

registerErrorTransfer();
const fx = inject('rankerFixture');

const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

interface Started {
  worker: Worker;
  ranker: Remote<Ranker>;
}

function startWorker(): Started {
  const worker = new Worker(new URL('./ranker.worker.ts', import.meta.url), {
    type: 'module',
  });
  return { worker, ranker: wrap<Ranker>(worker) };
}

/** Fresh copies of the fixture bytes, transferred (not copied) to the worker as a page would. */
function loadArgs(device: DeviceChoice, shards = fx.shardsB64.map(fromB64)) {
  const encoder = fromB64(fx.encoderB64);
  return transfer({ encoder, shards, device, maxLen: fx.maxLen }, [
    encoder.buffer,
    ...shards.map((s) => s.buffer),
  ]);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/**
 * Same top-10 as the reference, where a difference is allowed only between items whose
 * reference scores are within `tol` (a genuine near-tie that float rounding may flip).
 */
function expectSameTop10(
  got: ScoredItem[],
  ref: { ids: string[]; scores: number[]; score11: number },
  tol: number,
  label: string,
) {
  expect(got.length, label).toBe(ref.ids.length);
  got.forEach((item, i) => {
    expect(item.score, `${label}: score at rank ${i}`).toBeCloseTo(ref.scores[i]!, 2);
    if (item.id === ref.ids[i]) return;
    const j = ref.ids.indexOf(item.id);
    const refScore = j >= 0 ? ref.scores[j]! : ref.score11;
    const gap = Math.abs(refScore - ref.scores[i]!);
    console.warn(
      `${label}: rank ${i} is ${item.id}, reference has ${ref.ids[i]} (reference score gap ${gap.toExponential(2)})`,
    );
    expect(
      gap,
      `${label}: rank ${i} differs from the reference by more than a near-tie`,
    ).toBeLessThan(tol);
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const nodeRef = (c: ExpectedCase) => ({ ids: c.top10, scores: c.top10Scores, score11: c.score11 });

describe('ranker worker (real Chromium, real ORT)', () => {
  const started: Started[] = [];
  const results: Record<
    'wasm' | 'webgpu',
    { load: RankerLoadResult; top: ScoredItem[][]; vecs: Float32Array[] }
  > = {} as never;

  const start = () => {
    const s = startWorker();
    started.push(s);
    return s.ranker;
  };

  afterAll(async () => {
    for (const s of started) {
      await s.ranker.dispose().catch(() => undefined);
      s.worker.terminate();
    }
  });

  for (const device of ['wasm', 'webgpu'] as const) {
    describe(`on ${device}`, () => {
      let ranker: Remote<Ranker>;
      beforeAll(async () => {
        ranker = start();
        const load = await ranker.load(loadArgs(device));
        results[device] = { load, top: [], vecs: [] };
        console.log(
          `[${device}] loaded ${load.items} items (dim ${load.dim}) in ${load.loadMs.toFixed(0)} ms: ${load.reason}`,
        );
      });

      it('loads every item on the requested device', () => {
        const { load } = results[device];
        expect(load.device).toBe(device);
        expect(load.items).toBe(fx.numItems);
        expect(load.dim).toBe(fx.dim);
        expect(load.model).toBe('sasrec');
        expect(load.kernel).toBe('wasm-simd'); // Chromium has WebAssembly SIMD
        if (device === 'webgpu') expect(load.reason).toMatch(/swiftshader/i);
      });

      // load() already ran a one-item warm-up; on ORT's old JSEP WebGPU backend that poisoned
      // every later int8 DequantizeLinear (onnxruntime#32578), which is what this caught.
      it('matches tfjs in Node: user vectors within 1e-3 and the same top-10', async () => {
        for (const c of fx.cases) {
          const vec = await ranker.encode(c.history);
          results[device].vecs.push(vec);
          const diff = maxAbsDiff(vec, c.userVec);
          expect(diff, `${c.name}: |ORT ${device} - tfjs| user vector`).toBeLessThan(1e-3);
          const r = await ranker.recommend({ history: c.history, k: 10 });
          results[device].top.push(r.items);
          expect(r.coldStart).toBe(false);
          expect(r.unknownHistory).toBe(c.history.filter((id) => id.startsWith('unknown-')).length);
          expectSameTop10(r.items, nodeRef(c), 1e-3, `${device} ${c.name}`);
        }
      });

      it('reports timings; p50/p95 over 50 warm calls', async () => {
        const c = fx.cases.find((x) => x.name === 'longest')!;
        for (let i = 0; i < 5; i++) await ranker.recommend({ history: c.history, k: 10 });
        const total: number[] = [];
        const enc: number[] = [];
        const score: number[] = [];
        const roundTrip: number[] = [];
        for (let i = 0; i < 50; i++) {
          const t0 = performance.now();
          const r = await ranker.recommend({ history: c.history, k: 10 });
          roundTrip.push(performance.now() - t0);
          total.push(r.timings.totalMs);
          enc.push(r.timings.encodeMs);
          score.push(r.timings.scoreMs);
          expect(r.timings.totalMs).toBeGreaterThanOrEqual(r.timings.encodeMs);
        }
        const fmt = (xs: number[]) =>
          `p50 ${percentile(xs, 50).toFixed(2)} / p95 ${percentile(xs, 95).toFixed(2)} ms`;
        console.log(
          `[${device}] recommend (${fx.numItems} items, history ${Math.min(c.history.length, fx.maxLen)}): ` +
            `total ${fmt(total)}; encode ${fmt(enc)}; score+topk ${fmt(score)}; page round trip ${fmt(roundTrip)}`,
        );
      });
    });
  }

  it('webgpu and wasm agree: same top-10 ids, user vectors within 1e-3', () => {
    const a = results.wasm;
    const b = results.webgpu;
    expect(a && b, 'both devices loaded').toBeTruthy();
    fx.cases.forEach((c, n) => {
      expect(
        maxAbsDiff(a.vecs[n]!, b.vecs[n]!),
        `${c.name}: |webgpu - wasm| user vector`,
      ).toBeLessThan(1e-3);
      const ref = a.top[n]!;
      expectSameTop10(
        b.top[n]!,
        { ids: ref.map((x) => x.id), scores: ref.map((x) => x.score), score11: -Infinity },
        1e-3,
        `webgpu vs wasm ${c.name}`,
      );
    });
  });

  // An ensemble (config.members = 2) is one encoder whose output holds both members and shards
  // twice as wide: nothing in the worker knows, and both devices must give Node's answers.
  for (const device of ['wasm', 'webgpu'] as const) {
    it(`an ensemble of two on ${device}: Node's user vectors and top-10`, async () => {
      const ranker = start();
      const e = fx.ensemble;
      const encoder = fromB64(e.encoderB64);
      const shard = fromB64(e.shardB64);
      const load = await ranker.load(
        transfer({ encoder, shards: [shard], device, maxLen: fx.maxLen }, [
          encoder.buffer,
          shard.buffer,
        ]),
      );
      expect(load).toMatchObject({ device, dim: 2 * fx.dim, items: fx.numItems });
      expect(e.dim).toBe(2 * fx.dim);
      for (const c of e.cases) {
        const vec = await ranker.encode(c.history);
        expect(maxAbsDiff(vec, c.userVec), `${device} ensemble ${c.name}`).toBeLessThan(1e-3);
        const r = await ranker.recommend({ history: c.history, k: 10 });
        expectSameTop10(r.items, nodeRef(c), 1e-3, `${device} ensemble ${c.name}`);
      }
    });
  }

  // The ensemble as `localrec export` ships it: int8 rows with one scale per member (shard
  // version 2). The worker must score and read back exactly the decoded shard's values.
  for (const device of ['wasm', 'webgpu'] as const) {
    it(`an ensemble's int8 shard with per-member scales on ${device}: scores of the decoded rows`, async () => {
      const ranker = start();
      const e = fx.ensemble;
      const f32 = decodeShard(fromB64(e.shardB64));
      const shard = encodeShard({
        dtype: 'int8',
        dim: f32.dim,
        baseIndex: f32.baseIndex,
        ids: f32.ids,
        rows: shardRowsAsFloat32(f32),
        segments: 2,
      });
      const decoded = decodeShard(shard.slice());
      expect(decoded).toMatchObject({ version: 2, segments: 2 });
      const rows = shardRowsAsFloat32(decoded);
      const encoder = fromB64(e.encoderB64);
      await ranker.load(
        transfer({ encoder, shards: [shard], device, maxLen: fx.maxLen }, [
          encoder.buffer,
          shard.buffer,
        ]),
      );
      const D = e.dim;
      for (const c of e.cases) {
        // Reference: Node's user vector · the decoded rows, history excluded, ties to the lower index.
        const seen = new Set(c.history);
        const scored = decoded.ids
          .map((id, r) => {
            let acc = 0;
            for (let j = 0; j < D; j++) acc += c.userVec[j]! * rows[r * D + j]!;
            return { id, r, acc };
          })
          .filter((x) => !seen.has(x.id))
          .sort((a, b) => b.acc - a.acc || a.r - b.r);
        const r = await ranker.recommend({ history: c.history, k: 10 });
        expectSameTop10(
          r.items,
          {
            ids: scored.slice(0, 10).map((x) => x.id),
            scores: scored.slice(0, 10).map((x) => x.acc),
            score11: scored[10]?.acc ?? -Infinity,
          },
          1e-3,
          `${device} int8 ensemble ${c.name}`,
        );
      }
      const v = await ranker.itemVectors({ ids: [decoded.ids[3]!] });
      expect(Array.from(v.vectors)).toEqual(Array.from(rows.subarray(3 * D, 4 * D)));
    });
  }

  describe('progressive shards and several models', () => {
    let ranker: Remote<Ranker>;
    const shardBytes = () => fx.shardsB64.map(fromB64);

    beforeAll(async () => {
      ranker = start();
    });

    it('recommends from the first shard, then from all once the rest arrive', async () => {
      const [first, second] = shardBytes();
      const firstIds = new Set(decodeShard(first!).ids);
      const secondIds = decodeShard(second!).ids;
      const load = await ranker.load(loadArgs('wasm', [first!]));
      expect(load.items).toBe(firstIds.size);
      const c = fx.cases.find((x) => x.name === 'longest')!;
      // History items of the second shard are unknown until it arrives.
      const history = [secondIds[3]!, ...c.history];
      const early = await ranker.recommend({ history, k: 10 });
      expect(early.itemsSearched).toBe(firstIds.size);
      expect(early.items.length).toBe(10);
      expect(early.items.every((x) => firstIds.has(x.id))).toBe(true);
      expect(early.unknownHistory).toBe(history.filter((id) => !firstIds.has(id)).length);
      const cold = await ranker.recommend({ history: [], k: firstIds.size + 5 });
      expect(cold.items.length).toBe(firstIds.size);

      const added = await ranker.addShards({ shards: [second!] });
      expect(added).toEqual({ items: fx.numItems, shards: 2 });
      const full = await ranker.recommend({ history: c.history, k: 10 });
      expect(full.itemsSearched).toBe(fx.numItems);
      expectSameTop10(full.items, nodeRef(c), 1e-3, 'after addShards');
    });

    it('an overlapping or corrupt shard adds nothing and keeps answers unchanged', async () => {
      const c = fx.cases[0]!;
      const before = await ranker.recommend({ history: c.history, k: 5 });
      const [, second] = shardBytes();
      const e = await rejection(ranker.addShards({ shards: [second!] }));
      expect(isLocalrecError(e) && e.code).toBe('bad-format');
      expect((e as Error).message).toMatch(/overlaps/);
      const broken = shardBytes()[0]!.slice(0, 30);
      await expect(ranker.addShards({ shards: [broken] })).rejects.toMatchObject({
        code: 'bad-format',
      });
      const after = await ranker.recommend({ history: c.history, k: 5 });
      expect(after.items).toEqual(before.items);
      expect(after.itemsSearched).toBe(fx.numItems);
    });

    it('models load side by side under their names; a missing name is not-loaded', async () => {
      const encoder = fromB64(fx.encoderB64);
      const other = await ranker.load({
        model: 'two-tower',
        encoder,
        shards: shardBytes(),
        device: 'wasm',
        maxLen: fx.maxLen,
      });
      expect(other.model).toBe('two-tower');
      const c = fx.cases[0]!;
      const a = await ranker.recommend({ history: c.history, k: 10 });
      const b = await ranker.recommend({ history: c.history, k: 10, model: 'two-tower' });
      expect(b.items).toEqual(a.items);
      const e = await rejection(ranker.recommend({ history: c.history, k: 3, model: 'nope' }));
      expect(isLocalrecError(e) && e.code).toBe('not-loaded');
      expect((e as Error).message).toMatch(/\(loaded: sasrec, two-tower\)$/);
      await expect(ranker.addShards({ model: 'nope', shards: [] })).rejects.toMatchObject({
        code: 'not-loaded',
      });
      // The WebGPU kernel (here on SwiftShader) returns exactly what the CPU kernel does.
      const gpu = await ranker.load({
        model: 'gpu-kernel',
        encoder: fromB64(fx.encoderB64),
        shards: shardBytes(),
        device: 'wasm',
        kernel: 'webgpu',
        maxLen: fx.maxLen,
      });
      expect(gpu.kernel).toBe('webgpu');
      const g = await ranker.recommend({ history: c.history, k: 10, model: 'gpu-kernel' });
      expect(g.items).toEqual(a.items);
      await expect(
        ranker.load({
          model: 'x',
          encoder: fromB64(fx.encoderB64),
          shards: shardBytes(),
          kernel: 'cuda' as never,
          maxLen: fx.maxLen,
        }),
      ).rejects.toMatchObject({ code: 'bad-input' });
      // Replacing one model with a bad load leaves both as they were.
      await expect(
        ranker.load({
          model: 'two-tower',
          encoder: fromB64(fx.encoderB64).slice(0, 100),
          shards: shardBytes(),
          device: 'wasm',
          maxLen: fx.maxLen,
        }),
      ).rejects.toMatchObject({ code: 'bad-format' });
      const b2 = await ranker.recommend({ history: c.history, k: 10, model: 'two-tower' });
      expect(b2.items).toEqual(a.items);
    });
  });

  describe('item vectors, vector search and unload', () => {
    let ranker: Remote<Ranker>;
    beforeAll(async () => {
      ranker = start();
      await ranker.load(loadArgs('wasm'));
    });

    it('itemVectors returns the stored rows (int8 dequantized) and names unknown ids', async () => {
      const shards = fx.shardsB64.map((b) => decodeShard(fromB64(b)));
      const [a, b] = shards;
      const ids = [b!.ids[2]!, 'nope', a!.ids[0]!, b!.ids[2]!];
      const r = await ranker.itemVectors({ ids });
      expect(r.dim).toBe(fx.dim);
      expect(r.ids).toEqual([b!.ids[2], a!.ids[0], b!.ids[2]]);
      expect(r.missing).toEqual(['nope']);
      expect(r.vectors.length).toBe(3 * fx.dim);
      const rowsB = shardRowsAsFloat32(b!);
      const rowsA = shardRowsAsFloat32(a!);
      expect(Array.from(r.vectors.subarray(0, fx.dim))).toEqual(
        Array.from(rowsB.subarray(2 * fx.dim, 3 * fx.dim)),
      );
      expect(Array.from(r.vectors.subarray(fx.dim, 2 * fx.dim))).toEqual(
        Array.from(rowsA.subarray(0, fx.dim)),
      );
      await expect(ranker.itemVectors({ ids: 'x' as never })).rejects.toMatchObject({
        code: 'bad-input',
      });
    });

    it("searchVector with a history's user vector gives recommend()'s answer", async () => {
      for (const c of fx.cases.slice(0, 3)) {
        const vec = await ranker.encode(c.history);
        const viaVector = await ranker.searchVector({ vector: vec, k: 10, exclude: c.history });
        const viaHistory = await ranker.recommend({ history: c.history, k: 10 });
        expect(viaVector.items).toEqual(viaHistory.items);
        expect(viaVector.itemsSearched).toBe(fx.numItems);
      }
      await expect(
        ranker.searchVector({ vector: new Float32Array(fx.dim + 1), k: 3 }),
      ).rejects.toMatchObject({ code: 'bad-input' });
      const nan = new Float32Array(fx.dim).fill(NaN);
      await expect(ranker.searchVector({ vector: nan, k: 3 })).rejects.toMatchObject({
        code: 'bad-input',
      });
    });

    it('loadItems searches at once; attachEncoder adds the encoder later', async () => {
      const c = fx.cases[0]!;
      const items = await ranker.loadItems({
        model: 'items-first',
        shards: fx.shardsB64.map(fromB64),
      });
      expect(items).toMatchObject({ model: 'items-first', items: fx.numItems, dim: fx.dim });
      await expect(
        ranker.recommend({ model: 'items-first', history: c.history, k: 3 }),
      ).rejects.toMatchObject({ code: 'not-loaded' });
      const cold = await ranker.recommend({ model: 'items-first', history: [], k: 3 });
      expect(cold.coldStart).toBe(true);
      const byVector = await ranker.searchVector({
        model: 'items-first',
        vector: Float32Array.from(c.userVec),
        k: 10,
        exclude: c.history,
      });
      expectSameTop10(byVector.items, nodeRef(c), 1e-3, 'searchVector before the encoder');
      await expect(
        ranker.attachEncoder({
          model: 'items-first',
          encoder: fromB64(fx.encoderB64).slice(0, 300),
          maxLen: fx.maxLen,
          device: 'wasm',
        }),
      ).rejects.toMatchObject({ code: 'bad-format' });
      await expect(
        ranker.attachEncoder({ model: 'nope', encoder: fromB64(fx.encoderB64), maxLen: fx.maxLen }),
      ).rejects.toMatchObject({ code: 'not-loaded' });
      // Searches go on while the encoder is being created.
      const attaching = ranker.attachEncoder({
        model: 'items-first',
        encoder: fromB64(fx.encoderB64),
        maxLen: fx.maxLen,
        device: 'wasm',
      });
      const meanwhile = await ranker.searchVector({
        model: 'items-first',
        vector: Float32Array.from(c.userVec),
        k: 3,
      });
      expect(meanwhile.items).toHaveLength(3);
      expect((await attaching).device).toBe('wasm');
      const r = await ranker.recommend({ model: 'items-first', history: c.history, k: 10 });
      expectSameTop10(r.items, nodeRef(c), 1e-3, 'after attachEncoder');
      expect(await ranker.unload('items-first')).toBe(true);
    });

    it('unload releases one model only', async () => {
      await ranker.load({ ...loadArgs('wasm'), model: 'old' });
      expect(await ranker.unload('old')).toBe(true);
      expect(await ranker.unload('old')).toBe(false);
      await expect(ranker.recommend({ model: 'old', history: [], k: 1 })).rejects.toMatchObject({
        code: 'not-loaded',
      });
      const r = await ranker.recommend({ history: fx.cases[0]!.history, k: 10 });
      expectSameTop10(r.items, nodeRef(fx.cases[0]!), 1e-3, 'after unloading another model');
    });
  });

  describe('behaviour', () => {
    let ranker: Remote<Ranker>;
    beforeAll(async () => {
      ranker = start();
    });

    it("a LocalrecError crosses the worker with its code: recommend before load → 'not-loaded'", async () => {
      const e = await rejection(ranker.recommend({ history: [], k: 3 }));
      expect(e).toBeInstanceOf(LocalrecError);
      expect(isLocalrecError(e) && e.code).toBe('not-loaded');
      expect((e as Error).message).toMatch(/call load/);
    });

    it("a corrupt shard is rejected with 'bad-format', naming the shard", async () => {
      const shards = fx.shardsB64.map(fromB64);
      shards[1]![0] = 0x58; // magic
      const e = await rejection(ranker.load(loadArgs('wasm', shards)));
      expect(isLocalrecError(e) && e.code).toBe('bad-format');
      expect((e as Error).message).toMatch(/shards\[1\]/);
      const truncated = fx.shardsB64
        .map(fromB64)
        .map((s, i) => (i === 0 ? s.slice(0, s.length - 1) : s));
      const e2 = await rejection(ranker.load(loadArgs('wasm', truncated)));
      expect(isLocalrecError(e2) && e2.code).toBe('bad-format');
      expect((e2 as Error).message).toMatch(/truncated/);
    });

    it("a corrupt encoder is rejected with 'bad-format'", async () => {
      const encoder = fromB64(fx.encoderB64).slice(0, 200);
      const e = await rejection(
        ranker.load({
          encoder,
          shards: fx.shardsB64.map(fromB64),
          device: 'wasm',
          maxLen: fx.maxLen,
        }),
      );
      expect(isLocalrecError(e) && e.code).toBe('bad-format');
    });

    it("device 'auto' picks wasm under SwiftShader and says why", async () => {
      const load = await ranker.load(loadArgs('auto'));
      expect(load.device).toBe('wasm');
      expect(load.reason).toMatch(/software/);
      expect(load.reason).toMatch(/swiftshader/i);
    });

    it('cold start: only unknown ids → items in shard order, flagged', async () => {
      const r = await ranker.recommend({ history: ['nope', 'also-nope'], k: 7 });
      expect(r.coldStart).toBe(true);
      expect(r.unknownHistory).toBe(2);
      expect(r.timings.encodeMs).toBe(0);
      expect(r.items.map((x) => x.score)).toEqual([0, 0, 0, 0, 0, 0, 0]);
      const first = await ranker.recommend({ history: [], k: 6, exclude: [r.items[1]!.id] });
      expect(first.items.map((x) => x.id)).toEqual(
        r.items.filter((_, i) => i !== 1).map((x) => x.id),
      );
      await expect(ranker.encode(['nope'])).rejects.toMatchObject({ code: 'bad-input' });
    });

    it('honours exclude and excludeHistory', async () => {
      const c = fx.cases[0]!;
      const r = await ranker.recommend({
        history: c.history,
        k: 10,
        exclude: [c.top10[0]!, c.top10[3]!],
      });
      const ids = r.items.map((x) => x.id);
      expect(ids).not.toContain(c.top10[0]);
      expect(ids).not.toContain(c.top10[3]);
      expect(ids.slice(0, 2)).toEqual([c.top10[1], c.top10[2]]);
      const all = await ranker.recommend({
        history: c.history,
        k: fx.numItems,
        excludeHistory: false,
      });
      expect(all.items.length).toBe(fx.numItems);
      expect(all.items.map((x) => x.id)).toEqual(expect.arrayContaining(c.history));
      const none = await ranker.recommend({ history: c.history, k: fx.numItems });
      expect(none.items.length).toBe(fx.numItems - new Set(c.history).size);
      await expect(ranker.recommend({ history: c.history, k: -1 })).rejects.toMatchObject({
        code: 'bad-input',
      });
    });

    it('a failed load keeps the previous model; dispose unloads it', async () => {
      const before = await ranker.recommend({ history: fx.cases[0]!.history, k: 3 });
      await expect(
        ranker.load(loadArgs('wasm', [fromB64(fx.shardsB64[0]!).slice(0, 10)])),
      ).rejects.toMatchObject({ code: 'bad-format' });
      const after = await ranker.recommend({ history: fx.cases[0]!.history, k: 3 });
      expect(after.items).toEqual(before.items);
      await ranker.dispose();
      await expect(ranker.recommend({ history: [], k: 1 })).rejects.toMatchObject({
        code: 'not-loaded',
      });
    });
  });

  describe('a two-tower user tower with context features', () => {
    const tt = fx.twoTowerContext;
    let ranker: Remote<Ranker>;
    const ttArgs = (context: typeof tt.context | null = tt.context) => ({
      model: 'two-tower',
      encoder: fromB64(tt.encoderB64),
      shards: [fromB64(tt.shardB64)],
      device: 'wasm' as const,
      maxLen: tt.maxLen,
      context,
    });

    beforeAll(async () => {
      ranker = start();
      await ranker.load(ttArgs());
    });

    it('feeds the request context to the encoder: vectors match tfjs within 1e-3, and differ by moment', async () => {
      const vecs: Float32Array[] = [];
      for (const c of tt.cases) {
        const vec = await ranker.encode(c.history, 'two-tower', c.context);
        vecs.push(vec);
        expect(maxAbsDiff(vec, c.userVec), `${c.name}: |ORT - tfjs|`).toBeLessThan(1e-3);
        const r = await ranker.recommend({
          model: 'two-tower',
          history: c.history,
          k: 5,
          context: c.context,
        });
        expect(r.coldStart).toBe(false);
        expect(r.items).toHaveLength(5);
      }
      // Same history, other moments: other user vectors.
      expect(maxAbsDiff(vecs[0]!, vecs[1]!)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(vecs[0]!, vecs[2]!)).toBeGreaterThan(1e-3);
      // No context given: "now" on this machine's clock, which still runs.
      const now = await ranker.recommend({
        model: 'two-tower',
        history: tt.cases[0]!.history,
        k: 5,
      });
      expect(now.items).toHaveLength(5);
      await expect(
        ranker.encode(tt.cases[0]!.history, 'two-tower', { time: Number.NaN }),
      ).rejects.toMatchObject({ code: 'bad-input' });
    });

    it('an encoder and a context spec that do not belong together are refused, naming why', async () => {
      const noSpec = await rejection(ranker.load({ ...ttArgs(null), model: 'x' }));
      expect(isLocalrecError(noSpec) && noSpec.code).toBe('bad-format');
      expect((noSpec as Error).message).toMatch(/takes a 'context' input/);
      // A SASRec encoder has no context input.
      const sasrec = await rejection(
        ranker.load({ ...loadArgs('wasm'), model: 'y', context: tt.context }),
      );
      expect((sasrec as Error).message).toMatch(/has no 'context' input/);
      // A spec of another width than the encoder was built for.
      const wrong = await rejection(
        ranker.load({
          ...ttArgs({ ...tt.context, features: ['hour'], eventTypes: [] }),
          model: 'z',
        }),
      );
      expect(isLocalrecError(wrong) && wrong.code).toBe('bad-format');
      expect((wrong as Error).message).toMatch(/2-value context/);
      // The model that did load is untouched.
      const r = await ranker.encode(tt.cases[0]!.history, 'two-tower', tt.cases[0]!.context);
      expect(maxAbsDiff(r, tt.cases[0]!.userVec)).toBeLessThan(1e-3);
    });
  });
});
