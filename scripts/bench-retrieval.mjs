#!/usr/bin/env node
// npm run bench:retrieval — top-k retrieval speed in headless Chromium, as a visitor gets it.
//
// Serves bench/retrieval/ with vite, opens it in the system Chromium (/usr/bin/chromium, or
// $CHROMIUM_PATH; Playwright never downloads a browser here) with the flags the browser tests
// use, and runs bench/retrieval/worker.ts in a Web Worker: top-100 over N items × 64 dims for
// int8 and f32, per kernel (TypeScript, WASM SIMD fused, WASM SIMD writing all scores; WebGPU
// only on a hardware adapter), against tfjs matMul + topk on its wasm backend in the same
// worker, with the memory floor and int8 Recall@100. Progress goes to stderr; the last line of
// stdout is the JSON report.
//
// Options: --sizes=10000,100000,1000000  --calls=60  --warmup=10  --queries=50
//          --no-baseline  --real-gpu (drop --use-webgpu-adapter=swiftshader)
// The page is cross-origin isolated (COOP/COEP), so tfjs may use its multi-threaded build.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { tsImport } from 'tsx/esm/api';
import { createServer } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (s) => process.stderr.write(`${s}\n`);

function option(name, fallback) {
  const a = process.argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (!a) return fallback;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true;
}

const calls = Number(option('calls', 60));
const config = {
  sizes: String(option('sizes', '10000,100000,1000000')).split(',').map(Number),
  dim: 64,
  k: 100,
  calls,
  warmup: Number(option('warmup', 10)),
  queries: Math.min(calls, Number(option('queries', 50))),
  blockRows: 50_000,
  seed: 1,
  noBaseline: option('no-baseline', false) === true,
};
if (config.sizes.some((n) => !Number.isInteger(n) || n < 100) || !(calls >= 50)) {
  log(
    'usage: bench-retrieval.mjs [--sizes=N,N,...] [--calls=≥50] [--warmup=N] [--no-baseline] [--real-gpu]',
  );
  process.exit(2);
}

// The same Chromium flags as the browser tests (one list, in vitest.config.ts).
const { chromiumArgs } = await tsImport('../vitest.config.ts', import.meta.url);
const args = option('real-gpu', false)
  ? chromiumArgs.filter((a) => !a.startsWith('--use-webgpu-adapter'))
  : chromiumArgs;

const load = () => os.loadavg()[0];
const loadStart = load();
const t0 = Date.now();
const server = await createServer({
  configFile: false,
  root,
  logLevel: 'warn',
  server: {
    host: '127.0.0.1',
    headers: {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    },
  },
  // Found up front, so vite does not re-optimize (and reload the page) when the worker loads.
  optimizeDeps: {
    entries: ['bench/retrieval/index.html'],
    include: [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-wasm',
    ],
  },
  worker: { format: 'es' },
});
let browser;
let code = 0;
try {
  await server.listen();
  const url = `${server.resolvedUrls.local[0]}bench/retrieval/index.html`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args,
    headless: true,
  });
  const page = await browser.newPage();
  page.on('console', (m) => log(m.text()));
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  // Which tfjs build the worker instantiated (plain, SIMD, or threaded SIMD): the binary
  // fetches, not the `?url` module imports.
  const wasmFetched = [];
  browser.contexts()[0]?.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith('.wasm') && !u.search) wasmFetched.push(u.pathname.split('/').pop());
  });
  log(`[bench] ${url} in ${browser.version()}; config ${JSON.stringify(config)}`);
  await page.goto(url);
  await page.waitForFunction(() => typeof window.runBench === 'function');
  const report = await page.evaluate((c) => window.runBench(c), config);

  const h = report.headline;
  const targets = h && {
    floor: {
      want: 'p50 ≤ 3 × floor',
      measured: h.xFloor,
      met: h.xFloor <= 3,
      fastestCallXFloor: h.xFloorMin,
    },
    baseline: {
      want: 'p50 ≥ 5 × faster than the tfjs baseline',
      measured: h.speedupVsBaseline,
      met: h.speedupVsBaseline !== null && h.speedupVsBaseline >= 5,
    },
    recall: { want: 'Recall@100 ≥ 0.99', measured: h.recallAt100, met: h.recallAt100 >= 0.99 },
  };
  report.baseline.wasmFetched = wasmFetched;
  const out = {
    ...report,
    targets,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? '',
      loadAvg1mStart: loadStart,
      loadAvg1mEnd: load(),
      note: 'load average counts other processes (e.g. training jobs) competing for the CPU while this ran',
    },
    command: 'npm run bench:retrieval',
    wallS: (Date.now() - t0) / 1000,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} catch (e) {
  log(`bench-retrieval failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  code = 1;
} finally {
  await browser?.close();
  await server.close();
}
process.exit(code);
