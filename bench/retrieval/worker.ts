/**
 * The retrieval benchmark, run inside a Web Worker (where the ranker runs): top-k over N items
 * for each kernel and dtype, p50/p95 of `performance.now()` over many calls after warm-up,
 * against a tfjs `matMul` + `topk` baseline in the same worker, with the memory-bandwidth floor
 * measured here too and the int8 kernel's Recall@k against the exact float32 top k.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { classifyAdapter, describeAdapter } from '../../src/client/ranker/device.ts';
import { createWebGpuKernel } from '../../src/client/ranker/kernels/webgpu-topk.ts';
import { createWasmKernel } from '../../src/core/kernels/wasm-kernel.ts';
import { quantizeRowsInt8 } from '../../src/core/quantize.ts';
import {
  TopKEngine,
  createTsKernel,
  type ItemBlock,
  type TopKKernel,
} from '../../src/core/topk-engine.ts';
import { clusteredEmbeddings, gaussianEmbeddings, recall } from './data.ts';

/** What the page asks for. */
export interface BenchConfig {
  sizes: number[];
  dim: number;
  k: number;
  /** Measured calls per case (after warm-up). */
  calls: number;
  warmup: number;
  /** Distinct queries, cycled through. */
  queries: number;
  /** Rows per block (a shard of a few MB), added one by one. */
  blockRows: number;
  seed: number;
  /** Skip the tfjs baseline. */
  noBaseline?: boolean;
}

/** One measured case. */
export interface BenchRow {
  n: number;
  dim: number;
  dtype: 'int8' | 'f32';
  kernel: string;
  calls: number;
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  /** Bytes the kernel must read (rows, plus scales for int8) ÷ measured memory bandwidth. */
  floorMs: number;
  /** p50 ÷ floor. */
  xFloor: number;
  /** Fastest call ÷ floor: best case against best case (the floor is a best-of copy), less hurt by other load. */
  xFloorMin: number;
  baselineP50Ms: number | null;
  baselineP95Ms: number | null;
  /** baseline p50 ÷ p50. */
  speedupVsBaseline: number | null;
  /** Mean Recall@k against the exact float32 top k (1 for f32: it is the exact top k). */
  recallAt100: number;
  /** Whether every recorded result equals the TypeScript kernel's (same dtype, same queries). */
  sameIdsAsTs: boolean;
  /** Milliseconds to add all blocks (copies into WASM/GPU memory). */
  loadMs: number;
  /** Mean items rescored exactly per search (fast kernels). */
  rescoredMean: number | null;
}

export interface BenchReport {
  results: BenchRow[];
  headline: BenchRow | null;
  bandwidth: { gbPerS: number; how: string };
  baseline: { backend: string; threads: number | null; note: string; rows: BaselineRow[] };
  skipped: { kernel: string; reason: string }[];
  data: { clustered: string; gaussian: string };
  recallGaussian: { n: number; recallAt100: number } | null;
  worker: { crossOriginIsolated: boolean; hardwareConcurrency: number; userAgent: string };
}

interface BaselineRow {
  n: number;
  p50Ms: number | null;
  p95Ms: number | null;
  /** Recall of the baseline's top k against our exact float32 top k (a sanity check). */
  agreement: number | null;
  error?: string;
}

export type BenchMessage =
  | { type: 'progress'; text: string }
  | { type: 'error'; message: string }
  | { type: 'done'; report: BenchReport };

const post = (m: BenchMessage) => (self as unknown as Worker).postMessage(m);
const progress = (text: string) => post({ type: 'progress', text: `[bench] ${text}` });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Timing {
  p50: number;
  p95: number;
  min: number;
}

/** Times `calls` awaited calls of `f(i)` after `warmup` untimed ones. */
async function time(
  f: (i: number) => Promise<unknown>,
  warmup: number,
  calls: number,
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await f(i);
  const t: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await f(i);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return { p50: percentile(t, 50), p95: percentile(t, 95), min: t[0]! };
}

/** Mean recall over the queries that have both a result and a truth. */
function meanRecall(got: Int32Array[], truth: Int32Array[]): number {
  let sum = 0;
  let n = 0;
  got.forEach((g, i) => {
    const t = truth[i];
    if (!t) return;
    sum += recall(g, t);
    n++;
  });
  return n ? sum / n : NaN;
}

/** Copy bandwidth: best of several 256 MiB `set()`s, counting bytes read plus bytes written. */
function bandwidth(): number {
  const bytes = 256 * 2 ** 20;
  const a = new Uint8Array(bytes).fill(7);
  const b = new Uint8Array(bytes);
  let best = Infinity;
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    b.set(a);
    best = Math.min(best, performance.now() - t0);
  }
  if (b[bytes - 1] !== 7) throw new Error('copy check failed');
  return (2 * bytes) / (best / 1000) / 1e9;
}

async function initTf(): Promise<{ backend: string; threads: number | null; note: string }> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  // Its best shot: every core (the multi-threaded build needs cross-origin isolation).
  setThreadsCount(navigator.hardwareConcurrency);
  try {
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      const threads = getThreadsCount();
      return {
        backend: 'wasm',
        threads,
        note: `tfjs-backend-wasm, SIMD ${simd ? 'on' : 'off'}, ${threads} thread(s) (asked for ${navigator.hardwareConcurrency}; multi-thread support ${mt ? 'detected' : 'not detected'}, cross-origin isolated: ${self.crossOriginIsolated})`,
      };
    }
  } catch (e) {
    progress(`tfjs wasm backend failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  await tf.setBackend('cpu');
  return {
    backend: 'cpu',
    threads: 1,
    note: 'tfjs-backend-wasm could not initialise here; fell back to the cpu backend',
  };
}

async function run(cfg: BenchConfig): Promise<BenchReport> {
  const maxN = Math.max(...cfg.sizes);
  const { dim, k } = cfg;
  const skipped: BenchReport['skipped'] = [];

  progress('measuring memory bandwidth (256 MiB copies)');
  const gbPerS = bandwidth();
  progress(`bandwidth ${gbPerS.toFixed(1)} GB/s (read + write)`);

  const makers: [string, () => Promise<TopKKernel>][] = [
    ['ts', async () => createTsKernel()],
    ['wasm-simd', () => createWasmKernel()],
    ['wasm-simd-scores', () => createWasmKernel({ select: 'scores' })],
  ];
  const gpu = (self as unknown as { navigator: { gpu?: GPU } }).navigator.gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) skipped.push({ kernel: 'webgpu', reason: 'no WebGPU adapter in this worker' });
  else {
    const cls = classifyAdapter(adapter);
    if (cls.software)
      skipped.push({
        kernel: 'webgpu',
        reason: `the adapter ${describeAdapter(adapter)} is software (${cls.why}): its timings would be CPU emulation, not GPU speed`,
      });
    else makers.push(['webgpu', () => createWebGpuKernel({ adapter })]);
  }

  progress(`generating ${maxN} × ${dim} clustered embeddings`);
  const data = clusteredEmbeddings(maxN, dim, cfg.queries, cfg.seed);
  progress('quantizing to int8 (per row)');
  const q8 = quantizeRowsInt8(data.rows, maxN, dim);

  const blocksFor = (n: number, dtype: 'int8' | 'f32'): ItemBlock[] => {
    const out: ItemBlock[] = [];
    for (let start = 0; start < n; start += cfg.blockRows) {
      const count = Math.min(cfg.blockRows, n - start);
      const [a, b] = [start * dim, (start + count) * dim];
      out.push(
        dtype === 'f32'
          ? { dtype, dim, baseIndex: 1 + start, count, f32: data.rows.subarray(a, b) }
          : {
              dtype,
              dim,
              baseIndex: 1 + start,
              count,
              int8: q8.q.subarray(a, b),
              scales: q8.scales.subarray(start, start + count),
            },
      );
    }
    return out;
  };

  const tfInfo = cfg.noBaseline ? null : await initTf();
  const baselineRows: BaselineRow[] = [];
  const results: BenchRow[] = [];
  const nq = data.queries.length;

  for (const n of cfg.sizes) {
    // Exact float32 top k per query (the TS kernel over f32), then each kernel and dtype.
    const truth: Int32Array[] = [];
    const tsResults: Record<string, Int32Array[]> = {};
    const pending: Omit<BenchRow, 'baselineP50Ms' | 'baselineP95Ms' | 'speedupVsBaseline'>[] = [];
    for (const dtype of ['f32', 'int8'] as const) {
      for (const [name, make] of makers) {
        const engine = new TopKEngine({ kernel: await make() });
        const t0 = performance.now();
        for (const b of blocksFor(n, dtype)) engine.add(b);
        const loadMs = performance.now() - t0;
        const got: Int32Array[] = [];
        let rescored = 0;
        let searches = 0;
        const slow = name === 'ts' && n >= 1e6;
        const timing = await time(
          async (i) => {
            const r = await engine.search(data.queries[i % nq]!, k);
            got[i % nq] = r.indices;
            rescored += engine.kernel.lastSearch?.rescored ?? 0;
            searches++;
          },
          slow ? 3 : cfg.warmup,
          cfg.calls,
        );
        engine.dispose();
        if (name === 'ts') {
          tsResults[dtype] = got;
          if (dtype === 'f32') truth.push(...got);
        }
        const ref = tsResults[dtype]!;
        const same = got.every((g, i) => g.join() === ref[i]?.join()) && got.length === ref.length;
        const bytes = n * (dtype === 'int8' ? dim + 4 : 4 * dim);
        const floorMs = (bytes / (gbPerS * 1e9)) * 1000;
        const rec = meanRecall(got, truth);
        pending.push({
          n,
          dim,
          dtype,
          kernel: name,
          calls: cfg.calls,
          p50Ms: timing.p50,
          p95Ms: timing.p95,
          minMs: timing.min,
          floorMs,
          xFloor: timing.p50 / floorMs,
          xFloorMin: timing.min / floorMs,
          recallAt100: rec,
          sameIdsAsTs: same,
          loadMs,
          rescoredMean: engine.kernel.lastSearch ? rescored / searches : null,
        });
        progress(
          `N=${n} ${dtype} ${name}: p50 ${timing.p50.toFixed(3)} ms, p95 ${timing.p95.toFixed(3)} ms (floor ${floorMs.toFixed(3)} ms), recall@${k} ${rec.toFixed(4)}, same ids as ts: ${same}`,
        );
      }
    }

    let base: BaselineRow = { n, p50Ms: null, p95Ms: null, agreement: null };
    if (tfInfo) {
      progress(`N=${n} baseline: tfjs (${tfInfo.backend}) matMul + topk over float32`);
      let items: tf.Tensor2D | null = null;
      try {
        items = tf.tensor2d(data.rows.subarray(0, n * dim), [n, dim]);
        const found: Int32Array[] = [];
        const timing = await time(
          async (i) => {
            const idx = tf.tidy(() => {
              const q = tf.tensor2d(data.queries[i % nq]!, [1, dim]);
              return tf.topk(tf.matMul(q, items!, false, true), k).indices;
            });
            const ids = (await idx.data()) as Int32Array;
            idx.dispose();
            found[i % nq] = ids.map((x) => x + 1); // internal indices are 1-based
          },
          n >= 1e6 ? 3 : cfg.warmup,
          cfg.calls,
        );
        const agreement = meanRecall(found, truth);
        base = { n, p50Ms: timing.p50, p95Ms: timing.p95, agreement };
        progress(
          `N=${n} baseline: p50 ${timing.p50.toFixed(3)} ms, p95 ${timing.p95.toFixed(3)} ms`,
        );
      } catch (e) {
        base.error = `the baseline did not run at N=${n}: ${e instanceof Error ? e.message : String(e)}`;
        progress(base.error);
      } finally {
        items?.dispose();
      }
    }
    baselineRows.push(base);
    for (const r of pending)
      results.push({
        ...r,
        baselineP50Ms: base.p50Ms,
        baselineP95Ms: base.p95Ms,
        speedupVsBaseline: base.p50Ms === null ? null : base.p50Ms / r.p50Ms,
      });
  }

  // The headline: the fastest CPU kernel on the largest int8 case.
  const cpu = results.filter((r) => r.n === maxN && r.dtype === 'int8' && r.kernel !== 'webgpu');
  const headline = cpu.reduce<BenchRow | null>((b, r) => (!b || r.p50Ms < b.p50Ms ? r : b), null);

  // Recall on isotropic Gaussian rows too: the hardest case for int8 (no gaps between scores).
  progress(`Recall@${k} on ${maxN} isotropic Gaussian rows`);
  const g = gaussianEmbeddings(maxN, dim, Math.min(nq, 20), cfg.seed + 1);
  const g8 = quantizeRowsInt8(g.rows, maxN, dim);
  const e32 = new TopKEngine({ kernel: await createWasmKernel() });
  const e8 = new TopKEngine({ kernel: await createWasmKernel() });
  e32.add({ dtype: 'f32', dim, baseIndex: 1, count: maxN, f32: g.rows });
  e8.add({ dtype: 'int8', dim, baseIndex: 1, count: maxN, int8: g8.q, scales: g8.scales });
  let gr = 0;
  for (const q of g.queries)
    gr += recall((await e8.search(q, k)).indices, (await e32.search(q, k)).indices);
  e32.dispose();
  e8.dispose();

  return {
    results,
    headline,
    bandwidth: {
      gbPerS,
      how: 'best of 7 copies of 256 MiB (Uint8Array.set) in this worker, (bytes read + bytes written) / time',
    },
    baseline: {
      backend: tfInfo?.backend ?? 'none',
      threads: tfInfo?.threads ?? null,
      note: tfInfo
        ? `${tfInfo.note}. It scores float32 rows (tfjs has no int8 matMul), so one baseline per N serves both the int8 and the f32 rows`
        : 'skipped (--no-baseline)',
      rows: baselineRows,
    },
    skipped,
    data: { clustered: data.description, gaussian: g.description },
    recallGaussian: { n: maxN, recallAt100: gr / g.queries.length },
    worker: {
      crossOriginIsolated: self.crossOriginIsolated,
      hardwareConcurrency: navigator.hardwareConcurrency,
      userAgent: navigator.userAgent,
    },
  };
}

self.onmessage = (e: MessageEvent<BenchConfig>) => {
  run(e.data).then(
    (report) => post({ type: 'done', report }),
    (err: unknown) =>
      post({
        type: 'error',
        message: err instanceof Error ? (err.stack ?? err.message) : String(err),
      }),
  );
};
