/**
 * Crash safety of the learning loop, with the real `localrec serve --federated` in a child
 * process on a small trainable SASRec: clients post real trainer deltas with their tickets, the
 * owner closes the round, and the server is killed -9 while it aggregates — at each stage of
 * publishing the next version (the coordinator's crash-test pause, LOCALREC_FEDERATED_PAUSE_AT:
 * the export written to scratch; part of the new blobs stored; every blob stored, no manifest;
 * the manifest stored as a version, not yet current; the new version current, the round not yet
 * marked closed). Right after each kill the store holds only complete, signed versions, the old
 * one current (or, killed after publishing, the new one); restarted on the same store, the
 * round is aggregated exactly once — one version naming it, counting every acknowledged update —
 * and the next round opens on that version.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, startServe, type ServeChild } from '../setup/serve-child.ts';
import { PAUSE_STAGES, type PauseStage } from '../../src/cli/federated/coordinator.ts';
import { readBaseVersion } from '../../src/cli/federated/next-version.ts';
import { exportModelDir } from '../../src/cli/export.ts';
import { initTf } from '../../src/cli/tf-node.ts';
import { CATALOG_FILE, CHECKPOINT_FILE } from '../../src/cli/train.ts';
import {
  manifestBlobs,
  parseManifest,
  verifyManifest,
  type Manifest,
} from '../../src/core/manifest.ts';
import { Rng } from '../../src/core/random.ts';
import { generateKeyFiles, readSigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore, openRoundStore } from '../../src/server/store/registry.ts';
import { encodeCheckpoint } from '../../models/checkpoint.ts';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { initWeights } from '../../models/sasrec/model.ts';
import { weightsToArrays } from '../../models/tf-ops.ts';
import { clientDelta } from './federated-fixture.ts';
import { getTicket, postDelta } from './server-fixture.ts';

const TOKEN = 'crash-federated-admin-token';
const CLIENTS = 3;

let root: string;
let storeDir: string;
let storeUrl: string;
let workDir: string;
let keyFile: string;
let publicKey: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  await initTf();
  root = mkdtempSync(join(tmpdir(), 'localrec-crash-federated-'));
  storeDir = join(root, 'store');
  storeUrl = `file:${storeDir}`;
  workDir = join(root, 'work');
  // A small SASRec with random weights, exported as `localrec export` ships it: int8 encoder,
  // item shards, metadata, and the trainable f32 checkpoint (models.sasrec.trainable).
  const config: SasrecConfig = {
    numItems: 60,
    maxLen: 12,
    dim: 16,
    blocks: 1,
    heads: 1,
    ffnDim: 16,
    dropout: 0.2,
    layerNormEps: 1e-6,
    cosineTemperature: 0.07,
  };
  const tensors = initWeights(config, 7);
  const weights = weightsToArrays(tensors);
  tf.dispose(Object.values(tensors));
  const itemIds = ['', ...Array.from({ length: config.numItems }, (_, i) => `item-${i + 1}`)];
  const modelDir = join(root, 'model');
  mkdirSync(modelDir, { recursive: true });
  writeFileSync(
    join(modelDir, CHECKPOINT_FILE),
    encodeCheckpoint({ model: 'sasrec', config, meta: { itemIds }, weights }),
  );
  writeFileSync(
    join(modelDir, CATALOG_FILE),
    JSON.stringify(
      itemIds
        .slice(1)
        .map((id, i) => ({ id, title: `Item ${i + 1}`, categories: [], popularity: 60 - i })),
    ),
  );
  const exportDir = join(root, 'export');
  exportModelDir({ modelDir, out: exportDir, quantization: 'int8', shardItems: 20 });
  const keys = await generateKeyFiles(join(root, 'keys', 'site'));
  keyFile = keys.privateKeyFile;
  publicKey = keys.publicKey;
  const store = openPublicationStore(storeUrl);
  await publishExport(exportDir, store, await readSigningKey(keyFile));
  const m = parseManifest((await store.manifests.current())!);
  expect((m.models as { sasrec: { trainable?: unknown } }).sasrec.trainable).toBeDefined();
}, 60_000);

afterAll(() => {
  killAll(children);
  rmSync(root, { recursive: true, force: true });
});

/** Starts `localrec serve --federated` on the store; resolves once it printed its summary. */
function serve(pauseAt?: PauseStage): Promise<ServeChild> {
  const env: NodeJS.ProcessEnv = { ...process.env, LOCALREC_ADMIN_TOKEN: TOKEN };
  delete env['LOCALREC_FEDERATED_PAUSE_AT'];
  if (pauseAt) env['LOCALREC_FEDERATED_PAUSE_AT'] = pauseAt;
  return startServe(
    [
      '--federated',
      '--store',
      storeUrl,
      '--key',
      keyFile,
      '--work-dir',
      workDir,
      '--port',
      '0',
      '--rate-limit',
      '0',
      '--trust-proxy',
      '127.0.0.1',
      '--clients-per-round',
      String(CLIENTS),
      '--min-reports',
      String(CLIENTS),
      '--round-seconds',
      '3600',
      '--epsilon-budget',
      'none',
      '--log-level',
      'info',
    ],
    children,
    env,
  );
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Reads the store as a client (or the next server) would find it, straight from disk: every
 * stored version and the current manifest must be signed and complete — every blob present,
 * of its size and sha256. Returns the versions' manifests and the current one.
 */
async function checkStore(): Promise<{
  current: Manifest;
  versions: Manifest[];
  unlisted: string[];
}> {
  const listed = new Set<string>();
  const complete = async (bytes: Uint8Array, what: string): Promise<Manifest> => {
    await verifyManifest(bytes, publicKey);
    const m = parseManifest(bytes);
    for (const ref of manifestBlobs(m)) {
      const path = join(storeDir, 'blobs', ref.sha256);
      expect(existsSync(path), `${what} lists blob ${ref.sha256}, which the store lacks`).toBe(
        true,
      );
      const b = readFileSync(path);
      expect(b.length, `${what}: blob ${ref.sha256}`).toBe(ref.bytes);
      expect(sha256(b), `${what}: blob ${ref.sha256}`).toBe(ref.sha256);
      listed.add(ref.sha256);
    }
    return m;
  };
  const versions: Manifest[] = [];
  for (const name of readdirSync(join(storeDir, 'manifests')).sort()) {
    if (!/^\d{8}\.json$/.test(name)) continue;
    const m = await complete(readFileSync(join(storeDir, 'manifests', name)), name);
    expect(m.version).toBe(Number(name.slice(0, 8)));
    versions.push(m);
  }
  const current = await complete(readFileSync(join(storeDir, 'manifest.json')), 'manifest.json');
  expect(versions.map((v) => v.version)).toContain(current.version);
  const unlisted = readdirSync(join(storeDir, 'blobs'))
    .sort()
    .filter((n) => /^[0-9a-f]{64}$/.test(n) && !listed.has(n));
  return { current, versions, unlisted };
}

const roundOf = (m: Manifest) => (m.federated as { round?: number } | null)?.round;

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const admin = { authorization: `Bearer ${TOKEN}` };

interface PublicRound {
  id: number;
  state: string;
  baseModelVersion: string;
  clipNorm: number;
}

/** The client address (through "the proxy") of client `c` in round `round`. */
const client = (round: number, c: number) => ({ 'x-forwarded-for': `10.0.${round}.${c + 1}` });

/**
 * The clients of the open round fine-tune the current version on a few items each (the real
 * trainer code), privatize with the round's clip norm, and post with their tickets; returns
 * the ids the server acknowledged (202 and a receipt).
 */
async function contribute(base: string, round: PublicRound): Promise<string[]> {
  const b = await readBaseVersion(openPublicationStore(storeUrl));
  expect(b.manifest.modelVersion).toBe(round.baseModelVersion);
  const rng = new Rng(100 + round.id);
  const acked: string[] = [];
  for (let c = 0; c < CLIENTS; c++) {
    const delta = await clientDelta(b, round, rng, round.id * 10 + c);
    const ticket = await getTicket(base, round.id, client(round.id, c));
    const res = await postDelta(base, round.id, delta.bytes, client(round.id, c), ticket);
    expect(res.status, await res.clone().text()).toBe(202);
    const body = (await res.json()) as { updateId: string; receipt: number };
    expect(body.receipt).toBe(c + 1);
    acked.push(delta.updateId);
  }
  return acked;
}

describe('serve --federated: kill -9 while a round is aggregated', () => {
  for (const stage of PAUSE_STAGES) {
    it(`killed at '${stage}': no half-written version, and after a restart the round is published exactly once`, async () => {
      const t0 = performance.now();
      const before = await checkStore();
      const a = await serve(stage);
      let b: ServeChild | undefined;
      try {
        const round = await json<PublicRound>(`${a.base}/v1/rounds/current`);
        expect(round.state).toBe('open');
        expect(round.baseModelVersion).toBe(before.current.modelVersion);
        const acked = await contribute(a.base, round);

        // The owner closes the round; the server aggregates it in that request, and stops at the
        // stage; kill -9 there. (The close request dies with it.)
        const closing = fetch(`${a.base}/v1/admin/rounds/${round.id}/close`, {
          method: 'POST',
          headers: admin,
        }).catch(() => undefined);
        await a.waitFor(`federated: paused at ${stage} (round ${round.id})`);
        a.child.kill('SIGKILL');
        await a.exited;
        await closing;

        // What the dead server left: only complete signed versions; the old one current unless it
        // died after making the new one current.
        const dead = await checkStore();
        const rounds = openRoundStore(`sqlite:${join(storeDir, 'rounds.db')}`);
        const r = (await rounds.getRound(round.id))!;
        await rounds.close();
        expect(r.state).toBe('closing');
        expect(r.reports).toBe(acked.length);
        const newer = dead.versions.filter((v) => v.version! > before.current.version!);
        // The next version's export, as the coordinator wrote it to its scratch folder.
        const scratch = join(workDir, `round-${round.id}`, 'export', 'manifest.json');
        const exported = parseManifest(readFileSync(scratch));
        const inStore = manifestBlobs(exported).filter((ref) =>
          existsSync(join(storeDir, 'blobs', ref.sha256)),
        ).length;
        switch (stage) {
          case 'exported':
            // Nothing stored; the export's manifest is not even completed with its round.
            expect(dead.current.version).toBe(before.current.version);
            expect(newer).toEqual([]);
            expect(dead.unlisted).toEqual(before.unlisted);
            expect(exported.federated ?? null).toBeNull();
            break;
          case 'blobs':
          case 'manifest':
            // New blobs in the store (some, or all of them), no manifest naming them.
            expect(dead.current.version).toBe(before.current.version);
            expect(newer).toEqual([]);
            expect(dead.unlisted.length).toBeGreaterThan(before.unlisted.length);
            expect(roundOf(exported)).toBe(round.id);
            if (stage === 'blobs') expect(inStore).toBeLessThan(manifestBlobs(exported).length);
            else expect(inStore).toBe(manifestBlobs(exported).length);
            break;
          case 'current':
            // Stored as the next version, but not current: clients still get the old one.
            expect(dead.current.version).toBe(before.current.version);
            expect(newer.map(roundOf)).toEqual([round.id]);
            break;
          case 'published':
            expect(dead.current.version).toBe(before.current.version! + 1);
            expect(roundOf(dead.current)).toBe(round.id);
            break;
        }

        // Restarted on the same store (no pause): before it prints its summary it has aggregated
        // the round it found closing — once — marked it closed, and opened the next round on
        // the new version.
        b = await serve();
        const closed = await json<{ state: string; reports: number }>(
          `${b.base}/v1/admin/rounds/${round.id}`,
          { headers: admin },
        );
        expect(closed, b.stderr()).toMatchObject({ state: 'closed', reports: acked.length });
        const next = await json<PublicRound>(`${b.base}/v1/rounds/current`);
        expect(next.id).toBe(round.id + 1);
        expect(next.state).toBe('open');
        const after = await checkStore();
        const forRound = after.versions.filter((v) => roundOf(v) === round.id);
        expect(forRound.map((v) => v.version)).toEqual([after.current.version]);
        expect(after.current.version).toBe(before.current.version! + 1);
        expect(after.current.modelVersion).toBe(next.baseModelVersion);
        expect(after.current.federated).toMatchObject({
          round: round.id,
          baseModelVersion: before.current.modelVersion,
          reports: acked.length,
        });
        // The server optimizer's state was saved with the version it belongs to.
        expect(existsSync(join(workDir, `server-optimizer.state.v${after.current.version}`))).toBe(
          true,
        );
        const served = await fetch(`${b.base}/v1/manifest`);
        expect(parseManifest(new Uint8Array(await served.arrayBuffer())).version).toBe(
          after.current.version,
        );
        b.child.kill('SIGTERM');
        await b.exited;
        expect(b.child.exitCode).toBe(0);
      } finally {
        for (const s of [a, b])
          if (s && s.child.exitCode === null && s.child.signalCode === null) {
            s.child.kill('SIGKILL');
            await s.exited;
          }
      }
      console.log(`[crash-federated] ${stage}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }, 60_000);
  }
});
