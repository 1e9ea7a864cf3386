/**
 * The top-k engine: every kernel returns exactly the plain TypeScript kernel's indices and
 * scores (one shared suite, run per kernel), the TypeScript kernel matches a naive full sort,
 * the engine rejects bad input, and the committed WASM bytes are what the .wat compiles to.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { f32AtMost } from '../../src/core/kernels/exact-best.ts';
import { createWasmKernel } from '../../src/core/kernels/wasm-kernel.ts';
import { dequantizeRowsInt8, float32ToFloat16, quantizeRowsInt8 } from '../../src/core/quantize.ts';
import { Rng } from '../../src/core/random.ts';
import {
  TopKEngine,
  createTsKernel,
  type Exclusion,
  type ItemBlock,
  type ItemDtype,
  type TopK,
  type TopKKernel,
} from '../../src/core/topk-engine.ts';

/** Gaussian rows with per-row norms spread ×0.5..×2, like trained embeddings. */
function gaussianRows(rng: Rng, count: number, dim: number): Float32Array {
  const out = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    const norm = 0.5 + 1.5 * rng.next();
    for (let j = 0; j < dim; j++) out[r * dim + j] = (rng.normal() * norm) / Math.sqrt(dim);
  }
  return out;
}

/** A block of `dtype` built from float32 rows (int8 quantized per row, f16 rounded). */
function block(dtype: ItemDtype, rows: Float32Array, dim: number, baseIndex: number): ItemBlock {
  const count = rows.length / dim;
  if (dtype === 'f32') return { dtype, dim, baseIndex, count, f32: rows };
  if (dtype === 'f16') return { dtype, dim, baseIndex, count, f16: float32ToFloat16(rows) };
  const { q, scales } = quantizeRowsInt8(rows, count, dim);
  return { dtype, dim, baseIndex, count, int8: q, scales };
}

/** The obvious reference: every item scored, sorted by (score desc, index asc), NaN dropped. */
function naive(blocks: ItemBlock[], query: Float32Array, k: number, skip?: Exclusion): number[] {
  const ts = createTsKernel();
  const scored: { i: number; s: number }[] = [];
  for (const b of blocks) {
    ts.prepare(b);
  }
  const all = ts.search(
    query,
    blocks.reduce((n, b) => n + b.count, 0),
  ) as TopK;
  all.indices.forEach((i, n) => scored.push({ i, s: all.scores[n]! }));
  const excluded = (i: number) =>
    skip === undefined ? false : typeof skip === 'function' ? skip(i) : skip.has(i);
  return scored
    .filter((x) => !excluded(x.i))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, k)
    .map((x) => x.i);
}

const kernels: [string, () => Promise<TopKKernel>][] = [
  ['ts', async () => createTsKernel()],
  ['wasm-simd', () => createWasmKernel()],
  ['wasm-simd (scores)', () => createWasmKernel({ select: 'scores' })],
];

/** Same search on a TS-kernel engine and on `engine`: identical indices and scores. */
async function expectSame(
  ref: TopKEngine,
  engine: TopKEngine,
  query: Float32Array,
  k: number,
  exclude?: Exclusion,
  label = '',
) {
  const want = await ref.search(query, k, exclude === undefined ? {} : { exclude });
  const got = await engine.search(query, k, exclude === undefined ? {} : { exclude });
  expect(Array.from(got.indices), label).toEqual(Array.from(want.indices));
  expect(Array.from(got.scores), label).toEqual(Array.from(want.scores));
  return want;
}

async function pair(make: () => Promise<TopKKernel>) {
  return [new TopKEngine({ kernel: createTsKernel() }), new TopKEngine({ kernel: await make() })];
}

describe('the TypeScript kernel', () => {
  it('equals a full sort, across blocks added out of order with gaps', async () => {
    const rng = new Rng(3);
    const dim = 8;
    const blocks = [
      block('f32', gaussianRows(rng, 40, dim), dim, 100),
      block('int8', gaussianRows(rng, 30, dim), dim, 1),
      block('f16', gaussianRows(rng, 25, dim), dim, 50),
    ];
    const engine = new TopKEngine({ kernel: createTsKernel() });
    for (const b of blocks) engine.add(b);
    const query = Float32Array.from({ length: dim }, () => rng.normal());
    const skip = new Set([1, 2, 101, 60]);
    const got = await engine.search(query, 20, { exclude: skip });
    expect(Array.from(got.indices)).toEqual(naive(blocks, query, 20, skip));
    expect(engine.items).toBe(95);
  });
});

describe.each(kernels)('kernel %s agrees with the TypeScript kernel', (name, make) => {
  it.each([
    ['int8', 64],
    ['int8', 13],
    ['int8', 100],
    ['f32', 64],
    ['f32', 7],
    ['f16', 64],
    ['f16', 33],
    ['int8', 1],
  ] as [ItemDtype, number][])(
    '%s × dim %i, blocks added one by one, k from 1 to more than n',
    async (dtype, dim) => {
      const rng = new Rng(dim * 31 + dtype.length);
      const [ref, engine] = await pair(make);
      // Uneven sizes (not multiples of 4), out of index order, with a gap at 601..699.
      const layout: [number, number][] = [
        [301, 300],
        [1, 97],
        [700, 603],
        [98, 203],
      ];
      let added = 0;
      for (const [base, count] of layout) {
        const b = block(dtype, gaussianRows(rng, count, dim), dim, base);
        ref!.add(b);
        engine!.add(b);
        added += count;
        const query = Float32Array.from({ length: dim }, () => rng.normal());
        for (const k of [1, 10, 100, added + 5]) {
          const r = await expectSame(ref!, engine!, query, k, undefined, `${name} k=${k}`);
          expect(r.indices.length).toBe(Math.min(k, added));
        }
      }
      expect(engine!.items).toBe(added);
    },
  );

  it('breaks ties by the lower index, within and across blocks', async () => {
    const rng = new Rng(11);
    const dim = 20;
    const [ref, engine] = await pair(make);
    // 8 distinct rows, each repeated many times in both blocks: every score is a tie.
    const base = gaussianRows(rng, 8, dim);
    const rows = new Float32Array(400 * dim);
    for (let r = 0; r < 400; r++)
      rows.set(base.subarray((r % 8) * dim, ((r % 8) + 1) * dim), r * dim);
    for (const dtype of ['int8', 'f32'] as const) {
      const [a, b] = [
        block(dtype, rows.subarray(0, 200 * dim), dim, 1000),
        block(dtype, rows.subarray(200 * dim), dim, 1),
      ];
      if (dtype === 'f32') {
        b.baseIndex = 2000;
        a.baseIndex = 1400;
      }
      for (const e of [ref!, engine!]) {
        e.add(b);
        e.add(a);
      }
    }
    const query = Float32Array.from({ length: dim }, () => rng.normal());
    const r = await expectSame(ref!, engine!, query, 150);
    expect(r.scores[0]).toBe(r.scores[1]);
    // A zero query: every item scores 0, so the k lowest indices, in order.
    const zero = await expectSame(ref!, engine!, new Float32Array(dim), 30);
    expect(Array.from(zero.indices)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('ranks exactly where the approximate scores cannot tell items apart', async () => {
    const dim = 16;
    const [ref, engine] = await pair(make);
    // Rows differ only in column 1, where the query is far below its int16 step
    // (max|q| / 32767): the quantized query sees 100 identical rows; the exact scores grow
    // with the index, so the best are the LAST rows, whatever ties the approximation has.
    const count = 100;
    const int8 = new Int8Array(count * dim);
    for (let r = 0; r < count; r++) {
      int8[r * dim] = 1;
      int8[r * dim + 1] = r % 2 === 0 ? r : -r;
    }
    const scales = new Float32Array(count).fill(0.01);
    const f32 = new Float32Array(count * dim);
    for (let r = 0; r < count; r++) {
      f32[r * dim] = 1;
      f32[r * dim + 1] = int8[r * dim + 1]!;
    }
    for (const e of [ref!, engine!]) {
      e.add({ dtype: 'int8', dim, baseIndex: 1, count, int8, scales });
      e.add({ dtype: 'f32', dim, baseIndex: 201, count, f32 });
    }
    const query = new Float32Array(dim);
    query[0] = 1;
    query[1] = 1e-5; // a third of the int16 step
    const r = await expectSame(ref!, engine!, query, 10);
    expect(Array.from(r.indices)).toEqual([299, 297, 295, 293, 291, 289, 287, 285, 283, 281]);
    const r8 = await expectSame(ref!, engine!, query, 5, (i) => i > 200);
    expect(Array.from(r8.indices)).toEqual([99, 97, 95, 93, 91]);
  });

  it('honours exclusions given as a Set or a predicate', async () => {
    const rng = new Rng(5);
    const dim = 64;
    const [ref, engine] = await pair(make);
    const b = block('int8', gaussianRows(rng, 1500, dim), dim, 1);
    for (const e of [ref!, engine!]) e.add(b);
    const query = Float32Array.from({ length: dim }, () => rng.normal());
    const top = await ref!.search(query, 50);
    const skip = new Set(Array.from(top.indices).filter((_, n) => n % 2 === 0));
    const r = await expectSame(ref!, engine!, query, 50, skip);
    for (const i of r.indices) expect(skip.has(i)).toBe(false);
    await expectSame(ref!, engine!, query, 40, (i) => i % 3 === 0);
    // Everything excluded: nothing qualifies.
    expect((await engine!.search(query, 10, { exclude: () => true })).indices.length).toBe(0);
  });

  it('never ranks NaN; scores huge or infinite values as the reference does', async () => {
    const rng = new Rng(9);
    const dim = 12;
    const [ref, engine] = await pair(make);
    const rows = gaussianRows(rng, 60, dim);
    rows[5 * dim + 3] = NaN; // row 5
    rows[9 * dim] = Infinity; // row 9
    const big = gaussianRows(rng, 40, dim).map((v) => v * 1e36);
    const q8 = block('int8', gaussianRows(rng, 50, dim), dim, 500);
    q8.scales![7] = NaN;
    for (const e of [ref!, engine!]) {
      e.add({ dtype: 'f32', dim, baseIndex: 1, count: 60, f32: rows });
      e.add({ dtype: 'f32', dim, baseIndex: 100, count: 40, f32: big });
      e.add(q8);
    }
    const query = Float32Array.from({ length: dim }, () => rng.normal());
    const r = await expectSame(ref!, engine!, query, 200);
    expect(Array.from(r.indices)).not.toContain(6); // row 5 of the block at 1
    expect(Array.from(r.indices)).not.toContain(507);
    expect(r.indices.length).toBe(148);
  });

  it('many blocks of one row each (memory grows block by block)', async () => {
    const rng = new Rng(21);
    const dim = 64;
    const [ref, engine] = await pair(make);
    for (let i = 0; i < 300; i++) {
      const b = block(
        i % 3 === 0 ? 'f32' : 'int8',
        gaussianRows(rng, 1 + (i % 5), dim),
        dim,
        10 * i,
      );
      ref!.add(b);
      engine!.add(b);
    }
    await expectSame(
      ref!,
      engine!,
      Float32Array.from({ length: dim }, () => rng.normal()),
      64,
    );
  });
});

describe.each(kernels)('kernel %s on int8 blocks with scale segments', (name, make) => {
  it('scores an ensemble block (3 members, 100× apart) as its decoded f32 rows', async () => {
    const rng = new Rng(77);
    const seg = 16;
    const dim = 3 * seg;
    const count = 257;
    const rows = gaussianRows(rng, count, dim);
    for (let r = 0; r < count; r++) for (let j = 2 * seg; j < dim; j++) rows[r * dim + j]! *= 0.01;
    const { q, scales } = quantizeRowsInt8(rows, count * 3, seg); // (count, 3) scales
    const segmented: ItemBlock = {
      dtype: 'int8',
      dim,
      baseIndex: 1,
      count,
      int8: q,
      scales,
      segments: 3,
    };
    const f32 = dequantizeRowsInt8(q, scales, count * 3, seg);
    const ref = new TopKEngine({ kernel: createTsKernel() });
    ref.add({ dtype: 'f32', dim, baseIndex: 1, count, f32 });
    const engine = new TopKEngine({ kernel: await make() });
    engine.add(segmented);
    // The query reads only the small member: one scale per row would have rounded it away.
    const query = new Float32Array(dim);
    for (let j = 2 * seg; j < dim; j++) query[j] = rng.normal();
    const r = await expectSame(ref, engine, query, 50, undefined, name);
    // Against the unquantized rows: the top 10 found are (nearly) the true top 10.
    const truth = Array.from({ length: count }, (_, i) => {
      let acc = 0;
      for (let j = 2 * seg; j < dim; j++) acc += rows[i * dim + j]! * query[j]!;
      return { i: i + 1, acc };
    }).sort((a, b) => b.acc - a.acc);
    const top10 = new Set(truth.slice(0, 10).map((t) => t.i));
    const found = Array.from(r.indices.subarray(0, 10)).filter((i) => top10.has(i)).length;
    expect(found).toBeGreaterThanOrEqual(8);
    expect(r.scores[0]).toBeCloseTo(truth[0]!.acc, 3);
  });

  it('rejects segments that do not fit the block', async () => {
    const engine = new TopKEngine({ kernel: await make() });
    const int8 = new Int8Array(8);
    expect(() =>
      engine.add({
        dtype: 'int8',
        dim: 4,
        baseIndex: 1,
        count: 2,
        int8,
        scales: new Float32Array(2),
        segments: 2,
      }),
    ).toThrow(/`scales` must hold count 2 × segments 2 = 4 values/);
    expect(() =>
      engine.add({
        dtype: 'int8',
        dim: 4,
        baseIndex: 1,
        count: 2,
        int8,
        scales: new Float32Array(6),
        segments: 3,
      }),
    ).toThrow(/segments must be a positive integer dividing dim 4/);
    expect(() =>
      engine.add({
        dtype: 'f32',
        dim: 4,
        baseIndex: 1,
        count: 2,
        f32: new Float32Array(8),
        segments: 2,
      }),
    ).toThrow(/1 unless dtype is int8/);
  });
});

describe('the WASM kernel on a larger catalog', () => {
  it('20k × 64 int8 and f32, many queries: exactly the reference top 100', async () => {
    const rng = new Rng(42);
    const dim = 64;
    const rows = gaussianRows(rng, 20000, dim);
    for (const dtype of ['int8', 'f32'] as const) {
      const [ref, engine] = await pair(() => createWasmKernel());
      for (let s = 0; s < 4; s++) {
        const b = block(
          dtype,
          rows.subarray(s * 5000 * dim, (s + 1) * 5000 * dim),
          dim,
          1 + s * 5000,
        );
        ref!.add(b);
        engine!.add(b);
      }
      for (let t = 0; t < 20; t++) {
        const query = Float32Array.from({ length: dim }, () => rng.normal() * (t + 1));
        await expectSame(ref!, engine!, query, 100, undefined, `${dtype} query ${t}`);
        // The point of the bound: only about k items get the (slow) exact rescoring.
        const stats = engine!.kernel.lastSearch!;
        expect(stats.approxRows).toBe(20000);
        expect(stats.exactRows).toBe(0);
        expect(stats.rescored).toBeLessThan(150);
        expect(stats.contenders).toBeLessThan(2000);
      }
    }
  });
});

describe('bad input', () => {
  const dim = 4;
  const f32Block = (baseIndex: number, count: number, d = dim): ItemBlock => ({
    dtype: 'f32',
    dim: d,
    baseIndex,
    count,
    f32: new Float32Array(count * d),
  });

  async function badInput(f: () => unknown, pattern: RegExp) {
    let err: unknown;
    try {
      await f();
    } catch (e) {
      err = e;
    }
    expect(isLocalrecError(err) && err.code === 'bad-input', String(err)).toBe(true);
    expect((err as Error).message).toMatch(pattern);
  }

  it.each(kernels)(
    '%s: every bad input is a bad-input error naming the problem',
    async (_, make) => {
      const engine = new TopKEngine({ kernel: await make() });
      engine.add(f32Block(1, 10));
      const q = new Float32Array(dim);
      await badInput(
        () => engine.search(new Float32Array(dim + 1), 5),
        /query has 5 values but .* dim 4/,
      );
      await badInput(() => engine.search(q, -1), /k must be a non-negative integer, got -1/);
      await badInput(() => engine.search(q, 1.5), /k must be a non-negative integer, got 1.5/);
      await badInput(() => engine.search(q, NaN), /k must be a non-negative integer/);
      await badInput(() => engine.search(Float32Array.of(1, NaN, 0, 0), 3), /query\[1\] is NaN/);
      await badInput(
        () => engine.search([1, 2, 3, 4] as unknown as Float32Array, 3),
        /Float32Array/,
      );
      await badInput(
        () => engine.search(q, 3, { exclude: [1] as unknown as Set<number> }),
        /exclude.*Set.*predicate/,
      );
      await badInput(() => engine.add(f32Block(20, 5, 8)), /dim 8 but earlier blocks have dim 4/);
      await badInput(() => engine.add(f32Block(10, 3)), /indices 10..12 overlap .* 1..10/);
      await badInput(() => engine.add(f32Block(0, 2)), /overlap/);
      await badInput(
        () => engine.add({ ...f32Block(30, 2), dtype: 'int4' as ItemDtype }),
        /unknown dtype "int4"; valid dtypes are int8, f16, f32/,
      );
      await badInput(
        () => engine.add({ dtype: 'int8', dim, baseIndex: 40, count: 2, int8: new Int8Array(8) }),
        /needs `scales` as a Float32Array/,
      );
      await badInput(
        () => engine.add({ ...f32Block(50, 2), f32: new Float32Array(7) }),
        /holds 7 values but count 2 × dim 4 needs 8/,
      );
      await badInput(() => engine.add({ ...f32Block(60, 2), baseIndex: -1 }), /baseIndex/);
      await badInput(
        () => engine.add({ ...f32Block(60, 2), dim: 0 }),
        /dim must be a positive integer/,
      );
      // Nothing bad was kept: the engine still answers as before.
      expect(engine.items).toBe(10);
      expect((await engine.search(q, 100)).indices.length).toBe(10);
      // k = 0 is fine, and so is a search before any block.
      expect((await engine.search(q, 0)).indices.length).toBe(0);
      const empty = new TopKEngine({ kernel: await make() });
      expect((await empty.search(q, 5)).indices.length).toBe(0);
    },
  );

  it('a WASM kernel option that does not exist', async () => {
    await badInput(
      () => createWasmKernel({ select: 'heap' as 'fused' }),
      /select must be 'fused' or 'scores'/,
    );
  });

  it('a dtype the kernel does not support', async () => {
    const int8Only: TopKKernel = {
      ...createTsKernel(),
      name: 'int8-only',
      supports: (d) => d === 'int8',
    };
    const engine = new TopKEngine({ kernel: int8Only });
    await badInput(
      () => engine.add(f32Block(1, 2)),
      /'int8-only' kernel does not support f32 blocks; supported: int8/,
    );
  });
});

describe('f32AtMost (the float32 thresholds handed to WASM)', () => {
  it('gives the largest float32 not above x, never rounding up', () => {
    for (const x of [0.1, -0.1, 1 / 3, -1 / 3, 1e-46, -1e-46, 1e39, -1e39, 2 ** -149, 0, 5]) {
      const f = f32AtMost(x);
      expect(Math.fround(f), String(x)).toBe(f);
      expect(f <= x, String(x)).toBe(true);
      // The next float32 up is above x.
      const next = new Float32Array([f]);
      const bits = new Int32Array(next.buffer);
      if (f >= 0) bits[0] = bits[0]! + 1;
      else bits[0] = bits[0]! - 1;
      if (Object.is(f, -0)) next[0] = 2 ** -149;
      expect(next[0]! > x, String(x)).toBe(true);
    }
    expect(f32AtMost(-Infinity)).toBe(-Infinity);
  });
});

describe('the committed WASM module', () => {
  it('is exactly what topk-simd.wat compiles to', () => {
    const run = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], {
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
  });
});
