/**
 * The federated trainer in real Chromium.
 *
 * Parity: the trainer worker (workers/trainer.worker.ts) fine-tunes the fixture's random SASRec
 * ensemble (test/setup/trainer-fixtures.ts) on the fixture's history with the fixture's seed, on
 * WASM and on WebGPU (SwiftShader), and its change matches Node's `localUpdate` on the same
 * history, weights and seed: on WASM bit for bit in practice (the same tfjs-backend-wasm
 * binary as Node's; the bound is max |Δ| ≤ 1e-6 · max |reference|), on WebGPU within
 * max |Δ| ≤ 1e-4 · max |reference| and ‖Δ‖ ≤ 1e-5 · ‖reference‖ (measured ~5e-7 for both).
 *
 * The rules, over the fixture's real server for the model (test/setup/recommender-server.ts,
 * whose export ships `models.sasrec.trainable`) with the round and the update posts answered by
 * an injected fetch: with consent a delta for the open round is computed, queued through the
 * outbox and listed in contributions(); none without federated consent, none under Global
 * Privacy Control, none while recommend() runs (a call stops a running one), one per round.
 */
import { describe, expect, inject, it } from 'vitest';
import { localRecommender, memoryNames } from './sdk-fixture.ts';
import type { Recommender, RecommenderChange } from '../../src/client/api.ts';
import type { LocalRecommenderOptions } from '../../src/client/recommender/local.ts';
import type { LocalChange, TrainerWorkerApi } from '../../src/client/trainer/api.ts';
import { readTrainable } from '../../src/client/trainer/job.ts';
import { startTrainerWorker, type TrainerWorker } from '../../src/client/trainer/worker-client.ts';
import type { DeviceChoice } from '../../src/client/ranker/device.ts';
import { decodeDelta, deltaNorm } from '../../src/core/delta.ts';
import { roundSlices } from '../../models/federated/parameter-set.ts';

const tx = inject('trainerFixture');
const trainable = () => Uint8Array.from(atob(tx.trainable), (c) => c.charCodeAt(0));

async function change(device: DeviceChoice): Promise<LocalChange> {
  const w = startTrainerWorker();
  try {
    const got = await Promise.race([
      w.api.localChange({
        trainable: trainable(),
        history: tx.history,
        localTrain: null,
        seed: tx.seed,
        device,
        slices: tx.slices,
      }),
      w.failed,
    ]);
    if (!got) throw new Error('nothing trained');
    return got;
  } finally {
    w.terminate();
  }
}

/** max |a − b| over the concatenated slices, and ‖a − b‖ / ‖b‖. */
function compare(c: LocalChange): { maxDiff: number; relL2: number } {
  const ref = tx.reference.values;
  expect(c.slices.map((s) => s.length)).toEqual(tx.reference.lengths);
  let at = 0;
  let maxDiff = 0;
  let d2 = 0;
  let r2 = 0;
  for (const s of c.slices)
    for (const x of s) {
      const r = ref[at++]!;
      maxDiff = Math.max(maxDiff, Math.abs(x - r));
      d2 += (x - r) ** 2;
      r2 += r * r;
    }
  return { maxDiff, relL2: Math.sqrt(d2 / r2) };
}

describe('the trainer worker matches Node’s localUpdate', () => {
  it('on WASM', async () => {
    const c = await change('wasm');
    const { maxDiff, relL2 } = compare(c);
    console.log(
      `[trainer parity] wasm max|Δ| ${maxDiff} (ref max ${tx.referenceMax}), relL2 ${relL2}, ${c.trainMs.toFixed(0)} ms, threads ${c.threads}`,
    );
    expect(c.device).toBe('wasm');
    expect(c.items).toBe(tx.config.maxLen + 1);
    expect(c.unknown).toBe(3);
    expect(c.positions).toBe(tx.reference.positions);
    expect(maxDiff).toBeLessThanOrEqual(1e-6 * tx.referenceMax);
  });

  it('on WebGPU (SwiftShader)', async () => {
    const c = await change('webgpu');
    const { maxDiff, relL2 } = compare(c);
    console.log(
      `[trainer parity] webgpu max|Δ| ${maxDiff} (ref max ${tx.referenceMax}), relL2 ${relL2}, ${c.trainMs.toFixed(0)} ms`,
    );
    expect(c.device).toBe('webgpu');
    expect(c.positions).toBe(tx.reference.positions);
    expect(maxDiff).toBeLessThanOrEqual(1e-4 * tx.referenceMax);
    expect(relL2).toBeLessThanOrEqual(1e-5);
  });

  it('refuses a round whose slices are not the checkpoint’s parameter set', async () => {
    const w = startTrainerWorker();
    try {
      const job = {
        trainable: trainable(),
        history: tx.history,
        localTrain: null,
        seed: 1,
        device: 'wasm' as const,
        slices: tx.slices.slice(1),
      };
      await expect(w.api.localChange(job)).rejects.toThrow(/not this model's parameter set/);
      await expect(
        w.api.localChange({ ...job, slices: undefined, localTrain: { steps: 0 } }),
      ).rejects.toThrow(/steps/);
    } finally {
      w.terminate();
    }
  });
});

// ---- the rules, in the recommender -------------------------------------------------------

const fx = inject('recommenderFixture');
const uniqueName = memoryNames('trainer-test');
const ROUND_ID = 7;
const CLIP = 0.5;

/** The round the fixture's server would publish for its model (slices from its trainable blob). */
async function roundFor(): Promise<Record<string, unknown>> {
  const manifest = (await (await fetch(`${fx.servers.a}/v1/manifest`)).json()) as {
    models: { sasrec: { trainable: { sha256: string } } };
  };
  const sha = manifest.models.sasrec.trainable.sha256;
  const bytes = new Uint8Array(
    await (await fetch(`${fx.servers.a}/v1/blobs/${sha}`)).arrayBuffer(),
  );
  return {
    id: ROUND_ID,
    state: 'open',
    baseModelVersion: fx.modelVersions.v1,
    slices: roundSlices(readTrainable(bytes).set),
    clipNorm: CLIP,
    minReports: 2,
    deadline: new Date(Date.now() + 3_600_000).toISOString(),
    deltaFormatVersion: 1,
    updatesUrl: `/v1/rounds/${ROUND_ID}/updates`,
  };
}
const round = roundFor();

/** Manifest and blobs from the real server; the round, tickets and update posts answered here. */
function network() {
  const log = { roundChecks: 0, posts: [] as Uint8Array[] };
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    if (url.pathname === '/v1/rounds/current') {
      log.roundChecks++;
      return Response.json(await round);
    }
    if (init?.method === 'POST' && url.pathname.endsWith('/tickets'))
      return Response.json({ roundId: ROUND_ID, ticket: 'T'.repeat(43) }, { status: 201 });
    if (init?.method === 'POST' && url.pathname.endsWith('/updates')) {
      log.posts.push(new Uint8Array(init.body as Uint8Array));
      return Response.json({ roundId: ROUND_ID }, { status: 202 });
    }
    return fetch(input, init);
  }) as typeof fetch;
  return { fetch: f, log };
}

/** Real trainer workers, with what happened to each: started jobs, settled jobs, terminations. */
function workers(delayMs = 0) {
  const events: { what: 'start' | 'done' | 'terminate'; at: number; worker: number }[] = [];
  let n = 0;
  const start = (): TrainerWorker => {
    const real = startTrainerWorker();
    const worker = ++n;
    const api = {
      localChange: real.api.localChange,
      async contribution(job) {
        events.push({ what: 'start', at: performance.now(), worker });
        await new Promise((r) => setTimeout(r, delayMs));
        const out = await real.api.contribution(job);
        events.push({ what: 'done', at: performance.now(), worker });
        return out;
      },
    } as TrainerWorkerApi;
    return {
      api: api as unknown as TrainerWorker['api'],
      failed: real.failed,
      terminate: () => {
        events.push({ what: 'terminate', at: performance.now(), worker });
        real.terminate();
      },
    };
  };
  return { start, events };
}

async function open(options: Partial<LocalRecommenderOptions>): Promise<Recommender> {
  const rec = await localRecommender({ name: uniqueName(), ...options });
  if ((await rec.getConsent()).personalization)
    for (const item of fx.items.slice(10, 16)) await rec.track({ type: 'view', itemId: item.id });
  return rec;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the trainer in the recommender', () => {
  it('with consent: fine-tunes for the open round, queues one delta, lists it; once per round', async () => {
    const net = network();
    const w = workers();
    const changes: RecommenderChange[] = [];
    const rec = await open({
      fetch: net.fetch,
      consent: { personalization: true, federated: true },
      trainer: { idleMs: 200, device: 'wasm' },
      startTrainerWorker: w.start,
      onChange: (c) => changes.push(c),
    });
    await expect.poll(() => net.log.posts.length, { timeout: 60_000 }).toBe(1);
    const body = net.log.posts[0]!;
    const d = decodeDelta(body);
    const r = await round;
    expect(d.roundId).toBe(ROUND_ID);
    expect(d.baseVersion).toBe(fx.modelVersions.v1);
    expect(d.slices.length).toBe((r['slices'] as unknown[]).length);
    expect(deltaNorm(d)).toBeLessThanOrEqual(CLIP);
    await expect
      .poll(async () => (await rec.contributions())[0]?.status, { timeout: 10_000 })
      .toBe('sent');
    const [c] = await rec.contributions();
    expect(c).toMatchObject({
      updateId: d.updateId,
      roundId: ROUND_ID,
      baseModelVersion: fx.modelVersions.v1,
      bytes: body.length,
      clipNorm: CLIP,
      device: 'wasm',
      items: 6,
    });
    expect(c!.normBeforeClip).toBeGreaterThan(0);
    expect(c!.clipped).toBe(c!.normBeforeClip > CLIP);
    expect(c!.sentAt).toBeGreaterThanOrEqual(c!.createdAt);
    expect(changes.filter((x) => x.kind === 'contribution')).toHaveLength(1);
    const status = await rec.status();
    expect(status.federated).toMatchObject({
      state: 'waiting',
      contributions: 1,
      round: { id: ROUND_ID, baseModelVersion: fx.modelVersions.v1 },
    });
    expect(status.federated.reason).toMatch(/contributed to round 7/);
    // Idle again, more history, a consent change (a fresh round check): still one per round.
    await rec.track({ type: 'view', itemId: fx.items[20]!.id });
    await rec.setConsent({ federated: true });
    await sleep(800);
    expect(net.log.posts).toHaveLength(1);
    expect(w.events.filter((e) => e.what === 'start')).toHaveLength(1);
    await rec.close();
  });

  it('without federated consent: no round check, no training, nothing sent', async () => {
    const net = network();
    const w = workers();
    const rec = await open({
      fetch: net.fetch,
      consent: { personalization: true },
      trainer: { idleMs: 100, device: 'wasm' },
      startTrainerWorker: w.start,
    });
    await sleep(1500);
    const { federated } = await rec.status();
    expect(federated.state).toBe('off');
    expect(federated.reason).toMatch(/not agreed/);
    expect(net.log.roundChecks).toBe(0);
    expect(w.events).toEqual([]);
    expect(net.log.posts).toEqual([]);
    expect(await rec.contributions()).toEqual([]);
    await rec.close();
  });

  it('under Global Privacy Control: nothing, whatever consent says', async () => {
    const net = network();
    const w = workers();
    const rec = await open({
      fetch: net.fetch,
      globalPrivacyControl: true,
      consent: { personalization: true, federated: true },
      trainer: { idleMs: 100, device: 'wasm' },
      startTrainerWorker: w.start,
    });
    await sleep(1500);
    const { federated } = await rec.status();
    expect(federated.state).toBe('off');
    expect(federated.reason).toMatch(/Global Privacy Control/);
    expect(net.log.roundChecks).toBe(0);
    expect(w.events).toEqual([]);
    expect(net.log.posts).toEqual([]);
    await rec.close();
  });

  it('never while recommend() runs: waits for idle, and a call stops a run in progress', async () => {
    const net = network();
    // Each run waits 1.5 s in the worker before training: time for a call to arrive meanwhile.
    const w = workers(1_500);
    const rec = await open({
      fetch: net.fetch,
      consent: { personalization: true, federated: true },
      trainer: { idleMs: 400, device: 'wasm' },
      startTrainerWorker: w.start,
    });
    // Busy: a recommend() every 150 ms for 2 s — never 400 ms idle, so no run starts.
    const calls: { start: number; end: number }[] = [];
    const recommendTimed = async () => {
      const start = performance.now();
      await rec.recommend({ k: 5 });
      calls.push({ start, end: performance.now() });
    };
    for (let t = 0; t < 2_000; t += 150) {
      await recommendTimed();
      await sleep(150);
    }
    expect(w.events).toEqual([]);
    // Idle: a run starts; a recommend() in its middle stops it (its worker is terminated).
    await expect.poll(() => w.events.length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect((await rec.status()).federated.state).toBe('training');
    await recommendTimed();
    const first = w.events.filter((e) => e.worker === 1);
    expect(first.map((e) => e.what)).toEqual(['start', 'terminate']);
    expect(first[1]!.at).toBeLessThanOrEqual(calls.at(-1)!.end);
    expect((await rec.status()).federated.reason).toMatch(/interrupted/);
    // Left alone, it runs again to the end and queues the delta.
    await expect.poll(() => net.log.posts.length, { timeout: 30_000 }).toBe(1);
    const runs = w.events.filter((e) => e.what === 'start' || e.what === 'done');
    // No recommend() call overlapped a run that went on (every run was started after the last call).
    const done = w.events.filter((e) => e.what === 'done');
    expect(done).toHaveLength(1);
    const completed = runs.filter((e) => e.worker === done[0]!.worker);
    for (const c of calls)
      expect(c.end <= completed[0]!.at || c.start >= completed[1]!.at).toBe(true);
    await rec.close();
  });
});
