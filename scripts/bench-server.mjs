#!/usr/bin/env node
// npm run bench:server — load on the sync server over 127.0.0.1 with autocannon: the signed
// manifest, a 1 MB blob, and federated update posts (each with its own update id, so every
// post is a real count in SQLite, synchronous=FULL). The server runs as `localrec serve` in its
// own process; this process is the load generator. Last line: JSON with req/s and p99.
//
// Flags: --duration <s> per endpoint (default 10); connections per endpoint: --connections
// (manifest, default 32), --blob-connections (default 8), --update-connections (default 16).
// Closed-loop load: latency ≈ connections / throughput, so each endpoint runs at a connection
// count that keeps the server busy without just measuring queueing in front of it.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { register } from 'tsx/esm/api';

register();
const { crc32, encodeDelta } = await import('../src/core/delta.ts');

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    'blob-connections': { type: 'string', default: '8' },
    'update-connections': { type: 'string', default: '16' },
  },
});
const duration = Number(flags.duration);
const connections = Number(flags.connections);
const blobConnections = Number(flags['blob-connections']);
const updateConnections = Number(flags['update-connections']);
const bin = join(import.meta.dirname, '..', 'bin', 'localrec.js');
const root = mkdtempSync(join(tmpdir(), 'localrec-bench-'));
const log = (s) => process.stderr.write(`${s}\n`);

function localrec(...args) {
  const r = spawnSync('node', [bin, ...args], { encoding: 'utf8' });
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
const round = localrec(
  'round',
  'open',
  '--rounds',
  rounds,
  '--slices',
  'item_emb:64x16',
  '--clip-norm',
  '1',
  '--min-reports',
  '100000000',
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
    '--rate-limit',
    '0',
    '--log-level',
    'warn',
  ],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
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

// One valid delta as a template; each post gets a fresh update id and checksum.
const values = Int8Array.from({ length: 64 * 16 }, (_, i) => ((i * 37) % 21) - 10);
const template = encodeDelta({
  roundId: round.id,
  baseVersion: 'bench-model',
  updateId: '1'.repeat(32),
  clipNorm: 1,
  slices: [{ index: 0, scale: 1 / 1024, values }],
});
let counter = 0;
function nextDelta() {
  const b = Buffer.from(template);
  b.writeUInt32LE(++counter, 12);
  b.writeUInt32LE(process.pid, 16);
  b.writeUInt32LE(crc32(b.subarray(0, b.length - 4)), b.length - 4);
  return b;
}

function run(title, opts) {
  return new Promise((resolve, reject) => {
    autocannon({ url: base, connections, duration, ...opts }, (err, r) =>
      err ? reject(err) : resolve(r),
    );
  }).then((r) => {
    const non2xx = r.non2xx + r.errors + r.timeouts;
    log(
      `${title.padEnd(10)} ${String(opts.connections ?? connections).padStart(3)} conn ${Math.round(r.requests.average).toString().padStart(7)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  (${r.requests.total} requests, ${non2xx} not 2xx/3xx or failed)`,
    );
    return {
      rps: Math.round(r.requests.average),
      p99: r.latency.p99,
      p50: r.latency.p50,
      failed: non2xx,
    };
  });
}

try {
  log(
    `sync server at ${base}, ${cpus().length} cores shared with the load generator; ${duration} s per endpoint`,
  );
  await run('warm-up', { url: `${base}/v1/manifest`, duration: 2 });
  const manifest = await run('manifest', { url: `${base}/v1/manifest` });
  const blobRes = await run('blob 1 MB', {
    url: `${base}/v1/blobs/${blobSha}`,
    connections: blobConnections,
  });
  const updates = await run('updates', {
    url: `${base}/v1/rounds/${round.id}/updates`,
    connections: updateConnections,
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    requests: [{ setupRequest: (req) => ({ ...req, body: nextDelta() }) }],
  });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const commits = Number(/localrec_update_commits_total (\d+)/.exec(metrics)?.[1] ?? 0);
  const accepted = Number(
    /localrec_updates_total\{outcome="accepted"\} (\d+)/.exec(metrics)?.[1] ?? 0,
  );
  log(
    `updates: ${accepted} counted in ${commits} SQLite transactions (group commit, ${(accepted / Math.max(1, commits)).toFixed(1)} per fsync)`,
  );
  console.log(
    JSON.stringify({
      manifestRps: manifest.rps,
      manifestP99Ms: manifest.p99,
      blobRps: blobRes.rps,
      blobP99Ms: blobRes.p99,
      updateRps: updates.rps,
      updateP99Ms: updates.p99,
      updatesCounted: accepted,
      updateCommits: commits,
      failed: manifest.failed + blobRes.failed + updates.failed,
      cores: cpus().length,
      durationSeconds: duration,
      connections: { manifest: connections, blob: blobConnections, updates: updateConnections },
    }),
  );
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(root, { recursive: true, force: true });
}
