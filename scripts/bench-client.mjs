#!/usr/bin/env node
// npm run bench:client — the browser SDK as a visitor gets it: createRecommender() in headless
// Chromium (/usr/bin/chromium or $CHROMIUM_PATH, the browser tests' flags; Playwright never
// downloads a browser here), served by the real localrec server over 127.0.0.1.
//
// 1. Models: SASRec on MovieLens 100K (read from ../shared/data/ml-100k, never copied) and on the
//    synthetic 100,000-item catalog `demo:100000:3000:7`, each trained briefly with
//    `localrec train` unless a checkpoint folder is given or already there (accuracy does not
//    matter for speed); exported int8 (`localrec export`) and published, signed with a throwaway
//    key, into temporary stores.
// 2. The page bench/client/ is built with the project's vite config (so ONNX Runtime's .wasm is
//    a hashed, precompressed asset, as in the demo) and served by `createServer` next to the API.
// 3. recommend() speed: per catalog, `--runs` fresh browser contexts; in each, once the model is
//    complete and the visitor has 20 interactions, `--warmup` + `--calls` rounds of "track one
//    event (untimed), recommend() (timed)". p50/p95 of the worker-side end-to-end time per run;
//    the headline is the median over runs (the page round trip is reported too).
// 4. Time to the first recommendation after the page script starts (100k catalog): cold = a new
//    browser context (empty HTTP cache, Cache Storage, IndexedDB) downloading from 127.0.0.1;
//    warm = the same context loading the page again. Medians over runs.
//
// Options: --ml100k-model=<dir> --items100k-model=<dir> (folders with sasrec.ckpt + catalog.json)
//          --retrain --runs=3 --calls=60 --warmup=10 --cold-runs=3 --warm-runs=5
//          --shard-items=N (items per exported shard; default the exporter's ~4 MB shards)
// Progress goes to stderr; the last line of stdout is the JSON report.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
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
  runs: Number(option('runs', 3)),
  calls: Number(option('calls', 60)),
  warmup: Number(option('warmup', 10)),
  coldRuns: Number(option('cold-runs', 3)),
  warmRuns: Number(option('warm-runs', 5)),
  retrain: option('retrain', false) === true,
  /** Items per embedding shard of the exports (default: the exporter's ~4 MB shards). */
  shardItems: option('shard-items', undefined),
};
if (!(cfg.calls >= 50) || !(cfg.runs >= 1) || !(cfg.coldRuns >= 1) || !(cfg.warmRuns >= 1)) {
  log(
    'usage: bench-client.mjs [--calls=≥50] [--warmup=N] [--runs=N] [--cold-runs=N] [--warm-runs=N]',
  );
  process.exit(2);
}

const ML100K_DATA = resolve(root, '../shared/data/ml-100k');
const catalogs = [
  {
    name: 'items100k',
    data: 'demo:100000:3000:7',
    dir: resolve(String(option('items100k-model', join(root, '.localrec/bench-client/items100k')))),
    // Sampled softmax: a full one over 100k items per position would not fit a quick run.
    train: ['--epochs', '1', '--loss', 'sampled', '--negatives', '256'],
  },
  {
    name: 'ml100k',
    data: ML100K_DATA,
    dir: resolve(String(option('ml100k-model', join(root, '.localrec/bench-client/ml-100k')))),
    train: ['--epochs', '6', '--eval-every', '3'],
  },
];

function localrec(args) {
  const r = spawnSync(process.execPath, [join(root, 'bin/localrec.js'), ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`localrec ${args.join(' ')} exited with ${r.status}`);
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
const r1 = (x) => (x === undefined || x === null ? null : Math.round(x * 10) / 10);

const { chromiumArgs } = await tsImport('../vitest.config.ts', import.meta.url);
const { createServer, listen } = await tsImport('../src/server/app.ts', import.meta.url);
const { publishExport } = await tsImport('../src/server/publish.ts', import.meta.url);
const { openPublicationStore } = await tsImport('../src/server/store/registry.ts', import.meta.url);
const { generateKeyFiles, readSigningKey } = await tsImport(
  '../src/server/keys.ts',
  import.meta.url,
);

const loadStart = os.loadavg()[0];
const t0 = Date.now();
const tmp = mkdtempSync(join(os.tmpdir(), 'localrec-bench-client-'));
const servers = [];
let browser;
let code = 0;
try {
  // 1. Models, exports, signed stores.
  const keyFiles = await generateKeyFiles(join(tmp, 'key'));
  const key = await readSigningKey(keyFiles.privateKeyFile);
  for (const c of catalogs) {
    if (
      c.name === 'ml100k' &&
      !existsSync(join(c.dir, 'sasrec.ckpt')) &&
      !existsSync(ML100K_DATA)
    ) {
      log(
        `[bench] !!! ${ML100K_DATA} is missing: the ML-100K catalog is SKIPPED (pass --ml100k-model)`,
      );
      c.skip = true;
      continue;
    }
    if (cfg.retrain || !existsSync(join(c.dir, 'sasrec.ckpt'))) {
      log(`[bench] training ${c.name} (${c.data}) into ${c.dir} (accuracy does not matter here)…`);
      localrec(['train', '--data', c.data, '--out', c.dir, '--workers', '1', ...c.train]);
    } else log(`[bench] ${c.name}: using the checkpoint in ${c.dir} (--retrain to train again)`);
    const exportDir = join(tmp, `export-${c.name}`);
    const shardFlag = cfg.shardItems ? ['--shard-items', String(cfg.shardItems)] : [];
    localrec(['export', '--model', c.dir, '--out', exportDir, ...shardFlag]);
    c.store = join(tmp, `store-${c.name}`);
    const store = openPublicationStore(`file:${c.store}`);
    const pub = await publishExport(exportDir, store, key);
    await store.blobs.close();
    await store.manifests.close();
    log(`[bench] ${c.name}: published ${pub.blobs} blobs, ${(pub.bytes / 1e6).toFixed(1)} MB`);
  }

  // 2. The page, built as a site would build it.
  const siteDir = join(tmp, 'site');
  log('[bench] building bench/client with vite…');
  const { build } = await import('vite');
  await build({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    build: {
      outDir: siteDir,
      emptyOutDir: true,
      rollupOptions: { input: join(root, 'bench/client/index.html') },
    },
  });
  for (const c of catalogs) {
    if (c.skip) continue;
    const app = createServer({ store: `file:${c.store}`, staticDir: siteDir });
    servers.push(app);
    c.url = (await listen(app, { host: '127.0.0.1', port: 0, log: () => {} })).replace(/\/$/, '');
  }

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumArgs,
    headless: true,
  });
  log(`[bench] ${browser.version()}; ${JSON.stringify(cfg)}`);
  const visit = async (page, c, query) => {
    const url = `${c.url}/bench/client/index.html?key=${encodeURIComponent(key.publicKey)}&${query}`;
    await page.goto(url);
    return page.evaluate(() => window.benchResult);
  };
  const newPage = async (context) => {
    const page = await context.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') log(`page console: ${m.text()}`);
    });
    return page;
  };

  // 3. recommend() speed.
  const speed = {};
  for (const c of catalogs) {
    if (c.skip) continue;
    const runs = [];
    for (let i = 0; i < cfg.runs; i++) {
      const context = await browser.newContext();
      const page = await newPage(context);
      const r = await visit(page, c, `mode=speed&calls=${cfg.calls}&warmup=${cfg.warmup}`);
      await context.close();
      const s = r.speed;
      const run = {
        p50Ms: quantile(s.totalMs, 0.5),
        p95Ms: quantile(s.totalMs, 0.95),
        roundTripP50Ms: quantile(s.roundTripMs, 0.5),
        roundTripP95Ms: quantile(s.roundTripMs, 0.95),
        stateP50Ms: quantile(s.stateMs, 0.5),
        retrieveP50Ms: quantile(s.retrieveMs, 0.5),
        rerankP50Ms: quantile(s.rerankMs, 0.5),
      };
      runs.push(run);
      log(
        `[bench] ${c.name} run ${i + 1}: ${r.items} items, ${r.kernel}/${r.device}: recommend() p50 ${run.p50Ms.toFixed(1)} / p95 ${run.p95Ms.toFixed(1)} ms ` +
          `(retrieve ${run.retrieveP50Ms.toFixed(1)}, rerank ${run.rerankP50Ms.toFixed(1)}; round trip p50 ${run.roundTripP50Ms.toFixed(1)} / p95 ${run.roundTripP95Ms.toFixed(1)})`,
      );
      c.items = r.items;
      c.kernel = r.kernel;
      c.device = r.device;
    }
    const pick = (k) => r1(median(runs.map((x) => x[k])));
    speed[c.name] = {
      p50Ms: pick('p50Ms'),
      p95Ms: pick('p95Ms'),
      roundTripP50Ms: pick('roundTripP50Ms'),
      roundTripP95Ms: pick('roundTripP95Ms'),
      retrieveP50Ms: pick('retrieveP50Ms'),
      rerankP50Ms: pick('rerankP50Ms'),
      items: c.items,
      kernel: c.kernel,
      device: c.device,
      runs: runs.map((x) => ({ p50Ms: r1(x.p50Ms), p95Ms: r1(x.p95Ms) })),
    };
  }

  // 4. Time to the first recommendation, cold and warm, on the 100k catalog.
  const big = catalogs.find((c) => c.name === 'items100k');
  const cold = [];
  const warm = [];
  const detail = [];
  for (let i = 0; i < cfg.coldRuns; i++) {
    const context = await browser.newContext();
    const page = await newPage(context);
    const r = await visit(page, big, 'mode=first');
    cold.push(r.firstRecMs);
    detail.push({ kind: 'cold', ...r });
    if (i === 0) {
      // Later visits of the same visitor: HTTP cache, Cache Storage and IndexedDB are warm.
      for (let j = 0; j < cfg.warmRuns; j++) {
        const w = await visit(page, big, 'mode=first');
        warm.push(w.firstRecMs);
        detail.push({ kind: 'warm', ...w });
      }
    }
    await context.close();
  }
  for (const d of detail)
    log(
      `[bench] first recommendation (${d.kind}): ${d.firstRecMs.toFixed(0)} ms after the script started ` +
        `(${d.firstRecSinceNavigationMs.toFixed(0)} ms after navigation), manifest from ${d.source}, ` +
        `${(d.cachedBytes / 1e6).toFixed(1)} of ${(d.totalBytes / 1e6).toFixed(1)} MB from cache then; ` +
        `whole model (encoder too) at ${d.completeMs.toFixed(0)} ms; ${d.timeline.join(', ')}`,
    );
  const out = {
    items100k: speed.items100k
      ? { p50Ms: speed.items100k.p50Ms, p95Ms: speed.items100k.p95Ms }
      : null,
    ml100k: speed.ml100k ? { p50Ms: speed.ml100k.p50Ms, p95Ms: speed.ml100k.p95Ms } : null,
    firstRecWarmMs: r1(median(warm)),
    firstRecColdMs: r1(median(cold)),
    detail: {
      speed,
      firstRecWarmRunsMs: warm.map(r1),
      firstRecColdRunsMs: cold.map(r1),
      firstRecWarmSinceNavigationMs: r1(
        median(detail.filter((d) => d.kind === 'warm').map((d) => d.firstRecSinceNavigationMs)),
      ),
      firstRecColdSinceNavigationMs: r1(
        median(detail.filter((d) => d.kind === 'cold').map((d) => d.firstRecSinceNavigationMs)),
      ),
      wholeModelWarmMs: r1(
        median(detail.filter((d) => d.kind === 'warm').map((d) => d.completeMs)),
      ),
      wholeModelColdMs: r1(
        median(detail.filter((d) => d.kind === 'cold').map((d) => d.completeMs)),
      ),
      targets: {
        items100kP50: { want: '≤ 15 ms', met: (speed.items100k?.p50Ms ?? Infinity) <= 15 },
        items100kP95: { want: '≤ 40 ms', met: (speed.items100k?.p95Ms ?? Infinity) <= 40 },
        firstRecWarm: { want: '≤ 300 ms', met: median(warm) <= 300 },
      },
      config: cfg,
      browser: browser.version(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? '',
        loadAvg1mStart: loadStart,
        loadAvg1mEnd: os.loadavg()[0],
      },
      command: 'npm run bench:client',
      wallS: (Date.now() - t0) / 1000,
    },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} catch (e) {
  log(`bench-client failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  code = 1;
} finally {
  await browser?.close();
  await Promise.all(servers.map((s) => s.close()));
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
