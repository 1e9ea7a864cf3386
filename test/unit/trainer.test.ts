/**
 * The federated trainer's parts that need no browser (src/client/trainer/): the manifest's
 * trainable entry, the round as the server publishes it, the history's mapping to the model's
 * indices, the rules (consent, GPC, options), the activity bookkeeping, which posts the server
 * took — and the scheduler's decisions on fake parts: no round, a round for another model, one
 * contribution per round, too little history, a run that yields nothing. The worker in Chromium
 * is test/browser/trainer.test.ts. Also: nothing the recommender worker imports reaches tfjs or
 * models/ (the trainer is a chunk of its own).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planFromManifest } from '../../src/client/loader/plan.ts';
import type { LoadPlan } from '../../src/client/loader/plan.ts';
import type { Memory } from '../../src/client/memory/memory-api.ts';
import type { ContributionRecord } from '../../src/client/memory/records.ts';
import type { Manifest } from '../../src/core/manifest.ts';
import { Activity } from '../../src/client/trainer/activity.ts';
import type { ContributionResult, TrainerWorkerApi } from '../../src/client/trainer/api.ts';
import { toContribution } from '../../src/client/trainer/contributions.ts';
import { checkSlices, localTrainSpec, toSequence } from '../../src/client/trainer/job.ts';
import { parseRound, updateIdOf, watchPosts } from '../../src/client/trainer/network.ts';
import { checkTrainerOptions, trainingBlockedBy } from '../../src/client/trainer/rules.ts';
import { FederatedTrainer, type TrainerDeps } from '../../src/client/trainer/scheduler.ts';
import type { TrainerWorker } from '../../src/client/trainer/worker-client.ts';
import { DEFAULT_LOCAL_TRAIN } from '../../models/federated/local-update.ts';
import { defineParameterSet, roundSlices } from '../../models/federated/parameter-set.ts';
import type { RecommenderChange } from '../../src/client/api.ts';

const SHA = 'ab'.repeat(32);
const ref = { sha256: SHA, bytes: 10 };

function manifest(sasrec: Record<string, unknown>, federated: unknown = null): Manifest {
  return {
    formatVersion: 1,
    modelVersion: 'v1',
    createdAt: '2026-01-01T00:00:00Z',
    models: { sasrec: { encoder: ref, config: { maxLen: 5 }, ...sasrec } },
    shards: [{ ...ref, count: 3 }],
    metadata: null,
    llm: null,
    federated,
    signature: null,
  };
}

describe('the load plan’s trainable weights', () => {
  it('reads models.sasrec.trainable and federated.localTrain, and keeps them out of blobs', () => {
    const t = { sha256: 'cd'.repeat(32), bytes: 99, format: 'lrck', dtype: 'f32', parameters: 7 };
    const p = planFromManifest(manifest({ trainable: t }, { localTrain: { steps: 2 } }));
    expect(p.trainable).toEqual({ sha256: t.sha256, bytes: 99, parameters: 7 });
    expect(p.localTrain).toEqual({ steps: 2 });
    expect(p.privacy).toBeNull();
    const led = planFromManifest(
      manifest({}, { round: 4, privacy: { delta: 1e-6, epsilon: 1.5, entries: [] } }),
    );
    expect(led.privacy).toEqual({ epsilon: 1.5, delta: 1e-6, round: 4 });
    const noNoise = planFromManifest(manifest({}, { privacy: { delta: 1e-6, epsilon: null } }));
    expect(noNoise.privacy).toEqual({ epsilon: null, delta: 1e-6, round: null });
    expect(p.blobs.map((b) => b.sha256)).not.toContain(t.sha256);
  });

  it('is lenient: no entry, another format or a malformed one only turns training off', () => {
    expect(planFromManifest(manifest({})).trainable).toBeNull();
    expect(planFromManifest(manifest({})).localTrain).toBeNull();
    const t = { sha256: 'cd'.repeat(32), bytes: 99, format: 'lrck', dtype: 'f32', parameters: 7 };
    expect(planFromManifest(manifest({ trainable: { ...t, dtype: 'f16' } })).trainable).toBeNull();
    expect(planFromManifest(manifest({ trainable: { ...t, sha256: 'x' } })).trainable).toBeNull();
    expect(planFromManifest(manifest({ trainable: { ...t, parameters: 0 } })).trainable).toBeNull();
  });
});

const round = {
  id: 3,
  state: 'open',
  baseModelVersion: 'v1',
  slices: [{ name: 'pos_emb', shape: [5, 4] }],
  clipNorm: 1,
  minReports: 10,
  deadline: '2099-01-01T00:00:00.000Z',
  updatesUrl: '/v1/rounds/3/updates',
};

describe('the round, the history, the rules', () => {
  it('parses the published round and names the first wrong field', () => {
    expect(parseRound(round)).toEqual({
      id: 3,
      baseModelVersion: 'v1',
      slices: [{ name: 'pos_emb', shape: [5, 4] }],
      clipNorm: 1,
      deadline: round.deadline,
    });
    expect(() => parseRound({ ...round, id: 0 })).toThrow(/id/);
    expect(() => parseRound({ ...round, state: 'closing' })).toThrow(/closing/);
    expect(() => parseRound({ ...round, clipNorm: -1 })).toThrow(/clipNorm/);
    expect(() => parseRound({ ...round, slices: [{ name: 'x', shape: [0] }] })).toThrow(
      /slices\[0\]/,
    );
    expect(() => parseRound({ ...round, deadline: 'soon' })).toThrow(/deadline/);
  });

  it('maps history ids to internal indices, leaving out unknown ones', () => {
    const index = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    expect(toSequence(['a', 'new', 'b', 'a'], index)).toEqual({
      sequence: Int32Array.from([1, 2, 1]),
      unknown: 1,
    });
  });

  it('checks the round’s slices against the parameter set, and the published local spec', () => {
    const config = {
      numItems: 10,
      maxLen: 5,
      dim: 4,
      blocks: 1,
      heads: 1,
      ffnDim: 4,
      dropout: 0.1,
      layerNormEps: 1e-6,
    };
    const set = defineParameterSet(config);
    expect(() => checkSlices(set, roundSlices(set))).not.toThrow();
    const wrong = roundSlices(set);
    wrong[0] = { ...wrong[0]!, shape: [1] };
    expect(() => checkSlices(set, wrong)).toThrow(/parameter set/);
    expect(localTrainSpec(null)).toBe(DEFAULT_LOCAL_TRAIN);
    expect(localTrainSpec({ steps: 3 })).toEqual({ ...DEFAULT_LOCAL_TRAIN, steps: 3 });
    expect(() => localTrainSpec({ optimizer: 'lbfgs' })).toThrow(/optimizer/);
    expect(() => localTrainSpec('fast')).toThrow(/object/);
  });

  it('says why the visitor’s choices forbid training, GPC first', () => {
    const yes = { federated: true, personalization: true };
    expect(trainingBlockedBy({ gpc: false, memory: true, consent: yes })).toBeNull();
    expect(trainingBlockedBy({ gpc: true, memory: true, consent: yes })).toMatch(/Global Privacy/);
    expect(trainingBlockedBy({ gpc: false, memory: false, consent: yes })).toMatch(/stored/);
    expect(
      trainingBlockedBy({ gpc: false, memory: true, consent: { ...yes, federated: false } }),
    ).toMatch(/not agreed/);
    expect(
      trainingBlockedBy({ gpc: false, memory: true, consent: { ...yes, personalization: false } }),
    ).toMatch(/personalization/);
  });

  it('checks the trainer option', () => {
    expect(() => checkTrainerOptions(undefined)).not.toThrow();
    expect(() => checkTrainerOptions(false)).not.toThrow();
    expect(() => checkTrainerOptions({ idleMs: 0, device: 'webgpu' })).not.toThrow();
    expect(() => checkTrainerOptions({ idleMs: -1 })).toThrow(/idleMs/);
    expect(() => checkTrainerOptions({ device: 'tpu' })).toThrow(/valid choices/);
    expect(() => checkTrainerOptions(true)).toThrow(/object/);
  });
});

describe('activity and posts', () => {
  it('counts calls, knows how long it has been idle, and tells listeners when a call starts', async () => {
    let t = 1000;
    const a = new Activity(() => t);
    const starts: number[] = [];
    a.onStart(() => starts.push(t));
    t = 1500;
    expect(a.idleFor()).toBe(500);
    let release!: () => void;
    const call = a.run(() => new Promise<void>((r) => (release = r)));
    expect(a.busy).toBe(1);
    expect(a.idleFor()).toBe(0);
    expect(starts).toEqual([1500]);
    t = 2000;
    release();
    await call;
    expect(a.busy).toBe(0);
    t = 2300;
    expect(a.idleFor()).toBe(300);
    await expect(a.run(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(a.busy).toBe(0);
  });

  it('hears which delta posts the server took, by their update id', async () => {
    const body = new Uint8Array(40);
    body.set([1, 2, 3], 12);
    expect(updateIdOf(body)).toBe('010203' + '00'.repeat(13));
    expect(updateIdOf(new Uint8Array(4))).toBeNull();
    const seen: string[] = [];
    const inner = (async (input: RequestInfo | URL) =>
      new Response(null, { status: String(input).includes('/9/') ? 500 : 202 })) as typeof fetch;
    const f = watchPosts(inner, (id) => seen.push(id));
    await f('http://s/v1/rounds/3/updates', { method: 'POST', body });
    await f('http://s/v1/rounds/9/updates', { method: 'POST', body }); // refused
    await f('http://s/v1/rounds/3/tickets', { method: 'POST' }); // not a delta
    await f('http://s/v1/manifest');
    expect(seen).toEqual([updateIdOf(body)]);
  });

  it('shows a record with its status', () => {
    const r: ContributionRecord = {
      id: 'ab'.repeat(16),
      roundId: 3,
      baseModelVersion: 'v1',
      createdAt: 1,
      sentAt: null,
      bytes: 10,
      normBeforeClip: 2,
      clipNorm: 1,
      device: 'wasm',
      steps: 1,
      items: 5,
      trainMs: 3,
    };
    expect(toContribution(r, new Set([r.id]))).toMatchObject({ status: 'waiting', clipped: true });
    expect(toContribution(r, new Set()).status).toBe('not-sent');
    expect(toContribution({ ...r, sentAt: 5 }, new Set()).status).toBe('sent');
  });
});

// ---- the scheduler on fake parts --------------------------------------------------------

const plan = {
  modelVersion: 'v1',
  trainable: { sha256: SHA, bytes: 10, parameters: 20 },
  localTrain: null,
} as unknown as LoadPlan;

function fakes(o: { round?: unknown; history?: string[]; result?: ContributionResult | null }) {
  const records: ContributionRecord[] = [];
  const queued: string[] = [];
  const jobs: unknown[] = [];
  const changes: RecommenderChange[] = [];
  const memory = {
    history: async () => o.history ?? ['a', 'b', 'c'],
    outbox: { list: async () => queued.map((id) => ({ id })) },
    contributions: {
      list: async () => [...records],
      add: async (r: Omit<ContributionRecord, 'sentAt'>) => {
        const full = { ...r, sentAt: null };
        records.push(full);
        return full;
      },
      remove: async (id: string) => {
        const i = records.findIndex((r) => r.id === id);
        if (i >= 0) records.splice(i, 1);
        return i >= 0;
      },
      markSent: async () => undefined,
    },
  } as unknown as Memory;
  const result: ContributionResult | null =
    o.result === undefined
      ? {
          bytes: new Uint8Array(64),
          updateId: 'cd'.repeat(16),
          normBeforeClip: 0.4,
          clipped: false,
          device: 'wasm',
          deviceReason: 'test',
          threads: 1,
          steps: 1,
          items: 3,
          unknown: 0,
          positions: 2,
          losses: [[1]],
          trainMs: 12,
        }
      : o.result;
  const worker: TrainerWorker = {
    api: {
      contribution: async (job: unknown) => {
        jobs.push(job);
        return result;
      },
    } as unknown as TrainerWorker['api'],
    failed: new Promise<never>(() => {}),
    terminate: () => {},
  };
  let roundChecks = 0;
  const deps: TrainerDeps = {
    server: 'http://s',
    fetch: (async () => {
      roundChecks++;
      return o.round === undefined ? new Response('{}', { status: 404 }) : Response.json(o.round);
    }) as typeof fetch,
    options: { idleMs: 0, roundCheckMs: 60_000 },
    now: Date.now,
    activity: new Activity(() => 0), // idle since the epoch
    plan: () => plan,
    whenLoaded: async () => undefined,
    blob: async () => new Uint8Array(10),
    blocked: () => null,
    memory: () => memory,
    contribute: async (bytes) => {
      queued.push('cd'.repeat(16));
      return { queued: true, updateId: 'cd'.repeat(16), pending: queued.length + bytes.length * 0 };
    },
    emit: (c) => changes.push(c),
    onWarning: () => {},
    startWorker: () => worker,
  };
  return { deps, records, jobs, changes, roundChecks: () => roundChecks };
}

async function settle(t: FederatedTrainer, state: string): Promise<void> {
  await expect.poll(async () => (await t.status()).state, { timeout: 5_000 }).toBe(state);
}

describe('the scheduler', () => {
  it('without an open round: waits and says so', async () => {
    const f = fakes({});
    const t = new FederatedTrainer(f.deps);
    t.start();
    await settle(t, 'waiting');
    expect((await t.status()).reason).toMatch(/no federated round is open/);
    expect(f.jobs).toEqual([]);
    t.close();
  });

  it('a round for another model version: waits', async () => {
    const f = fakes({ round: { ...round, baseModelVersion: 'v0' } });
    const t = new FederatedTrainer(f.deps);
    t.start();
    await settle(t, 'waiting');
    expect((await t.status()).reason).toMatch(/improves model v0, not the v1/);
    expect(f.jobs).toEqual([]);
    t.close();
  });

  it('trains once for an open round of its model, records and queues the delta', async () => {
    const f = fakes({ round });
    const t = new FederatedTrainer(f.deps);
    t.start();
    await expect.poll(() => f.records.length, { timeout: 5_000 }).toBe(1);
    expect(f.jobs[0]).toMatchObject({
      history: ['a', 'b', 'c'],
      round: { id: 3, baseModelVersion: 'v1', clipNorm: 1 },
      slices: round.slices,
      localNoise: 0,
      device: 'auto',
    });
    expect(f.records[0]).toMatchObject({ roundId: 3, bytes: 64, normBeforeClip: 0.4, items: 3 });
    expect(f.changes).toEqual([{ kind: 'contribution', contribution: expect.anything() }]);
    expect((await t.contributions())[0]).toMatchObject({ status: 'waiting', roundId: 3 });
    const s = await t.status();
    expect(s).toMatchObject({ state: 'waiting', contributions: 1, round: { id: 3 } });
    t.changed(); // a fresh look: still one per round
    await new Promise((r) => setTimeout(r, 200));
    expect(f.jobs).toHaveLength(1);
    t.close();
  });

  it('too little history, or none the model knows: waits, and tries again when it grows', async () => {
    const short = fakes({ round, history: ['a'] });
    const t = new FederatedTrainer(short.deps);
    t.start();
    await settle(t, 'waiting');
    expect((await t.status()).reason).toMatch(/too little history/);
    expect(short.jobs).toEqual([]);
    t.close();
    const unknown = fakes({ round, result: null });
    const u = new FederatedTrainer(unknown.deps);
    u.start();
    await expect.poll(() => unknown.jobs.length).toBe(1);
    await settle(u, 'waiting');
    expect((await u.status()).reason).toMatch(/fewer than two items/);
    expect(unknown.records).toEqual([]);
    u.close();
  });

  it('a visit tracked while the history is read is not missed: it trains once idle, not at the next check', async () => {
    const f = fakes({ round });
    const history = ['a'];
    let t: FederatedTrainer | undefined = undefined;
    const memory = f.deps.memory()!;
    const racing = {
      ...memory,
      history: async () => {
        const before = [...history];
        // The visitor's next events land while the trainer awaits the read.
        history.push('b', 'c');
        t!.tracked();
        return before;
      },
    } as typeof memory;
    t = new FederatedTrainer({ ...f.deps, memory: () => racing });
    t.start();
    // roundCheckMs is 60 s: only the idle kick can start the second pass within the poll.
    await expect.poll(() => f.jobs.length, { timeout: 5_000 }).toBe(1);
    expect(f.jobs[0]).toMatchObject({ history: ['a', 'b', 'c'] });
    t.close();
  });

  it('off when the visitor’s choices forbid it, or the model has no trainable weights', async () => {
    const f = fakes({ round });
    const t = new FederatedTrainer({ ...f.deps, blocked: () => 'no consent here' });
    t.start();
    await expect.poll(async () => (await t.status()).reason).toBe('no consent here');
    expect((await t.status()).state).toBe('off');
    const g = new FederatedTrainer({ ...f.deps, plan: () => ({ ...plan, trainable: null }) });
    g.start();
    await expect.poll(async () => (await g.status()).reason).toMatch(/no trainable weights/);
    expect((await g.status()).state).toBe('off');
    expect(f.roundChecks()).toBe(0);
    t.close();
    g.close();
  });
});

describe('the recommender worker stays free of tfjs', () => {
  it('no module the recommender imports reaches models/ or @tensorflow (the trainer is its own chunk)', () => {
    const root = resolve(import.meta.dirname, '..', '..');
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*|import\s+)(['"])([^'"?]+)\1/g)) {
        const spec = m[2]!;
        if (spec.startsWith('@tensorflow')) bad.push(`${relative(root, file)} → ${spec}`);
        if (!spec.startsWith('.')) continue;
        let target = resolve(dirname(file), spec);
        if (!existsSync(target) && target.endsWith('.js')) target = `${target.slice(0, -3)}.ts`;
        if (!existsSync(target)) continue;
        if (relative(root, target).startsWith('models/'))
          bad.push(`${relative(root, file)} → ${relative(root, target)}`);
        else visit(target);
      }
    };
    visit(resolve(root, 'workers/recommender.worker.ts'));
    visit(resolve(root, 'src/client/index.ts'));
    expect(seen.size).toBeGreaterThan(40);
    expect([...seen].some((f) => f.endsWith('trainer/scheduler.ts'))).toBe(true);
    expect(bad).toEqual([]);
  });
});

// The type is used by the fakes above.
export type { TrainerWorkerApi };
