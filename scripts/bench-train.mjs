#!/usr/bin/env node
// npm run bench:train — central SASRec training speed, on the code path `localrec train` runs
// (issue #14): positions/s, seconds per epoch, peak memory and achieved GFLOP/s, next to a matmul
// roofline measured on this machine in this run.
//
// 1. Roofline: tfjs-backend-wasm (the trainer's backend) tf.matMul of square f32 matrices
//    (1024², 2048²), best of a few, on this thread; and the same on every core at once
//    (availableParallelism() worker threads, total FLOPs over the wall time).
// 2. Runs, each in its own child process (so its peak RSS is its own, and an out-of-memory run
//    cannot take the others down): per catalog and loss, the split, item features and configs
//    of `localrec train` with these flags (src/cli/train.ts prepareTraining, the CLI's own flag
//    parser and defaults: item features on, workers = min(4, cores)), then trainSasrec
//    (models/sasrec/train.ts → models/training/loop.ts) for one ensemble member — the default
//    ensemble trains its members one after another, so a member's speed is the command's.
//    The first `--warmup` steps are not timed; then steps are timed until `--seconds` have
//    passed (or `--steps` steps), and the run is stopped. A step's time is the time between two
//    progress reports, so it includes building each epoch's batches and excludes validation.
//    Catalogs: ml-100k (MovieLens 100K, read from --data, default ../shared/data/ml-100k: its
//    research-only licence keeps it out of the repo), synthetic-25k (src/core/synthetic.ts:
//    25,000 items, 30,000 users of 5–20 events ≈ 324k events — the shape of a public catalog of
//    ~24k items, 31k users and 300k events) and synthetic-1m (1,000,000 items, 462,000 users ≈
//    5M events). Losses: full softmax and `--loss sampled --negatives 1024`; the 1M catalog runs
//    sampled only (a full softmax over 1M items is a (batch·maxLen) × 1M logit matrix: 3,200 ×
//    1M f32 = 12.8 GB per 64-sequence step, before its gradient).
// 3. FLOPs, counted analytically from the config (matmuls only, multiply-add = 2, backward = 2×
//    forward): per position and block, 8·d² (Q, K, V, O) + 4·d·ffnDim (FFN) + 4·L·d (scores and
//    context over the sequence's own L positions); the output layer, 2·(d+bias)·(numItems+1) per
//    position for the full softmax, 2·d·(negatives+1) for the sampled one. `gflops` is these
//    FLOPs over the timed steps' seconds. The item-feature mix (F · item_feat and item_feat's
//    gradient, over F's nonzeros: models/sasrec/item-features.ts) is per step, not per
//    position: reported apart as `itemFeatureGflops`, counted as an upper bound, 2·2·nnz·d a
//    step (every nonzero, forward and gradient: what the full softmax does; a sampled step
//    computes it for the rows it reads only, a few thousand of the catalog's).
//
// Options: --catalogs=ml-100k,synthetic-25k,synthetic-1m  --losses=full,sampled
//          --negatives=1024  --seconds=45 (timed seconds per run)  --steps=0 (cap on timed
//          steps, 0 = none)  --warmup=1  --data=<ml-100k folder>  --run-timeout=300 (s, per run)
//          and any `localrec train` flag (e.g. --workers 1, --no-item-features, --batch-size 128;
//          --backend webgpu trains the runs on that backend, the roofline stays wasm's).
// Progress goes to stderr; the last line of stdout is the JSON report:
// {"rooflineGflops":…,"runs":[{"catalog":…,"loss":…,"positionsPerSecond":…,"secondsPerEpoch":…,
//  "peakRssMb":…,"gflops":…,…}],…}
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const root = fileURLToPath(new URL('..', import.meta.url));
const self = fileURLToPath(import.meta.url);
const log = (s) => process.stderr.write(`${s}\n`);
const r1 = (x) => Math.round(x * 10) / 10;
const r3 = (x) => Math.round(x * 1000) / 1000;

/** Square matmuls on this thread's tfjs wasm backend: the best GFLOP/s of `reps` after a warm-up. */
async function matmulGflops(tf, n, reps) {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  let best = Infinity;
  for (let i = 0; i <= reps; i++) {
    const t = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    const ms = performance.now() - t;
    c.dispose();
    if (i > 0) best = Math.min(best, ms);
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

async function wasmTf() {
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  await tf.ready();
  return tf;
}

/** The bench's own stop: thrown from the progress hook once enough steps are timed. */
class Stop extends Error {}

if (!isMainThread) {
  // Roofline worker: wait for 'go', run `reps` n×n matmuls, report the FLOPs and the seconds.
  const tf = await wasmTf();
  const { n, reps } = workerData;
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  tf.matMul(a, b).dataSync(); // warm-up
  parentPort.postMessage('ready');
  parentPort.once('message', () => {
    const t = performance.now();
    for (let i = 0; i < reps; i++) tf.matMul(a, b).dataSync();
    parentPort.postMessage({ flops: reps * 2 * n ** 3, seconds: (performance.now() - t) / 1000 });
  });
} else {
  await main();
}

async function main() {
  const { tsImport } = await import('tsx/esm/api');
  const imp = (p) => tsImport(p, import.meta.url);
  const { trainOptions, parseTrainFlags } = await imp('../src/cli/commands/train.ts');
  const benchOptions = {
    catalogs: { type: 'string', default: 'ml-100k,synthetic-25k,synthetic-1m' },
    losses: { type: 'string', default: 'full,sampled' },
    seconds: { type: 'string', default: '45' },
    steps: { type: 'string', default: '0' },
    warmup: { type: 'string', default: '1' },
    data: { type: 'string', default: resolve(root, '../shared/data/ml-100k') },
    'run-timeout': { type: 'string', default: '300' },
    run: { type: 'string' },
  };
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { ...trainOptions, ...benchOptions },
    strict: true,
  });
  const negatives = Number(values.negatives ?? 1024);
  const cfg = {
    seconds: Number(values.seconds),
    steps: Number(values.steps),
    warmup: Number(values.warmup),
    negatives,
    runTimeout: Number(values['run-timeout']),
  };
  if (
    !(cfg.seconds > 0) ||
    !(Number.isInteger(cfg.steps) && cfg.steps >= 0) ||
    !(Number.isInteger(cfg.warmup) && cfg.warmup >= 0) ||
    !(Number.isInteger(negatives) && negatives >= 1) ||
    !(cfg.runTimeout > 0)
  ) {
    log(
      'usage: bench-train.mjs [--catalogs=ml-100k,synthetic-25k,synthetic-1m] [--losses=full,sampled] ' +
        '[--negatives=1024] [--seconds=45] [--steps=0] [--warmup=1] [--data=<ml-100k>] [--run-timeout=300] [localrec train flags]',
    );
    process.exit(2);
  }
  // `localrec train` flags, as that command would read them (the bench's own are not among them).
  const trainValues = Object.fromEntries(
    Object.entries(values).filter(([k]) => k in trainOptions && k !== 'loss'),
  );
  if (values.run) {
    const [catalog, loss] = values.run.split(':');
    await oneRun(imp, parseTrainFlags, trainValues, catalog, loss, values.data, cfg);
    return;
  }

  const t0 = Date.now();
  const loadStart = os.loadavg();
  const tf = await wasmTf();
  log(`[bench] load average ${loadStart.map((x) => x.toFixed(2)).join(' ')}; roofline…`);
  const single = {};
  for (const n of [1024, 2048]) {
    single[n] = r1(await matmulGflops(tf, n, n >= 2048 ? 3 : 5));
    log(`[bench] roofline: tfjs wasm matMul ${n}×${n}: ${single[n]} GFLOP/s (best, one thread)`);
  }
  const cores = os.availableParallelism();
  const allCores = await (async () => {
    const n = 1024;
    const reps = 8;
    const ws = Array.from({ length: cores }, () => new Worker(self, { workerData: { n, reps } }));
    await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
    const t = performance.now();
    const done = ws.map((w) => new Promise((r) => w.once('message', r)));
    for (const w of ws) w.postMessage('go');
    const res = await Promise.all(done);
    const wall = (performance.now() - t) / 1000;
    await Promise.all(ws.map((w) => w.terminate()));
    return r1(res.reduce((a, x) => a + x.flops, 0) / wall / 1e9);
  })();
  log(`[bench] roofline: ${cores} threads at once, 1024×1024: ${allCores} GFLOP/s in total`);
  const rooflineGflops = Math.max(...Object.values(single));

  const catalogs = values.catalogs.split(',').filter(Boolean);
  const losses = values.losses.split(',').filter(Boolean);
  // What each child gets: every flag given except the run list (train flags and timing).
  const passOn = Object.entries(values)
    .filter(
      ([k, v]) => !['catalogs', 'losses', 'run'].includes(k) && v !== undefined && v !== false,
    )
    .map(([k, v]) => (v === true ? `--${k}` : `--${k}=${v}`));
  const given = process.argv.slice(2).filter((a) => a !== '--');
  const runs = [];
  for (const catalog of catalogs)
    for (const loss of losses) {
      if (catalog === 'synthetic-1m' && loss === 'full') {
        log('[bench] synthetic-1m/full: not run (a full softmax over 1M items does not fit)');
        runs.push({
          catalog,
          loss,
          skipped:
            'a full softmax over 1M items is a (batch·maxLen) × 1M logit matrix, 12.8 GB f32 per 64-sequence step: only sampled is sensible',
        });
        continue;
      }
      runs.push(await childRun(catalog, loss, passOn, cfg, rooflineGflops));
    }
  const loadEnd = os.loadavg();
  let commit = null;
  let dirty = null;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root }).toString().trim();
    dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root })
        .toString()
        .trim().length > 0;
  } catch {
    /* not a checkout */
  }
  const report = {
    rooflineGflops,
    runs,
    rooflineGflopsAllCores: allCores,
    roofline: { matmulGflopsOneThread: single, threads: cores, allThreadsGflops: allCores },
    date: new Date().toISOString(),
    command: `npm run bench:train${given.length ? ` -- ${given.join(' ')}` : ''}`,
    commit,
    dirtyTree: dirty,
    loadAverage: { start: loadStart.map(r1), end: loadEnd.map(r1) },
    machine: {
      cpus: cores,
      cpuModel: os.cpus()[0]?.model ?? '',
      memoryGb: r1(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    options: cfg,
    wallS: r1((Date.now() - t0) / 1000),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** One run in a child process; its last stdout line is the run's JSON. */
function childRun(catalog, loss, passOn, cfg, roofline) {
  return new Promise((done) => {
    const args = [self, ...passOn, `--run=${catalog}:${loss}`];
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      log(`[bench] ${catalog}/${loss}: past --run-timeout ${cfg.runTimeout} s, killing it`);
      child.kill('SIGKILL');
    }, cfg.runTimeout * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop();
      let r = null;
      try {
        r = last ? JSON.parse(last) : null;
      } catch {
        r = null;
      }
      if (r && !r.error) {
        r.rooflineShare = r3(r.gflops / roofline);
        done(r);
      } else
        done({
          catalog,
          loss,
          error:
            r?.error ??
            (signal === 'SIGKILL'
              ? `killed: ran past --run-timeout ${cfg.runTimeout} s (or out of memory)`
              : `exited with ${signal ?? code}`),
          ...(r?.partial && { partial: r.partial }),
        });
    });
  });
}

async function oneRun(imp, parseTrainFlags, trainValues, catalog, lossName, data, cfg) {
  const tag = `[bench] ${catalog}/${lossName}`;
  const say = (s) => log(`${tag}: ${s}`);
  const mb = (b) => Math.round(b / 2 ** 20);
  const partial = {};
  try {
    const { initTf } = await imp('../src/cli/tf-node.ts');
    const { trainCatalog } = await imp('./train-catalogs.ts');
    const { prepareTraining } = await imp('../src/cli/train.ts');
    const { trainSasrec } = await imp('../models/sasrec/train.ts');
    const { buildExamples } = await imp('../models/training/examples.ts');
    const { Rng } = await imp('../src/core/random.ts');
    const s0 = performance.now();
    const ds = trainCatalog(catalog, data);
    if (lossName !== 'full' && lossName !== 'sampled') throw new Error(`unknown loss ${lossName}`);
    const flags = parseTrainFlags({
      ...trainValues,
      loss: lossName,
      ...(lossName === 'sampled' && { negatives: String(cfg.negatives) }),
    });
    // --backend as `localrec train` takes it (its workers: 1 on a GPU backend).
    const backend = await initTf(flags.backend);
    if (backend.backend !== 'wasm' && flags.train.workers > 1) flags.train.workers = 1;
    say(`backend: ${backend.reason}`);
    const { split, features, config, tc } = prepareTraining(ds, flags);
    const setupSeconds = (performance.now() - s0) / 1000;
    say(
      `${split.users.length} users, ${split.numItems} items, ${ds.events.length} events; ` +
        `item features ${features ? `${features.cols} columns` : 'off'}; workers ${tc.workers}, batch ${tc.batchSize}; ` +
        `set up in ${setupSeconds.toFixed(1)} s, rss ${mb(process.memoryUsage.rss())} MB`,
    );

    // One epoch's examples as the trainer draws them (crop, ties): positions and attention spans.
    const window = tc.futureWeight > 0 ? tc.futureWindow : 1;
    const examples = buildExamples(
      split,
      config.maxLen,
      tc.cropRate,
      new Rng(tc.seed + 1),
      tc.maskRate,
      tc.tieShuffle,
      window,
    );
    let positionsPerEpoch = 0;
    let sumL2 = 0;
    for (const e of examples) {
      const real = e.target.reduce((a, t) => a + (t !== 0 ? 1 : 0), 0);
      positionsPerEpoch += real;
      sumL2 += real * e.input.length;
    }
    const meanSpan = sumL2 / positionsPerEpoch;
    const d = config.dim;
    const blockFlops = 3 * config.blocks * (8 * d * d + 4 * d * config.ffnDim + 4 * meanSpan * d);
    const outFlops =
      3 *
      (tc.loss.kind === 'full'
        ? 2 * (d + (config.itemBias ? 1 : 0)) * (config.numItems + 1)
        : 2 * d * (tc.loss.negatives + 1));
    const flopsPerPosition = blockFlops + outFlops;
    const featureFlopsPerStep = features ? 2 * 2 * features.col.length * d : 0;
    Object.assign(partial, { setupSeconds: r1(setupSeconds), positionsPerEpoch });

    // Timing: see the header. A progress report's cumulative count of the epoch is its rate times
    // the epoch's seconds so far (epoch 1 starts with the loop; a later one when onEpoch returns).
    let step = 0;
    let epochStart = null;
    let prevAt = null;
    let prevCount = 0;
    let timed = { steps: 0, seconds: 0, positions: 0 };
    let cpu0 = null;
    let elu0 = null;
    let wall0 = 0;
    let peakRss = process.memoryUsage.rss();
    let stepsPerEpoch = 0;
    let firstStepSeconds = null;
    const epochs = [];
    const trainStart = performance.now();
    const onProgress = (p) => {
      const now = performance.now();
      if (p.step === 1 && p.epoch === 1) {
        epochStart = now - p.elapsedSec * 1000;
        firstStepSeconds = (now - trainStart) / 1000;
      }
      const count = Math.round((p.positionsPerSec * (now - epochStart)) / 1000);
      const positions = p.step === 1 ? count : count - prevCount;
      const seconds = (now - (p.step === 1 ? epochStart : prevAt)) / 1000;
      prevAt = now;
      prevCount = count;
      step++;
      stepsPerEpoch = p.stepsPerEpoch;
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      const rss = mb(process.memoryUsage.rss());
      if (step <= cfg.warmup) {
        say(
          `warm-up step ${step}: ${positions} positions in ${seconds.toFixed(2)} s, rss ${rss} MB`,
        );
        if (step === cfg.warmup) {
          cpu0 = process.cpuUsage();
          elu0 = performance.eventLoopUtilization();
          wall0 = now;
        }
        return;
      }
      if (cpu0 === null) {
        cpu0 = process.cpuUsage();
        elu0 = performance.eventLoopUtilization();
        wall0 = now - seconds * 1000;
      }
      timed.steps++;
      timed.seconds += seconds;
      timed.positions += positions;
      say(
        `step ${step} (epoch ${p.epoch}, ${p.step}/${p.stepsPerEpoch}): ${positions} positions in ${seconds.toFixed(2)} s; ` +
          `${Math.round(timed.positions / timed.seconds)} pos/s over ${timed.steps} timed steps, loss ${p.loss.toFixed(3)}, rss ${rss} MB`,
      );
      if ((cfg.steps > 0 && timed.steps >= cfg.steps) || timed.seconds >= cfg.seconds) {
        const u = process.cpuUsage(cpu0);
        timed.cpuCoresBusy = (u.user + u.system) / 1000 / (now - wall0);
        timed.mainThreadBusy = performance.eventLoopUtilization(elu0).utilization;
        throw new Stop();
      }
    };
    try {
      await trainSasrec(
        config,
        split,
        { ...tc, maxSeconds: 0 },
        {
          onProgress,
          onEpoch: (r) => {
            epochs.push({
              epoch: r.epoch,
              seconds: r1(r.seconds),
              positionsPerSec: Math.round(r.positionsPerSec),
            });
            epochStart = performance.now();
          },
        },
        features,
      );
      throw new Error('training ended before the timed steps were done (raise --epochs?)');
    } catch (e) {
      if (!(e instanceof Stop)) throw e;
    }
    peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
    const positionsPerSecond = timed.positions / timed.seconds;
    const run = {
      catalog,
      loss: lossName,
      positionsPerSecond: r1(positionsPerSecond),
      secondsPerEpoch: r1(positionsPerEpoch / positionsPerSecond),
      peakRssMb: mb(peakRss),
      gflops: r3((flopsPerPosition * positionsPerSecond) / 1e9),
      ...(tc.loss.kind === 'sampled' && { negatives: tc.loss.negatives }),
      itemFeatureGflops: r3((featureFlopsPerStep * timed.steps) / timed.seconds / 1e9),
      users: split.users.length,
      items: split.numItems,
      events: ds.events.length,
      positionsPerEpoch,
      stepsPerEpoch,
      timedSteps: timed.steps,
      timedSeconds: r1(timed.seconds),
      warmupSteps: cfg.warmup,
      firstStepSeconds: firstStepSeconds === null ? null : r1(firstStepSeconds),
      setupSeconds: r1(setupSeconds),
      // CPU time of all threads over the timed wall time; the main thread's share not waiting.
      cpuCoresBusy: r3(timed.cpuCoresBusy),
      mainThreadBusy: r3(timed.mainThreadBusy),
      epochsDone: epochs,
      flops: {
        perPosition: Math.round(flopsPerPosition),
        blocksPerPosition: Math.round(blockFlops),
        outputPerPosition: Math.round(outFlops),
        outputShare: r3(outFlops / flopsPerPosition),
        meanAttentionSpan: r1(meanSpan),
        itemFeaturesPerStep: featureFlopsPerStep,
      },
      config: {
        dim: d,
        blocks: config.blocks,
        heads: config.heads,
        ffnDim: config.ffnDim,
        maxLen: config.maxLen,
        cosineTemperature: config.cosineTemperature ?? 0,
        itemBias: !!config.itemBias,
        itemFeatures: config.itemFeatures ?? 0,
        batchSize: tc.batchSize,
        workers: tc.workers,
        excludeSeen: tc.excludeSeen,
        backend: backend.backend,
      },
      loadAverage: os.loadavg().map(r1),
    };
    say(
      `${run.positionsPerSecond} pos/s, ${run.secondsPerEpoch} s/epoch, ${run.gflops} GFLOP/s ` +
        `(+${run.itemFeatureGflops} in the item-feature mix), ${run.cpuCoresBusy} cores busy (main thread ${run.mainThreadBusy}), peak rss ${run.peakRssMb} MB`,
    );
    process.stdout.write(`${JSON.stringify(run)}\n`);
    process.exit(0);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    say(`failed: ${e instanceof Error ? (e.stack ?? msg) : msg}`);
    process.stdout.write(
      `${JSON.stringify({ catalog, loss: lossName, error: msg.slice(0, 500), partial: { ...partial, peakRssMb: mb(process.resourceUsage().maxRSS * 1024) } })}\n`,
    );
    process.exit(1);
  }
}
