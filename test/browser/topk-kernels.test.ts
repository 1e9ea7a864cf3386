/**
 * The retrieval kernels in real Chromium: WASM SIMD and WebGPU (SwiftShader here) return
 * exactly the plain TypeScript kernel's indices and scores. Small catalogs: SwiftShader runs
 * the shader on the CPU, and each 2048-row tile is a full bitonic sort.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebGpuKernel } from '../../src/client/ranker/kernels/webgpu-topk.ts';
import { createWasmKernel } from '../../src/core/kernels/wasm-kernel.ts';
import { float32ToFloat16, quantizeRowsInt8 } from '../../src/core/quantize.ts';
import { Rng } from '../../src/core/random.ts';
import {
  TopKEngine,
  createTsKernel,
  type Exclusion,
  type ItemBlock,
  type ItemDtype,
  type TopKKernel,
} from '../../src/core/topk-engine.ts';

function gaussianRows(rng: Rng, count: number, dim: number): Float32Array {
  const out = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    const norm = 0.5 + 1.5 * rng.next();
    for (let j = 0; j < dim; j++) out[r * dim + j] = (rng.normal() * norm) / Math.sqrt(dim);
  }
  return out;
}

function block(dtype: ItemDtype, rows: Float32Array, dim: number, baseIndex: number): ItemBlock {
  const count = rows.length / dim;
  if (dtype === 'f32') return { dtype, dim, baseIndex, count, f32: rows };
  if (dtype === 'f16') return { dtype, dim, baseIndex, count, f16: float32ToFloat16(rows) };
  const { q, scales } = quantizeRowsInt8(rows, count, dim);
  return { dtype, dim, baseIndex, count, int8: q, scales };
}

async function expectSame(
  ref: TopKEngine,
  engine: TopKEngine,
  query: Float32Array,
  k: number,
  exclude?: Exclusion,
) {
  const opts = exclude === undefined ? {} : { exclude };
  const want = await ref.search(query, k, opts);
  const got = await engine.search(query, k, opts);
  expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
  expect(Array.from(got.scores)).toEqual(Array.from(want.scores));
  return want;
}

let gpuKernel: (() => Promise<TopKKernel>) | null = null;
let adapterName = '';

beforeAll(async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  if (adapter) {
    adapterName = `${adapter.info.vendor}/${adapter.info.architecture}`;
    // An adapter opens one device: each kernel requests its own.
    gpuKernel = () => createWebGpuKernel();
  }
});

const makers: [string, () => Promise<TopKKernel>][] = [
  ['wasm-simd', () => createWasmKernel()],
  ['webgpu', () => gpuKernel!()],
];

describe.each(makers)('%s kernel in Chromium', (name, make) => {
  const engines: TopKEngine[] = [];
  afterAll(() => engines.forEach((e) => e.dispose()));

  async function pair(): Promise<[TopKEngine, TopKEngine]> {
    if (name === 'webgpu')
      expect(gpuKernel, 'this Chromium exposes a WebGPU adapter').not.toBeNull();
    const e = new TopKEngine({ kernel: await make() });
    engines.push(e);
    return [new TopKEngine({ kernel: createTsKernel() }), e];
  }

  it('int8 × 64 over blocks added one by one, with full tiles and exclusions', async () => {
    const rng = new Rng(1);
    const dim = 64;
    const [ref, engine] = await pair();
    // 2500 + 3000 rows: tiles of 2048 with more rows than they list, and partial tiles.
    for (const [base, count] of [
      [3001, 3000],
      [1, 2500],
    ] as const) {
      const b = block('int8', gaussianRows(rng, count, dim), dim, base);
      ref.add(b);
      engine.add(b);
      const query = Float32Array.from({ length: dim }, () => rng.normal());
      for (const k of [1, 100]) await expectSame(ref, engine, query, k);
      // Most rows stay on the fast path; only about k are rescored exactly.
      const stats = engine.kernel.lastSearch!;
      expect(stats.approxRows).toBe(engine.items);
      expect(stats.exactRows).toBeLessThan(engine.items / 2);
      expect(stats.rescored).toBeLessThan(200);
    }
    const query = Float32Array.from({ length: dim }, () => rng.normal());
    const top = await ref.search(query, 30);
    await expectSame(ref, engine, query, 20, new Set(top.indices.subarray(0, 15)));
    await expectSame(ref, engine, query, 25, (i) => i % 2 === 1);
    // k beyond a tile: every tile lists all its rows.
    await expectSame(ref, engine, query, 2100);
    console.info(
      `${name}: agrees with the TS kernel${name === 'webgpu' ? ` on ${adapterName}` : ''}`,
    );
  });

  it('int8 with one scale per ensemble member (3 × 64, shard version 2)', async () => {
    const rng = new Rng(4);
    const dim = 192;
    const count = 2300;
    const rows = gaussianRows(rng, count, dim);
    for (let i = 0; i < rows.length; i++) if (i % dim >= 128) rows[i]! *= 0.01;
    const { q, scales } = quantizeRowsInt8(rows, count * 3, 64);
    const b: ItemBlock = { dtype: 'int8', dim, baseIndex: 1, count, int8: q, scales, segments: 3 };
    const [ref, engine] = await pair();
    ref.add(b);
    engine.add(b);
    const query = Float32Array.from({ length: dim }, (_, j) => (j >= 128 ? rng.normal() : 0));
    const top = await expectSame(ref, engine, query, 100);
    expect(top.scores[0]).toBeGreaterThan(0); // the small member still scores
  });

  it('f16 × 33 and f32 × 7 (dims not a multiple of 4 or 16), ties, NaN and huge rows', async () => {
    const rng = new Rng(2);
    const [ref, engine] = await pair();
    const dim = 33;
    const rows = gaussianRows(rng, 300, dim);
    rows.copyWithin(10 * dim, 0, 10 * dim); // rows 10..19 repeat rows 0..9: exact ties
    rows[25 * dim + 4] = NaN;
    const f16 = block('f16', rows, dim, 1);
    ref.add(f16);
    engine.add(f16);
    const query = Float32Array.from({ length: dim }, () => rng.normal());
    const r = await expectSame(ref, engine, query, 300);
    expect(r.indices.length).toBe(299);
    expect(Array.from(r.indices)).not.toContain(26);

    const [ref7, engine7] = await pair();
    const d7 = 7;
    const small = block('f32', gaussianRows(rng, 500, d7), d7, 10);
    const huge = block(
      'f32',
      gaussianRows(rng, 50, d7).map((v) => v * 1e36),
      d7,
      600,
    );
    for (const e of [ref7, engine7]) {
      e.add(huge);
      e.add(small);
    }
    const q7 = Float32Array.from({ length: d7 }, () => rng.normal());
    await expectSame(ref7, engine7, q7, 80);
    await expectSame(ref7, engine7, new Float32Array(d7), 10); // all ties: lowest indices
  });
});
