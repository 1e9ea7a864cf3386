#!/usr/bin/env node
// npm run bench:server — load on the sync server over 127.0.0.1: the signed manifest and a 1 MB
// blob (autocannon, closed loop), then federated reports the way browsers send them — a round
// ticket, then a trainer-sized delta carrying it — with the rate limit on, and the manifest's
// latency while those reports pour in. The server runs as `localrec serve` in its own process
// (SQLite synchronous=FULL: acknowledged means on disk); this process is the load generator.
//
// The round is what `localrec serve --federated` opens for a 3-member SASRec ensemble, dim 64,
// on ML-100K's 1,683 items: its federated parameter set (models/federated/parameter-set.ts),
// 484,416 values, so each delta is ~484 kB and the round's float64 sum 3.9 MB. Every simulated
// client is its own network (its own X-Forwarded-For address through `--trust-proxy 127.0.0.1`),
// so the per-network rate limit (default 10/s, burst 20) and ticket bound (4 per round) are
// checked on every request without limiting a client that keeps to them. Every delta has its
// own update id and values (the server refuses values it already counted).
//
// Flags: --duration <s> per phase (default 10); --connections (manifest, default 32),
// --blob-connections (default 8), --clients (concurrent reporting clients, default 16),
// --probe-rate (manifest requests/s while reports run, default 100). Last line: JSON.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomFillSync, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';
import autocannon from 'autocannon';
import { register } from 'tsx/esm/api';

register();
// The reporting clients run in a process of their own (this script again, with
// LOCALREC_BENCH_CLIENTS set), so that building and sending 484 kB bodies does not delay the
// manifest probe's own event loop and show up as server latency.
const clientMode = process.env.LOCALREC_BENCH_CLIENTS;
if (clientMode) {
  const { base, roundId, sliceSizes, seconds, clients, network } = JSON.parse(clientMode);
  const { encodeDelta } = await import('../src/core/delta.ts');
  // Trainer-like deltas: int8 values spread over −127..127, one scale per slice, well inside the
  // clip norm. A pool of random bodies; each post gets a fresh update id, its number written into
  // the first values (so no two posts have the same values) and a new checksum.
  const template = () => {
    const raw = randomFillSync(new Uint8Array(sliceSizes.reduce((a, b) => a + b, 0)));
    for (let i = 0; i < raw.length; i++) if (raw[i] === 0x80) raw[i] = 0x81; // no −128
    const q = new Int8Array(raw.buffer);
    let at = 0;
    return encodeDelta({
      roundId,
      baseVersion: 'bench-model',
      updateId: '1'.repeat(32),
      clipNorm: 1,
      slices: sliceSizes.map((n, index) => {
        const v = q.subarray(at, at + n);
        at += n;
        return { index, scale: 1e-5, values: v };
      }),
    });
  };
  const pool = Array.from({ length: 8 }, template);
  const firstValue = 35 + 'bench-model'.length + 12;
  let counter = 0;
  function nextDelta() {
    const n = ++counter;
    const b = Buffer.from(pool[n % pool.length]);
    b.writeUInt32LE(n, 12);
    b.writeUInt32LE(process.pid, 16);
    b.writeUInt32LE(0x5eed, 20);
    for (let k = 0; k < 4; k++) b[firstValue + k] = ((n >>> (7 * k)) & 0x7f) - 63;
    b.writeUInt32LE(crc32(b.subarray(0, b.length - 4)), b.length - 4);
    return b;
  }
  let nextClient = 0;
  const clientAddress = () => {
    const n = ++nextClient;
    return `${network}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  };

  function quantile(xs, q) {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 10) / 10;
  }

  /** `clients` browsers in a closed loop, each report: POST tickets, then POST the delta with it. */
  async function report(seconds) {
    const ticketMs = [];
    const updateMs = [];
    const statuses = {};
    const count = (s) => (statuses[s] = (statuses[s] ?? 0) + 1);
    const end = performance.now() + seconds * 1000;
    const one = async () => {
      while (performance.now() < end) {
        const xff = { 'x-forwarded-for': clientAddress() };
        let t0 = performance.now();
        const t = await fetch(`${base}/v1/rounds/${roundId}/tickets`, {
          method: 'POST',
          headers: xff,
        });
        const tb = await t.json();
        ticketMs.push(performance.now() - t0);
        count(`ticket ${t.status}`);
        if (t.status !== 201) {
          await new Promise((r) => setTimeout(r, Number(t.headers.get('retry-after') ?? 1) * 1000));
          continue;
        }
        t0 = performance.now();
        const u = await fetch(`${base}/v1/rounds/${roundId}/updates`, {
          method: 'POST',
          headers: {
            ...xff,
            'content-type': 'application/octet-stream',
            authorization: `Ticket ${tb.ticket}`,
          },
          body: nextDelta(),
        });
        await u.arrayBuffer();
        updateMs.push(performance.now() - t0);
        count(`update ${u.status}`);
        if (u.status === 503)
          await new Promise((r) => setTimeout(r, Number(u.headers.get('retry-after') ?? 1) * 1000));
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, one));
    const secs = (performance.now() - t0) / 1000;
    return {
      reportsPerSecond: Math.round(((statuses['update 202'] ?? 0) / secs) * 10) / 10,
      ticketP50Ms: quantile(ticketMs, 0.5),
      ticketP99Ms: quantile(ticketMs, 0.99),
      updateP50Ms: quantile(updateMs, 0.5),
      updateP99Ms: quantile(updateMs, 0.99),
      statuses,
    };
  }

  console.log(JSON.stringify(await report(seconds)));
  process.exit(0);
}
const { deltaByteLength } = await import('../src/core/delta.ts');
const { defineParameterSet, parameterCount, roundSlices } =
  await import('../models/federated/parameter-set.ts');

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    'blob-connections': { type: 'string', default: '8' },
    clients: { type: 'string', default: '16' },
    'probe-rate': { type: 'string', default: '100' },
  },
});
const duration = Number(flags.duration);
const connections = Number(flags.connections);
const blobConnections = Number(flags['blob-connections']);
const clients = Number(flags.clients);
const probeRate = Number(flags['probe-rate']);
const bin = join(import.meta.dirname, '..', 'bin', 'localrec.js');
const root = mkdtempSync(join(tmpdir(), 'localrec-bench-'));
const log = (s) => process.stderr.write(`${s}\n`);

function localrec(...args) {
  const r = spawnSync('node', [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`localrec ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

// An export with a 1 MB blob (random: incompressible, so it is sent as is).
const exportDir = join(root, 'export');
mkdirSync(join(exportDir, 'blobs'), { recursive: true });
const blob = randomBytes(1024 * 1024);
const blobSha = createHash('sha256').update(blob).digest('hex');
writeFileSync(join(exportDir, 'blobs', blobSha), blob);
writeFileSync(
  join(exportDir, 'manifest.json'),
  JSON.stringify({
    formatVersion: 1,
    modelVersion: 'bench-model',
    createdAt: new Date().toISOString(),
    models: {
      sasrec: {
        encoder: { sha256: blobSha, bytes: blob.length, quantization: 'int8', format: 'onnx' },
        config: { maxLen: 50, dim: 64 },
      },
    },
    shards: [],
    metadata: [],
    llm: null,
    federated: null,
    signature: null,
  }),
);
const store = `file:${join(root, 'store')}`;
const rounds = `sqlite:${join(root, 'rounds.db')}`;
localrec('keygen', '--out', join(root, 'keys', 'bench'));
localrec(
  'publish',
  '--from',
  exportDir,
  '--store',
  store,
  '--key',
  join(root, 'keys', 'bench.key'),
);

// The trainer's parameter set: 3 members × (item rows 1,683 × 64, positions 50 × 64, 2 blocks).
const sasrec = {
  numItems: 1683,
  maxLen: 50,
  dim: 64,
  blocks: 2,
  heads: 1,
  ffnDim: 64,
  dropout: 0.2,
  layerNormEps: 1e-8,
  members: 3,
};
const set = defineParameterSet(sasrec);
const slices = roundSlices(set);
const values = parameterCount(set);
const round = localrec(
  'round',
  'open',
  '--rounds',
  rounds,
  '--slices',
  slices.map((s) => `${s.name}:${s.shape.join('x')}`).join(','),
  '--clip-norm',
  '1',
  '--min-reports',
  '1',
  '--duration',
  '1h',
  '--store',
  store,
);

const server = spawn(
  'node',
  [
    bin,
    'serve',
    '--store',
    store,
    '--rounds',
    rounds,
    '--port',
    '0',
    '--trust-proxy',
    '127.0.0.1',
    '--log-level',
    'warn',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const base = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (line) resolve(JSON.parse(line).url.replace(/\/$/, ''));
  });
  server.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
});

const sliceSizes = slices.map((s) => s.shape.reduce((a, b) => a * b, 1));
const deltaBytes = deltaByteLength('bench-model', sliceSizes);

/** Runs the reporting clients for `seconds` in a child process; `network`: their first octet. */
function report(seconds, network) {
  const env = {
    ...process.env,
    LOCALREC_BENCH_CLIENTS: JSON.stringify({
      base,
      roundId: round.id,
      sliceSizes,
      seconds,
      clients,
      network,
    }),
  };
  return new Promise((resolve, reject) => {
    const child = spawn('node', [import.meta.filename], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)))
        : reject(new Error(`the clients exited with ${code}`)),
    );
  });
}

function run(title, opts) {
  return new Promise((resolve, reject) => {
    autocannon({ url: base, connections, duration, ...opts }, (err, r) =>
      err ? reject(err) : resolve(r),
    );
  }).then((r) => {
    const non2xx = r.non2xx + r.errors + r.timeouts;
    log(
      `${title.padEnd(18)} ${String(opts.connections ?? connections).padStart(3)} conn ${Math.round(r.requests.average).toString().padStart(7)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  max ${r.latency.max} ms  (${r.requests.total} requests, ${non2xx} not 2xx/3xx or failed)`,
    );
    return {
      rps: Math.round(r.requests.average),
      p99: r.latency.p99,
      p50: r.latency.p50,
      max: r.latency.max,
      failed: non2xx,
    };
  });
}

try {
  log(
    `sync server at ${base}, ${cpus().length} cores shared with the load generator; ${duration} s per phase; round of ${values} values, ${deltaBytes}-byte deltas`,
  );
  await run('warm-up', { url: `${base}/v1/manifest`, duration: 2 });
  const manifest = await run('manifest', { url: `${base}/v1/manifest` });
  const blobRes = await run('blob 1 MB', {
    url: `${base}/v1/blobs/${blobSha}`,
    connections: blobConnections,
  });
  const reports = await report(duration, 10);
  log(
    `reports            ${String(clients).padStart(3)} clients ${reports.reportsPerSecond} reports/s  ticket p50 ${reports.ticketP50Ms} ms p99 ${reports.ticketP99Ms} ms  update p50 ${reports.updateP50Ms} ms p99 ${reports.updateP99Ms} ms  ${JSON.stringify(reports.statuses)}`,
  );
  // The manifest at a steady rate while the same reports run: what a visitor waits for while
  // the intake is busy with 484 kB deltas.
  const [probe, during] = await Promise.all([
    run('manifest, busy', {
      url: `${base}/v1/manifest`,
      connections: 4,
      overallRate: probeRate,
    }),
    report(duration, 11),
  ]);
  log(
    `reports (probed)   ${String(clients).padStart(3)} clients ${during.reportsPerSecond} reports/s  update p50 ${during.updateP50Ms} ms p99 ${during.updateP99Ms} ms`,
  );
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const commits = Number(/localrec_update_commits_total (\d+)/.exec(metrics)?.[1] ?? 0);
  const accepted = Number(
    /localrec_updates_total\{outcome="accepted"\} (\d+)/.exec(metrics)?.[1] ?? 0,
  );
  log(
    `updates: ${accepted} counted in ${commits} SQLite transactions (group commit, ${(accepted / Math.max(1, commits)).toFixed(1)} per commit)`,
  );
  const refused = Object.entries({ ...reports.statuses })
    .filter(([k]) => !/ (201|202)$/.test(k))
    .reduce((a, [, n]) => a + n, 0);
  console.log(
    JSON.stringify({
      date: new Date().toISOString().slice(0, 10),
      manifestRps: manifest.rps,
      manifestP99Ms: manifest.p99,
      blobRps: blobRes.rps,
      blobP99Ms: blobRes.p99,
      roundValues: values,
      deltaBytes,
      reportsPerSecond: reports.reportsPerSecond,
      ticketP50Ms: reports.ticketP50Ms,
      ticketP99Ms: reports.ticketP99Ms,
      updateP50Ms: reports.updateP50Ms,
      updateP99Ms: reports.updateP99Ms,
      busyManifestP50Ms: probe.p50,
      busyManifestP99Ms: probe.p99,
      busyManifestMaxMs: probe.max,
      busyReportsPerSecond: during.reportsPerSecond,
      updatesCounted: accepted,
      updateCommits: commits,
      failed: manifest.failed + blobRes.failed + probe.failed + refused,
      cores: cpus().length,
      durationSeconds: duration,
      connections: { manifest: connections, blob: blobConnections, clients, probeRate },
      rateLimit: 'default (10/s, burst 20, per client network)',
    }),
  );
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(root, { recursive: true, force: true });
}
