/**
 * `localrec fedsim`'s synthetic set-ups on a tiny population and model: the server's own Poisson
 * sampling (its expected count; independent of the users' data), the privacy ledger of a run
 * with q < 1 against `localrec dp-epsilon` for the same (q, z, T, δ), the poisoning attacker's
 * delta (norm C, raises the target's score on the base model), the trimmed mean against the
 * plain mean on a small deterministic round, and a delta the intake refuses counted, not fatal.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTf } from '../../src/cli/tf-node.ts';
import { dpEpsilonCommand } from '../../src/cli/commands/dp-epsilon.ts';
import { splitDataset } from '../../src/cli/data.ts';
import { meanItemScore, targetPushDelta } from '../../src/cli/federated/attack.ts';
import { readBaseVersion, type BaseVersion } from '../../src/cli/federated/next-version.ts';
import { poissonSample, roundAttackers } from '../../src/cli/federated/population.ts';
import { simulate } from '../../src/cli/federated/simulate.ts';
import { parseManifest } from '../../src/core/manifest.ts';
import { Rng } from '../../src/core/random.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';
import type { SplitData } from '../../src/core/types.ts';
import { createAggregator, toSum } from '../../src/server/aggregation/index.ts';
import { newSigningKey, type SigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';
import { DEFAULT_LOCAL_TRAIN, localUpdate } from '../../models/federated/local-update.ts';
import { addToWeights, roundSlices } from '../../models/federated/parameter-set.ts';
import { trainTinyModel } from '../setup/tiny-model.ts';

let root: string;
let exportDir: string;
let key: SigningKey;
let base: BaseVersion;
let split: SplitData;

beforeAll(async () => {
  await initTf();
  root = mkdtempSync(join(tmpdir(), 'localrec-fedsim-synth-'));
  exportDir = join(root, 'export');
  await trainTinyModel(root, { catalogSeed: 3, trainSeed: 4, epochs: 2, exportDir });
  // The tiny model's own data (trainTinyModel's catalog), split as training split it.
  split = splitDataset(
    generateSyntheticCatalog({ items: 300, users: 700, seed: 3, minEvents: 6, maxEvents: 40 }),
  );
  key = await newSigningKey();
  const store = openPublicationStore('memory:');
  await publishExport(exportDir, store, key);
  base = await readBaseVersion(store);
}, 180_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const flat = (slices: Float32Array[]) => {
  const out = new Float64Array(slices.reduce((a, s) => a + s.length, 0));
  let at = 0;
  for (const s of slices) {
    out.set(s, at);
    at += s.length;
  }
  return out;
};
const norm = (v: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
};

describe("the server's Poisson sampling", () => {
  it('takes q·N users a round in expectation, each round and each user independently', () => {
    const N = 20_000;
    const q = 0.01;
    const R = 60;
    const counts: number[] = [];
    const hits = new Int32Array(N);
    let both = 0;
    let prev = new Set<number>();
    for (let r = 1; r <= R; r++) {
      const who = poissonSample(N, q, 5, r);
      counts.push(who.length);
      for (const u of who) {
        hits[u]!++;
        if (prev.has(u)) both++;
      }
      prev = new Set(who);
    }
    const mean = counts.reduce((a, b) => a + b, 0) / R;
    const sd = Math.sqrt(N * q * (1 - q));
    // The mean of R counts is within 4 standard errors of q·N, and each count within 5 sd.
    expect(Math.abs(mean - N * q)).toBeLessThan((4 * sd) / Math.sqrt(R));
    for (const c of counts) expect(Math.abs(c - N * q)).toBeLessThan(5 * sd);
    // The counts vary as a binomial's do (not a fixed batch size).
    const variance = counts.reduce((a, c) => a + (c - mean) ** 2, 0) / (R - 1);
    expect(variance).toBeGreaterThan(0.4 * sd * sd);
    expect(variance).toBeLessThan(2 * sd * sd);
    // Consecutive rounds: a user is in both with probability q² (independent rounds).
    const pairs = (R - 1) * N * q * q;
    expect(Math.abs(both - pairs)).toBeLessThan(5 * Math.sqrt(pairs));
    // A different seed or round gives a different draw.
    expect(poissonSample(N, q, 6, 1)).not.toEqual(poissonSample(N, q, 5, 1));
  });

  it("does not depend on the users' data: long and short histories are sampled alike", () => {
    // The population as fedsim's server sees it: users by index, histories of very different
    // lengths. The draw takes only (N, q, seed, round); the share of long-history users drawn
    // matches their share in the population.
    const lengths = split.users.map((u) => u.train.length);
    const median = [...lengths].sort((a, b) => a - b)[lengths.length >> 1]!;
    const long = lengths.map((l) => l > median);
    const q = 0.2;
    let drawn = 0;
    let drawnLong = 0;
    for (let r = 1; r <= 200; r++)
      for (const u of poissonSample(split.users.length, q, 9, r)) {
        drawn++;
        if (long[u]) drawnLong++;
      }
    const share = long.filter(Boolean).length / long.length;
    const se = Math.sqrt((share * (1 - share)) / drawn);
    expect(Math.abs(drawnLong / drawn - share)).toBeLessThan(5 * se + 0.01);
  });

  it("picks a round's attackers as the share of its clients asked", () => {
    expect(roundAttackers(1000, 0.05, 1, 3).size).toBe(50);
    expect(roundAttackers(19, 0.05, 1, 3).size).toBe(1);
    expect([...roundAttackers(1000, 0.05, 1, 3)]).not.toEqual([
      ...roundAttackers(1000, 0.05, 1, 4),
    ]);
    for (const k of roundAttackers(40, 0.1, 2, 1)) expect(k >= 0 && k < 40).toBe(true);
  });
});

describe('a simulated run with q < 1', () => {
  it("records the server's q in the ledger, whose ε is dp-epsilon's for (q, z, T, δ); a refused delta is counted, not fatal", async () => {
    const store = openPublicationStore('memory:');
    await publishExport(exportDir, store, key);
    const q = 0.1;
    const z = 1.1;
    const delta = 1e-6;
    const population = split.users.map((_, i) => i).slice(0, 600);
    const lines: string[] = [];
    const noise = new Rng(3);
    const res = await simulate({
      split,
      store,
      coordinator: {
        key,
        workDir: join(root, 'sim-work'),
        clipNorm: 1,
        expectedClients: Math.round(q * population.length),
        minReports: 1,
        roundSeconds: 600,
        noiseMultiplier: z,
        sampleRate: q,
        epsilonBudget: null,
        delta,
        aggregation: 'dp-fedavg',
        serverOptimizer: 'sgd',
        serverLearningRate: 1,
        localTrain: DEFAULT_LOCAL_TRAIN,
        random: () => noise.next(),
      },
      rounds: 2,
      localTrain: DEFAULT_LOCAL_TRAIN,
      population,
      evalUsers: population.slice(0, 50),
      evalEvery: 2,
      seed: 4,
      threads: 1,
      // A tenth of each round's clients send an all-zero change (as a user whose update rounds
      // to nothing would): the intake refuses each; the run goes on without them.
      attack: {
        share: 0.1,
        craft: (b) => b.set.slices.map((s) => new Float32Array(s.shape.reduce((a, x) => a * x, 1))),
      },
      log: (l) => lines.push(l),
    });
    expect(res.rounds).toBe(2);
    const m = parseManifest((await store.manifests.current())!);
    const privacy = (m.federated as { privacy: { epsilon: number; entries: unknown[] } }).privacy;
    expect(privacy.entries).toEqual([{ sampleRate: q, noiseMultiplier: z, rounds: 2 }]);
    const cli = (await dpEpsilonCommand.run(
      { q: String(q), noise: String(z), steps: '2', delta: String(delta) },
      [],
    )) as { epsilon: number };
    expect(privacy.epsilon).toBeCloseTo(cli.epsilon, 12);
    expect(res.epsilon).toBeCloseTo(cli.epsilon, 12);
    // Sampled clients: about q of the population per round.
    expect(res.clientsPerRound).toBeGreaterThan(0.5 * q * population.length);
    expect(res.clientsPerRound).toBeLessThan(1.6 * q * population.length);
    // Every attacker's zero delta was refused and counted; none crashed the run.
    expect(res.attackers).toBeGreaterThan(0);
    expect(res.refused.total).toBe(res.attackers);
    expect(Object.keys(res.refused.reasons).join()).toMatch(/all zeros/);
    expect(lines.some((l) => /refused a delta .*counted, not fatal/.test(l))).toBe(true);
  }, 120_000);
});

describe('the poisoning attacker', () => {
  const target = 150;
  const users = () => split.users.slice(0, 200).map((u) => u.train);

  it('sends a delta of norm exactly C that raises the target item on the base model', () => {
    const C = 0.5;
    const d = targetPushDelta(
      { config: base.checkpoint.config, weights: base.checkpoint.weights, set: base.set },
      target,
      users(),
      C,
    );
    expect(d.map((s) => s.length)).toEqual(
      roundSlices(base.set).map((s) => s.shape.reduce((a, b) => a * b, 1)),
    );
    const v = flat(d);
    expect(norm(v)).toBeCloseTo(C, 5);
    expect(norm(v)).toBeLessThanOrEqual(C);
    // Only the target's own item row moves.
    const rowSlice = base.set.slices.findIndex((s) => s.itemRows && s.tensor === 'item_emb');
    const dim = base.checkpoint.config.dim;
    const row = base.set.rows.indexOf(target);
    d.forEach((s, i) =>
      s.forEach((x, j) => {
        if (x !== 0) expect(i === rowSlice && Math.floor(j / dim) === row).toBe(true);
      }),
    );
    const c = base.checkpoint.config;
    const before = meanItemScore(c, base.checkpoint.weights, users(), target);
    const after = meanItemScore(
      c,
      addToWeights(base.set, base.checkpoint.weights, v),
      users(),
      target,
    );
    expect(after).toBeGreaterThan(before + 0.5);
  });

  it('moves the target less through the trimmed mean than through the plain mean', async () => {
    // One round: 19 honest clients (the real local step, clipped to C) and one attacker (5%).
    const C = 0.5;
    const clip = (v: Float64Array) => {
      const n = norm(v);
      if (n > C) for (let i = 0; i < v.length; i++) v[i]! *= C / n;
      return v;
    };
    const c = base.checkpoint.config;
    const honest: Float64Array[] = [];
    for (let k = 0; honest.length < 19; k++) {
      const up = await localUpdate(
        c,
        base.checkpoint.weights,
        base.set,
        split.users[300 + k]!.train,
        DEFAULT_LOCAL_TRAIN,
        k,
      );
      if (up) honest.push(clip(flat(up.slices)));
    }
    const attack = flat(
      targetPushDelta(
        { config: c, weights: base.checkpoint.weights, set: base.set },
        target,
        users(),
        C,
      ),
    );
    const round = { slices: roundSlices(base.set), clipNorm: C };
    const updates = [...honest, attack];
    const plain = createAggregator({
      method: 'dp-fedavg',
      expectedClients: 20,
      noiseMultiplier: 0,
    });
    const trimmed = createAggregator({ method: 'trimmed-mean', trim: 0.1 });
    if (plain.needs !== 'sum' || trimmed.needs !== 'updates') throw new Error('unexpected needs');
    const rise = (delta: Float64Array) =>
      meanItemScore(c, addToWeights(base.set, base.checkpoint.weights, delta), users(), target) -
      meanItemScore(c, base.checkpoint.weights, users(), target);
    const byMean = rise(plain.aggregate(toSum({ round, updates })).delta);
    const byTrim = rise(trimmed.aggregate({ round, updates }).delta);
    // What each rule makes of the honest clients alone: the attack's effect is the difference.
    const honestMean = rise(plain.aggregate(toSum({ round, updates: honest })).delta);
    const honestTrim = rise(trimmed.aggregate({ round, updates: honest }).delta);
    expect(byMean - honestMean).toBeGreaterThan(0.05);
    expect(Math.abs(byTrim - honestTrim)).toBeLessThan(0.25 * (byMean - honestMean));
  }, 60_000);
});
