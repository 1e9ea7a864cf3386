/**
 * The server's side of the learning loop on a real (tiny) model: clients fine-tune with the
 * real trainer code, their privatized deltas go through the real intake, and the coordinator
 * aggregates the closed round into the next signed version, opens the next round on it, and
 * keeps the privacy ledger in the manifest. It never publishes a round twice, never
 * aggregates a round for another version or under its minimum, and a failure while publishing
 * leaves the current version as it was.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTf } from '../../src/cli/tf-node.ts';
import {
  FederatedCoordinator,
  type CoordinatorOptions,
} from '../../src/cli/federated/coordinator.ts';
import { parseManifest, verifyManifest } from '../../src/core/manifest.ts';
import { Rng } from '../../src/core/random.ts';
import { createServer } from '../../src/server/app.ts';
import { generateKeyFiles, newSigningKey, type SigningKey } from '../../src/server/keys.ts';
import { federatedServing } from '../../src/cli/federated/serve-federated.ts';
import { ledgerEpsilon } from '../../src/cli/federated/privacy-ledger.ts';
import { publishExport } from '../../src/server/publish.ts';
import { RoundService } from '../../src/server/rounds.ts';
import { MemoryRoundStore } from '../../src/server/store/memory-round-store.ts';
import { openPublicationStore, type PublicationStore } from '../../src/server/store/registry.ts';
import type { Round, RoundStore } from '../../src/server/store/round-store.ts';
import { DEFAULT_LOCAL_TRAIN } from '../../models/federated/local-update.ts';
import { trainTinyModel } from '../setup/tiny-model.ts';
import { clientDelta } from './federated-fixture.ts';

let root: string;
let exportDir: string;
let key: SigningKey;

beforeAll(async () => {
  await initTf();
  root = mkdtempSync(join(tmpdir(), 'localrec-coordinator-'));
  exportDir = join(root, 'export');
  await trainTinyModel(root, { catalogSeed: 3, trainSeed: 4, epochs: 2, exportDir });
  key = await newSigningKey();
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Loop {
  store: PublicationStore;
  rounds: MemoryRoundStore;
  intake: RoundService;
  coordinator: FederatedCoordinator;
}

async function loop(over: Partial<CoordinatorOptions> = {}): Promise<Loop> {
  const store = openPublicationStore('memory:');
  await publishExport(exportDir, store, key);
  const rounds = new MemoryRoundStore();
  const hook = { closing: async (_r: Round, _s: RoundStore) => undefined as void };
  const intake = new RoundService({ store: rounds, onClosing: (r, s) => hook.closing(r, s) });
  const coordinator = new FederatedCoordinator({
    store,
    rounds: intake,
    key,
    workDir: mkdtempSync(join(root, 'work-')),
    clipNorm: 1,
    expectedClients: 3,
    minReports: 2,
    roundSeconds: 600,
    noiseMultiplier: 1,
    sampleRate: 1,
    epsilonBudget: null,
    delta: 1e-6,
    aggregation: 'dp-fedavg',
    serverOptimizer: 'sgd',
    serverLearningRate: 1,
    localTrain: DEFAULT_LOCAL_TRAIN,
    random: (() => {
      const r = new Rng(5);
      return () => r.next();
    })(),
    ...over,
  });
  hook.closing = (r, s) => coordinator.onClosing(r, s);
  return { store, rounds, intake, coordinator };
}

/** `n` clients of the open round post real trainer deltas (their histories: a few items each). */
async function contribute(l: Loop, round: Round, n: number): Promise<void> {
  const base = await l.coordinator.base();
  const rng = new Rng(round.id);
  for (let c = 0; c < n; c++) {
    const delta = await clientDelta(base, round, rng, c);
    const { input } = await l.intake.check(round.id, delta.bytes);
    expect((await l.intake.submit(input)).status).toBe('accepted');
  }
}

/**
 * Closes a round and waits until the intake is done with it: closed after its closing hook, or
 * failed (under its minimum: no hook, no aggregation).
 */
async function close(l: Loop, id: number): Promise<void> {
  await l.intake.closeRound(id);
  const done = (state: string) => state === 'closed' || state === 'failed';
  for (let tries = 0; !done((await l.rounds.getRound(id))!.state); tries++) {
    expect(tries).toBeLessThan(3);
    await l.intake.tick();
  }
}

async function current(store: PublicationStore) {
  return parseManifest((await store.manifests.current())!);
}

describe('FederatedCoordinator', () => {
  it('turns a closed round into the next signed version and opens the next round on it', async () => {
    const l = await loop();
    const v1 = await current(l.store);
    // The coordinator's minimum (2): it is a lower bound, so the round waits to be closed.
    const r1 = (await l.coordinator.openRound())!;
    expect(r1.baseModelVersion).toBe(v1.modelVersion);
    expect(r1.slices).toEqual(
      (await l.coordinator.base()).set.slices.map((s) => ({ name: s.name, shape: s.shape })),
    );
    await contribute(l, r1, 3);
    await close(l, r1.id);
    const v2 = await current(l.store);
    expect(v2.version).toBe(2);
    expect(v2.modelVersion).not.toBe(v1.modelVersion);
    await verifyManifest((await l.store.manifests.current())!, key.publicKey);
    const fed = v2.federated as Record<string, unknown> & {
      privacy: { epsilon: number; entries: unknown[] };
    };
    expect(fed).toMatchObject({
      round: r1.id,
      baseModelVersion: v1.modelVersion,
      reports: 3,
      clipNorm: 1,
    });
    expect(fed.privacy.entries).toEqual([{ sampleRate: 1, noiseMultiplier: 1, rounds: 1 }]);
    expect(fed.privacy.epsilon).toBeGreaterThan(0);
    // Every blob of the new version is in the store; the weights moved.
    for (const b of [(v2.models as { sasrec: { trainable: { sha256: string } } }).sasrec.trainable])
      expect(await l.store.blobs.stat(b.sha256)).toBeDefined();
    const w1 = (await l.coordinator.base()).checkpoint.weights;
    expect(w1['pos_emb']).toBeDefined();
    const r2 = (await l.coordinator.openRound(100))!;
    expect(r2.id).toBe(r1.id + 1);
    expect(r2.baseModelVersion).toBe(v2.modelVersion);
    // Each round states what it is accounted at: the first spent nothing before it, the second
    // starts from the first's ε and adds as much again (the same q and z).
    expect(r1.privacy).toMatchObject({ epsilonSpent: 0, sampleRate: 1, noiseMultiplier: 1 });
    expect(r1.privacy!.epsilonAfter).toBeCloseTo(fed.privacy.epsilon, 12);
    expect(r2.privacy!.epsilonSpent).toBeCloseTo(fed.privacy.epsilon, 12);
    expect(r2.privacy!.epsilonAfter).toBeCloseTo(
      ledgerEpsilon([{ sampleRate: 1, noiseMultiplier: 1, rounds: 2 }], r2.privacy!.delta),
      12,
    );
    expect((await l.coordinator.status()).rounds).toBe(1);
    // Running the closing hook again (a restart after publishing) publishes nothing more.
    await l.coordinator.onClosing((await l.rounds.getRound(r1.id))!, l.rounds);
    expect((await current(l.store)).version).toBe(2);
    await l.intake.stop();
  }, 120_000);

  it('does not aggregate under the minimum, nor a round trained on another version', async () => {
    const l = await loop();
    const r1 = (await l.coordinator.openRound())!;
    await contribute(l, r1, 1);
    await close(l, r1.id);
    // One report of the minimum 2: the round failed, the aggregator never ran.
    expect((await l.rounds.getRound(r1.id))!.state).toBe('failed');
    expect((await current(l.store)).version).toBe(1);
    const stale = { ...(await l.rounds.getRound(r1.id))!, id: 99, baseModelVersion: 'older' };
    await l.coordinator.onClosing(stale, l.rounds);
    expect((await current(l.store)).version).toBe(1);
    await l.intake.stop();
  }, 120_000);

  it('refuses to open a round that would spend past the budget', async () => {
    const l = await loop({ epsilonBudget: 0.5, noiseMultiplier: 1 });
    expect(await l.coordinator.openRound()).toBeUndefined();
    const ok = await loop({ epsilonBudget: 1000, noiseMultiplier: 5 });
    expect(await ok.coordinator.openRound()).toBeDefined();
    await l.intake.stop();
    await ok.intake.stop();
  }, 120_000);

  it('publishes nothing when publishing fails half way, and the round can be retried', async () => {
    const l = await loop();
    const r1 = (await l.coordinator.openRound(100))!;
    await contribute(l, r1, 2);
    const put = l.store.manifests.putVersion.bind(l.store.manifests);
    l.store.manifests.putVersion = async () => {
      throw new Error('disk full');
    };
    await l.coordinator
      .onClosing((await l.rounds.getRound(r1.id))!, l.rounds)
      .catch(() => undefined);
    expect((await current(l.store)).version).toBe(1);
    l.store.manifests.putVersion = put;
    await l.coordinator.onClosing((await l.rounds.getRound(r1.id))!, l.rounds);
    expect((await current(l.store)).version).toBe(2);
    await l.intake.stop();
  }, 120_000);

  it('runs in the sync server (serve --federated): a round opens on the published version', async () => {
    const dir = mkdtempSync(join(root, 'store-'));
    const keys = await generateKeyFiles(join(dir, 'keys', 'site'));
    const storeUrl = `file:${join(dir, 'store')}`;
    const signing = await newSigningKey();
    const store = openPublicationStore(storeUrl);
    await publishExport(exportDir, store, signing);
    const loop = await federatedServing(
      { key: keys.privateKeyFile, 'noise-multiplier': '2', 'epsilon-budget': '50' },
      storeUrl,
      undefined,
    );
    expect(loop.rounds).toBe(`sqlite:${join(dir, 'store', 'rounds.db')}`);
    const app = createServer({
      store: storeUrl,
      rounds: loop.rounds,
      onRoundClosing: loop.onRoundClosing,
    });
    await app.ready();
    const summary = (await loop.start(app)) as {
      federated: { rounds: number; epsilon: number; clipNorm: number };
    };
    expect(summary.federated).toMatchObject({ rounds: 0, epsilon: 0, clipNorm: 10 });
    const res = await app.inject({ method: 'GET', url: '/v1/rounds/current' });
    expect(res.statusCode).toBe(200);
    const round = res.json() as {
      baseModelVersion: string;
      clipNorm: number;
      slices: unknown[];
      privacy: { epsilonSpent: number; epsilonAfter: number; delta: number; sampleRate: number };
    };
    expect(round.baseModelVersion).toBe((await current(store)).modelVersion);
    expect(round.clipNorm).toBe(10);
    // The round states the ε spent so far and after it, as `localrec dp-epsilon` computes it.
    expect(round.privacy).toMatchObject({ epsilonSpent: 0, delta: 1e-6, sampleRate: 1 });
    expect(round.privacy.epsilonAfter).toBeCloseTo(
      ledgerEpsilon([{ sampleRate: 1, noiseMultiplier: 2, rounds: 1 }], 1e-6),
      12,
    );
    expect(round.slices.length).toBeGreaterThan(5);
    await app.close();
    await expect(
      federatedServing({ key: join(dir, 'missing.key') }, storeUrl, undefined),
    ).rejects.toThrow(/key/);
  }, 120_000);
});
