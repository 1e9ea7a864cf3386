#!/usr/bin/env node
// npm run bench:trainer — one local fine-tuning run of the federated trainer, on the device:
// the trainer worker (workers/trainer.worker.ts) in headless Chromium (/usr/bin/chromium or
// $CHROMIUM_PATH, the browser tests' flags; Playwright never downloads a browser here).
//
// 1. The model: the ML-100K-sized default SASRec — the default model config (3-member ensemble,
//    dim 64, 2 blocks, maxLen 50) over 1682 items — with RANDOM weights (timing does not depend
//    on what the weights are), written as the trainable checkpoint `localrec export` ships
//    (models.sasrec.trainable: f32 weights, item ids and the federated parameter set in its
//    meta); a 50-event history over its items.
// 2. The page bench/trainer/ is built with the project's vite config (the trainer worker and
//    tfjs-backend-wasm's .wasm as hashed assets, as in the demo) and served on 127.0.0.1 —
//    with COOP/COEP headers under --isolated, so the WASM backend may use threads.
// 3. Per local training spec (the default DEFAULT_LOCAL_TRAIN, and four Adam steps for
//    comparison), `--warmup` + `--runs` runs of the same job with seeds 1, 2, …; the time in
//    `localUpdate` measured inside the worker (median, p95), the same over the runs that trained
//    on the whole history (localUpdate crops half of the runs to a random prefix, as central
//    training does; `uncropped`), and the page's round trip. The same job in Node
//    (tfjs-backend-wasm) for reference.
//
// Options: --runs=20 --warmup=3 --device=wasm|webgpu|auto --isolated
// Progress goes to stderr; the last line of stdout is the JSON report.
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { tsImport } from 'tsx/esm/api';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (s) => process.stderr.write(`${s}\n`);

function option(name, fallback) {
  const a = process.argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (!a) return fallback;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true;
}
const cfg = {
  runs: Number(option('runs', 20)),
  warmup: Number(option('warmup', 3)),
  device: String(option('device', 'wasm')),
  isolated: option('isolated', false) === true,
};
if (!(cfg.runs >= 5) || !(cfg.warmup >= 0) || !['wasm', 'webgpu', 'auto'].includes(cfg.device)) {
  log('usage: bench-trainer.mjs [--runs=≥5] [--warmup=N] [--device=wasm|webgpu|auto] [--isolated]');
  process.exit(2);
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r1 = (x) => Math.round(x * 10) / 10;

const imp = (p) => tsImport(p, import.meta.url);
const { chromiumArgs } = await imp('../vitest.config.ts');
const { initTf } = await imp('../src/cli/tf-node.ts');
const { encodeCheckpoint } = await imp('../models/checkpoint.ts');
const { DEFAULT_LOCAL_TRAIN, localUpdate } = await imp('../models/federated/local-update.ts');
const { defineParameterSet, parameterCount, parameterSetToJson } = await imp(
  '../models/federated/parameter-set.ts',
);
const { defaultModelConfig } = await imp('../models/sasrec/config.ts');
const { initWeights, memberConfig, mergeMembers } = await imp('../models/sasrec/model.ts');
const { weightsToArrays } = await imp('../models/tf-ops.ts');
const { Rng } = await imp('../src/core/random.ts');

const MIME = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.css': 'text/css',
};

const t0 = Date.now();
const loadStart = os.loadavg()[0];
const tmp = mkdtempSync(join(os.tmpdir(), 'localrec-bench-trainer-'));
let browser;
let server;
let code = 0;
try {
  // 1. The model (random weights) and the history.
  await initTf();
  const config = { ...defaultModelConfig, numItems: 1682, members: 3 };
  const one = memberConfig(config);
  const tensors = mergeMembers([1, 2, 3].map((s) => initWeights(one, s)));
  const weights = weightsToArrays(tensors);
  for (const t of Object.values(tensors)) t.dispose();
  const itemIds = ['', ...Array.from({ length: config.numItems }, (_, i) => String(i + 1))];
  const set = defineParameterSet(config);
  const trainable = encodeCheckpoint({
    model: 'sasrec',
    config,
    meta: { itemIds, federated: parameterSetToJson(set) },
    weights,
  });
  const rng = new Rng(7);
  const sequence = Int32Array.from({ length: 50 }, () => 1 + rng.int(config.numItems));
  const history = Array.from(sequence, String);
  const specs = [DEFAULT_LOCAL_TRAIN, { steps: 4, learningRate: 1e-3, optimizer: 'adam' }];
  log(
    `[bench] model: ${config.members} members, dim ${config.dim}, ${config.blocks} blocks, maxLen ${config.maxLen}, ${config.numItems} items (random weights); ` +
      `${parameterCount(set)} federated parameters, trainable blob ${(trainable.length / 1e6).toFixed(2)} MB; history 50 events`,
  );

  // Node reference (tfjs-backend-wasm in this process).
  const node = {};
  for (const spec of specs) {
    const ms = [];
    for (let i = 0; i < cfg.warmup + Math.min(cfg.runs, 10); i++) {
      const s = performance.now();
      await localUpdate(config, weights, set, sequence, spec, 1 + i);
      if (i >= cfg.warmup) ms.push(performance.now() - s);
    }
    node[JSON.stringify(spec)] = { medianMs: r1(median(ms)), p95Ms: r1(quantile(ms, 0.95)) };
    log(`[bench] node ${JSON.stringify(spec)}: median ${median(ms).toFixed(0)} ms`);
  }

  // 2. The page.
  const siteDir = join(tmp, 'site');
  log('[bench] building bench/trainer with vite…');
  const { build } = await import('vite');
  await build({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    build: {
      outDir: siteDir,
      emptyOutDir: true,
      rollupOptions: { input: join(root, 'bench/trainer/index.html') },
    },
  });
  writeFileSync(join(siteDir, 'bench/trainer/trainable.bin'), trainable);
  writeFileSync(join(siteDir, 'bench/trainer/job.json'), JSON.stringify({ history, specs }));
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = join(siteDir, path);
    if (!file.startsWith(siteDir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
      ...(cfg.isolated
        ? {
            'Cross-Origin-Opener-Policy': 'same-origin',
            'Cross-Origin-Embedder-Policy': 'require-corp',
          }
        : {}),
    });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/bench/trainer/index.html?runs=${cfg.runs}&warmup=${cfg.warmup}&device=${cfg.device}`;

  // 3. The runs.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumArgs,
    headless: true,
  });
  log(`[bench] ${browser.version()}; ${JSON.stringify(cfg)}`);
  const page = await browser.newPage();
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') log(`page console: ${m.text()}`);
  });
  await page.goto(url);
  const result = await page.evaluate(() => window.trainerBenchResult);
  const bySpec = result.specs.map((s) => {
    // Runs on the whole history (central training's crop rule gives half of them a prefix).
    const longest = Math.max(...s.positions);
    const full = s.trainMs.filter((_, i) => s.positions[i] === longest);
    return {
      spec: s.spec,
      medianMs: r1(median(s.trainMs)),
      p95Ms: r1(quantile(s.trainMs, 0.95)),
      uncropped: {
        runs: full.length,
        positions: longest,
        medianMs: r1(median(full)),
        maxMs: r1(Math.max(...full)),
      },
      positions: { min: Math.min(...s.positions), median: median(s.positions), max: longest },
      roundTripMedianMs: r1(median(s.roundTripMs)),
      warmupMs: s.warmupMs.map(r1),
      backend: s.device,
      threads: s.threads,
      items: s.items,
      nodeMedianMs: node[JSON.stringify(s.spec)]?.medianMs ?? null,
    };
  });
  for (const s of bySpec)
    log(
      `[bench] browser ${JSON.stringify(s.spec)}: localUpdate median ${s.medianMs} / p95 ${s.p95Ms} ms ` +
        `(round trip ${s.roundTripMedianMs} ms; warm-up ${s.warmupMs.join(', ')} ms) on ${s.backend}, ${s.threads ?? '-'} threads; ` +
        `uncropped (${s.uncropped.positions} positions, ${s.uncropped.runs} runs) median ${s.uncropped.medianMs} / max ${s.uncropped.maxMs} ms`,
    );
  const head = bySpec[0];
  const out = {
    medianMs: head.medianMs,
    p95Ms: head.p95Ms,
    backend: head.backend,
    threads: head.threads,
    spec: head.spec,
    uncroppedMedianMs: head.uncropped.medianMs,
    uncroppedMaxMs: head.uncropped.maxMs,
    target: { want: '≤ 2000 ms', met: head.p95Ms <= 2000 && head.uncropped.maxMs <= 2000 },
    detail: {
      specs: bySpec,
      model: {
        members: config.members,
        dim: config.dim,
        blocks: config.blocks,
        maxLen: config.maxLen,
        items: config.numItems,
        weights: 'random',
        parameters: parameterCount(set),
        trainableBytes: trainable.length,
        historyEvents: 50,
      },
      crossOriginIsolated: result.crossOriginIsolated,
      deviceReason: result.specs[0]?.deviceReason,
      config: cfg,
      browser: browser.version(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? '',
        loadAvg1mStart: loadStart,
        loadAvg1mEnd: os.loadavg()[0],
      },
      date: new Date().toISOString(),
      command: 'npm run bench:trainer',
      wallS: (Date.now() - t0) / 1000,
    },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} catch (e) {
  log(`bench-trainer failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  code = 1;
} finally {
  await browser?.close();
  server?.close();
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
