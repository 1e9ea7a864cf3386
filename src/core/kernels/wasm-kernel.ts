/**
 * The WASM SIMD retrieval kernel: topk-simd.wat's `scan` over item rows copied once into
 * WebAssembly memory, with the exact rescoring of exact-best.ts on top so results equal the
 * TypeScript kernel's (see topk-engine.ts).
 *
 * Per block, once: rows are copied into linear memory, each row zero-padded to whole 16-byte
 * chunks and the block to a multiple of 4 rows (f16 rows are widened to f32 there: WASM has no
 * f16 arithmetic, and a half converts to float32 exactly). Memory only grows, as blocks come.
 *
 * Per search: the query is written as int16 (scale max|q| / 32767) for int8 blocks and as f32
 * for float blocks; `scan` scores four rows per step and, fused in the same pass, appends only
 * rows whose approximate score beats the running bar minus the error bound — so of 1M rows a
 * few hundred reach JavaScript, where they are rescored exactly and kept in a {@link BestK}.
 * `select: 'scores'` instead writes every approximate score to a buffer and filters in JS (kept
 * for the benchmark's comparison; the fused path is the default because it is faster).
 */
import { LocalrecError } from '../errors.ts';
import { float16Table } from '../quantize.ts';
import type { Exclusion, ItemBlock, SearchStats, TopK, TopKKernel } from '../topk-engine.ts';
import { BlockList, exclusionPredicate, ITEM_DTYPES } from '../topk-engine.ts';
import { Contenders, exactScore, floatEps, int8Eps, maxAbs, SAFE_MAGNITUDE } from './exact-best.ts';
import { TOPK_SIMD_WASM_BASE64 } from './topk-simd.wasm.ts';

/** Options of {@link createWasmKernel}. */
export interface WasmKernelOptions {
  /**
   * Where the top-k threshold is applied: `'fused'` (default) inside the WASM scan, or
   * `'scores'`: WASM writes every score, JavaScript filters them.
   */
  select?: 'fused' | 'scores';
}

type Scan = (
  f32: number,
  rows: number,
  scales: number,
  q: number,
  chunks: number,
  count: number,
  row: number,
  qscale: number,
  thresh: number,
  base: number,
  out: number,
  cidx: number,
  cscore: number,
  n: number,
  cap: number,
) => [number, number];

/** One block as laid out in WASM memory. */
interface WasmBlock {
  dtype: ItemBlock['dtype'];
  baseIndex: number;
  count: number;
  /** True for int8; f16 and f32 are both stored as f32. */
  int8: boolean;
  /** Byte offset of row 0; rows are `stride` bytes apart. */
  rows: number;
  stride: number;
  /** Byte offset of the scales (int8). */
  scales: number;
  /** Largest |scale| (int8) or |value| (float), for the error bound. */
  maxAbs: number;
}

/** Candidate slots handed from one `scan` call to JavaScript. */
const CAP = 4096;
const PAGE = 65536;

function align16(n: number): number {
  return (n + 15) & ~15;
}

/** The compiled module, shared by every kernel of the realm. */
let modulePromise: Promise<WebAssembly.Module> | null = null;

function compileModule(): Promise<WebAssembly.Module> {
  modulePromise ??= (async () => {
    const bin = atob(TOPK_SIMD_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    try {
      return await WebAssembly.compile(bytes);
    } catch (e) {
      modulePromise = null;
      throw new LocalrecError(
        'device-unavailable',
        `the WASM SIMD kernel cannot be compiled here (WebAssembly SIMD missing?): ${e instanceof Error ? e.message : String(e)}; use the 'ts' kernel`,
        { cause: e },
      );
    }
  })();
  return modulePromise;
}

/**
 * Creates a WASM SIMD kernel (int8, f16, f32 blocks).
 *
 * @throws LocalrecError `device-unavailable` where WebAssembly SIMD is missing.
 */
export async function createWasmKernel(options: WasmKernelOptions = {}): Promise<TopKKernel> {
  const select = options.select ?? 'fused';
  if (select !== 'fused' && select !== 'scores')
    throw new LocalrecError(
      'bad-input',
      `select must be 'fused' or 'scores', got ${String(select)}`,
    );
  const instance = await WebAssembly.instantiate(await compileModule());
  const memory = instance.exports['memory'] as WebAssembly.Memory;
  const scan = instance.exports['scan'] as Scan;

  const list = new BlockList<WasmBlock>();
  const stats: SearchStats = { approxRows: 0, contenders: 0, rescored: 0, exactRows: 0 };
  // Fixed areas first: candidate indices and scores; the queries once dim is known.
  const cidx = 16;
  const cscore = cidx + 4 * CAP;
  let top = cscore + 4 * CAP;
  let dim = 0;
  let chunksI8 = 0;
  let chunksF32 = 0;
  let qI16 = 0;
  let qF32 = 0;
  /** The 'scores' mode buffer and its capacity in rows. */
  let scoreBuf = 0;
  let scoreCap = 0;
  let hasI8 = false;
  let hasF32 = false;

  const alloc = (bytes: number): number => {
    const at = align16(top);
    const end = at + bytes;
    const have = memory.buffer.byteLength;
    if (end > have) {
      try {
        memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) {
        throw new LocalrecError(
          'internal',
          `the WASM kernel cannot grow its memory to ${Math.ceil(end / 2 ** 20)} MiB (the limit is 4 GiB, less where the browser is short of memory)`,
          { cause: e },
        );
      }
    }
    top = end;
    return at;
  };

  const prepare = (b: ItemBlock): void => {
    if (dim === 0) {
      dim = b.dim;
      chunksI8 = Math.ceil(dim / 16);
      chunksF32 = Math.ceil(dim / 4);
      qI16 = alloc(chunksI8 * 32);
      qF32 = alloc(chunksF32 * 16);
    }
    const int8 = b.dtype === 'int8';
    const stride = int8 ? chunksI8 * 16 : chunksF32 * 16;
    const padded = (b.count + 3) & ~3;
    const rows = alloc(padded * stride);
    const scales = int8 ? alloc(padded * 4) : 0;
    const buf = memory.buffer;
    let m: number;
    if (int8) {
      const src = b.int8!;
      if (stride === dim) new Int8Array(buf, rows, src.length).set(src);
      else
        for (let r = 0; r < b.count; r++)
          new Int8Array(buf, rows + r * stride, dim).set(src.subarray(r * dim, (r + 1) * dim));
      new Float32Array(buf, scales, b.count).set(b.scales!);
      m = maxAbs(b.scales!);
      hasI8 = true;
    } else {
      const step = stride / 4;
      const dst = new Float32Array(buf, rows, b.count * step);
      if (b.dtype === 'f32') {
        const src = b.f32!;
        if (step === dim) dst.set(src);
        else
          for (let r = 0; r < b.count; r++) dst.set(src.subarray(r * dim, (r + 1) * dim), r * step);
        m = maxAbs(src);
      } else {
        const src = b.f16!;
        const t = float16Table();
        for (let r = 0; r < b.count; r++)
          for (let j = 0; j < dim; j++) dst[r * step + j] = t[src[r * dim + j]!]!;
        m = maxAbs(dst);
      }
      hasF32 = true;
    }
    if (select === 'scores' && padded > scoreCap) {
      scoreBuf = alloc(padded * 4);
      scoreCap = padded;
    }
    list.insert({
      dtype: b.dtype,
      baseIndex: b.baseIndex,
      count: b.count,
      int8,
      rows,
      stride,
      scales,
      maxAbs: m,
    });
  };

  const search = (query: Float32Array, k: number, exclude?: Exclusion): TopK => {
    const skip = exclusionPredicate(exclude);
    const buf = memory.buffer;
    const maxQ = maxAbs(query);

    // int16 query: the largest step keeping 128 · |q16| · dim inside an i32 sum.
    let qs = 0;
    if (hasI8) {
      const qmax = Math.min(32767, Math.floor(0x7fffffff / (128 * chunksI8 * 16)));
      qs = maxQ > 0 ? Math.fround(maxQ / qmax) : 0;
      const q16 = new Int16Array(buf, qI16, chunksI8 * 16).fill(0);
      if (qs > 0)
        for (let j = 0; j < dim; j++) {
          const v = Math.round(query[j]! / qs);
          q16[j] = v > qmax ? qmax : v < -qmax ? -qmax : v;
        }
    }
    if (hasF32) new Float32Array(buf, qF32, chunksF32 * 4).fill(0).set(query);

    // Per block: its error bound, or null where float32 sums could overflow (scored exactly).
    const eps = list.blocks.map((b) => {
      const bound = b.int8 ? b.maxAbs * 128 * dim * maxQ : dim * maxQ * b.maxAbs;
      const e = b.int8 ? int8Eps(b.maxAbs, dim, maxQ, qs) : floatEps(dim, maxQ, b.maxAbs);
      return bound < SAFE_MAGNITUDE && Number.isFinite(e) ? e : null;
    });
    const pool = new Contenders(k, Math.max(0, ...eps.map((e) => e ?? 0)));
    const cI = new Int32Array(buf, cidx, CAP);
    const cS = new Float32Array(buf, cscore, CAP);
    const exactRow = (b: WasmBlock, r: number): number =>
      b.int8
        ? exactScore(
            'int8',
            query,
            new Int8Array(buf, b.rows + r * b.stride, dim),
            new Float32Array(buf, b.scales + 4 * r, 1),
            dim,
          )
        : exactScore('f32', query, new Float32Array(buf, b.rows + r * b.stride, dim), null, dim);

    let approxRows = 0;
    let exactRows = 0;
    list.blocks.forEach((b, bi) => {
      const e = eps[bi]!;
      if (e === null) {
        exactRows += b.count;
        for (let r = 0; r < b.count; r++) {
          const index = b.baseIndex + r;
          if (!(skip && skip(index))) pool.push(index, exactRow(b, r), 0);
        }
        pool.compact();
        return;
      }
      approxRows += b.count;
      const f32 = b.int8 ? 0 : 1;
      const q = b.int8 ? qI16 : qF32;
      const chunks = b.int8 ? chunksI8 : chunksF32;
      if (select === 'scores') {
        scan(f32, b.rows, b.scales, q, chunks, b.count, 0, qs, NaN, 0, scoreBuf, 0, 0, 0, CAP);
        const s = new Float32Array(buf, scoreBuf, b.count);
        let floor = pool.floorFor(e);
        for (let r = 0; r < b.count; r++) {
          if (!(s[r]! > floor)) continue;
          const index = b.baseIndex + r;
          if (skip && skip(index)) continue;
          pool.push(index, s[r]!, e);
          if (pool.size >= 2 * k + 64) {
            pool.compact();
            floor = pool.floorFor(e);
          }
        }
        pool.compact();
        return;
      }
      let row = 0;
      while (row < b.count) {
        // Until k are known there is no floor: ask for about k candidates. Later batches stay
        // small too, so the floor rises often while it is still low (early in the scan).
        const cap = Math.min(CAP, pool.full ? Math.max(64, 2 * k) : k + 4);
        const floor = pool.floorFor(e);
        const [next, n] = scan(
          f32,
          b.rows,
          b.scales,
          q,
          chunks,
          b.count,
          row,
          qs,
          floor,
          b.baseIndex,
          0,
          cidx,
          cscore,
          0,
          cap,
        );
        for (let j = 0; j < n; j++) {
          const index = cI[j]!;
          if (!(skip && skip(index))) pool.push(index, cS[j]!, e);
        }
        pool.compact();
        row = next;
      }
    });
    return pool.finish((index) => list.blockOf(index), exactRow, stats, { approxRows, exactRows });
  };

  return {
    name: 'wasm-simd',
    supports: (dtype) => (ITEM_DTYPES as readonly string[]).includes(dtype),
    prepare,
    search,
    dispose() {
      list.blocks.length = 0;
    },
    lastSearch: stats,
  };
}
