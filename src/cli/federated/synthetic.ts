/**
 * `localrec fedsim`'s set-ups on a synthetic population from the project's generator
 * (src/core/synthetic.ts): (b) differential privacy at a useful ε — a starting model trained
 * centrally on a small public set of users, then federated rounds over a separate population of
 * at least 100,000 users that the simulated server Poisson-samples itself (each user
 * independently with probability q), run twice with the same seed: with central DP noise z·C/n
 * (n = q·N, fixed) and without. The poisoning run (c) on the same population is ./poisoning.ts.
 *
 * Every user is a client holding only its own training history; each runs the real client code
 * on a worker thread (local fine-tuning, clipping, int8 rounding, encoding), the real intake
 * checks and counts the deltas, and the real coordinator aggregates, steps, exports, signs and
 * publishes; every published version is scored as it ships (int8 ONNX encoder, int8 shards).
 */
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { epsilonAfter, roundsWithinBudget } from '../../core/privacy/accountant.ts';
import { Rng } from '../../core/random.ts';
import { generateSyntheticCatalog } from '../../core/synthetic.ts';
import type { SplitData } from '../../core/types.ts';
import { newSigningKey } from '../../server/keys.ts';
import { publishExport } from '../../server/publish.ts';
import { openPublicationStore } from '../../server/store/registry.ts';
import { ClientPool } from '../../../models/federated/client-pool.ts';
import type { SasrecConfig } from '../../../models/sasrec/config.ts';
import { splitDataset } from '../data.ts';
import { federate, trainedExport, type ServerSide, type SetupOptions } from './fedsim.ts';
import { readBaseVersion } from './next-version.ts';
import { startUsers } from './population.ts';
import type { SimulationResult, VersionScore } from './simulate.ts';

/** The synthetic population and its starting model. */
export interface SyntheticPopulation {
  /** Users the server samples from (N). */
  users: number;
  /** Users of the public set the starting model is trained on centrally (not in the N). */
  publicUsers: number;
  items: number;
  /** Seed of the generator (the data), apart from the run's seed. */
  dataSeed: number;
  /** The starting model (small, so that a round of q·N clients is affordable). */
  model: Partial<Omit<SasrecConfig, 'numItems'>>;
  /** Time limit of the starting model's central training. */
  trainSeconds: number;
  /** Federated users every version is scored on (a fixed random sample; 0 = all N). */
  evalUsers: number;
}

/**
 * Defaults of the synthetic population: 100,000 federated users and a public set of 1,000 (1%)
 * for the starting model, 1,000 items (25 clusters of ~40), 5–50 events per user; a one-block
 * SASRec of width 32 over the last 20 items (39,168 federated parameters), whose local step
 * costs ~15–20 ms here (docs/BENCHMARKS.md).
 */
export const SYNTHETIC_POPULATION: SyntheticPopulation = {
  users: 100_000,
  publicUsers: 1_000,
  items: 1_000,
  dataSeed: 11,
  model: { maxLen: 20, dim: 32, blocks: 1, heads: 1, ffnDim: 32 },
  trainSeconds: 90,
  evalUsers: 10_000,
};

/**
 * Defaults of the DP run, fixed before it runs. q: the accumulated noise of T rounds against
 * their signal goes as √T·q/z, so for a fixed number of client updates q·T·N a larger cohort is
 * better as long as z stays low; q = 0.02 (n = 2,000 clients a round, ~12–35 s a round here) with
 * 30 rounds is what the time allows, and on validation (10-round pilots, 2026-12-03, 5,000 users)
 * q = 0.02, z = 0.7 kept 55% of the non-private gain where q = 0.01, z = 0.6 kept 38%. z: the
 * smallest on a 0.1 grid whose 30 rounds stay within ε ≤ 8 at δ = 1e-6 by the accountant (0.6:
 * ε 6.56; 0.5: 10.3). Server learning rate: FedAdam 2e-3 (ML-100K's); 1e-2 was worse on validation, with
 * and without noise. `maxSeconds` cuts the private run under load; the non-private run then runs
 * as many rounds.
 */
export const SYNTHETIC_DEFAULTS = {
  sampleRate: 0.02,
  noiseMultiplier: 0.6,
  rounds: 30,
  targetEpsilon: 8,
  serverLearningRate: 2e-3,
  evalEvery: 5,
  maxSeconds: 480,
};

/** A generated population, split, with its trained starting model. */
export interface Built {
  split: SplitData;
  /** Indices (into split.users) of the public users and of the federated population. */
  publicSet: number[];
  population: number[];
  evalUsers: number[];
  startExport: string;
}

/** Generates the population, splits it, and trains (or reuses) the starting model. */
export async function buildPopulation(
  p: SyntheticPopulation,
  out: string,
  seed: number,
  log: (l: string) => void,
): Promise<Built> {
  if (!(p.users >= 1 && p.publicUsers >= 1))
    throw new LocalrecError('bad-input', 'the synthetic population needs users and public users');
  const t = performance.now();
  const total = p.users + p.publicUsers;
  const ds = generateSyntheticCatalog({
    items: p.items,
    users: total,
    seed: p.dataSeed,
    minEvents: 5,
    maxEvents: 50,
    name: 'synthetic',
  });
  const split = splitDataset(ds);
  const pub = startUsers(split.users.length, p.publicUsers / split.users.length, seed);
  const publicSet = [...pub].sort((a, b) => a - b);
  const population = split.users.map((_, i) => i).filter((i) => !pub.has(i));
  const order = [...population];
  new Rng(seed + 101).shuffle(order);
  const evalUsers = (p.evalUsers > 0 ? order.slice(0, p.evalUsers) : order).sort((a, b) => a - b);
  log(
    `synthetic population: ${population.length} federated users, ${publicSet.length} public, ${split.numItems} items, ${ds.events.length} events (${((performance.now() - t) / 1000).toFixed(1)} s)`,
  );
  const startExport = await trainedExport(
    ds,
    join(out, 'synthetic', 'start'),
    {
      model: p.model,
      train: { maxSeconds: p.trainSeconds, seed },
      members: 1,
      itemFeatures: false,
      dataSource: `synthetic:${p.items}x${total}:${p.dataSeed}`,
      trainUsers: (_u, i) => pub.has(i),
    },
    { ...p, evalUsers: undefined, seed },
    log,
  );
  return { split, publicSet, population, evalUsers, startExport };
}

/**
 * The median L2 norm of the public users' local changes at the starting model: the clip norm
 * C when none is given — the median rule of DP-FedAvg practice (Andrew et al. 2021 track it
 * adaptively), measured on public data so it costs no privacy, before any round.
 */
export async function publicMedianNorm(b: Built, o: SetupOptions, count = 256): Promise<number> {
  const store = openPublicationStore('memory:');
  await publishExport(b.startExport, store, await newSigningKey());
  const base = await readBaseVersion(store);
  const pool = ClientPool.create(2);
  try {
    pool.setBase('public', base.checkpoint.config, base.checkpoint.weights, base.set);
    const rng = new Rng(o.seed + 7);
    const jobs = b.publicSet
      .slice(0, count)
      .map((u) => ({ sequence: b.split.users[u]!.train, seed: rng.seed() }));
    const changes = await pool.run(base.checkpoint.config, jobs, o.localTrain);
    const norms = changes
      .filter((c): c is Float32Array[] => c !== null)
      .map((c) => Math.sqrt(c.reduce((a, s) => a + s.reduce((x, v) => x + v * v, 0), 0)))
      .sort((x, y) => x - y);
    if (norms.length === 0) throw new LocalrecError('internal', 'no public user could train');
    return norms[Math.floor(norms.length / 2)]!;
  } finally {
    await pool.close();
  }
}

/** How the synthetic DP run is set up (the flags of `fedsim`). */
export interface SyntheticOptions extends Omit<SetupOptions, 'sampleRate' | 'rounds'> {
  population: SyntheticPopulation;
  /** q: each user takes part in a round with this probability. */
  sampleRate: number;
  /** z of the private run. */
  noiseMultiplier: number;
  /** C; undefined = the public users' median norm ({@link publicMedianNorm}). */
  clipNorm?: number;
  /** Most rounds; the run stops earlier where one more round would pass `targetEpsilon`. */
  rounds: number;
  targetEpsilon: number;
}

/** The `synthetic` member of fedsim's JSON, with the runs' histories. */
export interface SyntheticResult {
  users: number;
  epsilon: number | null;
  delta: number;
  ndcgPrivate: number;
  ndcgNonPrivate: number;
  ndcgStart: number;
  /** (non-private − private) / non-private: the Done-when asks ≤ 0.1. */
  relativeDrop: number;
  /** (private − start) / (non-private − start): the share of the federated gain DP keeps. */
  gainKept: number;
  seconds: number;
  publicUsers: number;
  items: number;
  sampleRate: number;
  expectedClients: number;
  clientsPerRound: number;
  noiseMultiplier: number;
  clipNorm: number;
  rounds: number;
  /** ε the accountant gave for the planned rounds before any ran. */
  plannedEpsilon: number;
  evalUsers: number;
  valid: { start: number; private: number; nonPrivate: number };
  refused: { private: number; nonPrivate: number };
  runSeconds: { private: number; nonPrivate: number };
  history: { private: VersionScore[]; nonPrivate: VersionScore[] };
}

/** (b): the private and the non-private run on the synthetic population. */
export async function runSynthetic(o: SyntheticOptions): Promise<SyntheticResult> {
  const t0 = performance.now();
  const log = (l: string) => o.log(`[synthetic] ${l}`);
  const b = await buildPopulation(o.population, o.out, o.seed, log);
  const N = b.population.length;
  const q = o.sampleRate;
  const z = o.noiseMultiplier;
  const n = Math.max(1, Math.round(q * N));
  // The rounds are fixed before any runs, from the accountant alone.
  const allowed = roundsWithinBudget({
    q,
    noiseMultiplier: z,
    targetEpsilon: o.targetEpsilon,
    delta: o.server.delta,
  });
  const rounds = Math.min(o.rounds, allowed);
  if (rounds < 1)
    throw new LocalrecError(
      'bad-input',
      `q ${q}, z ${z}: not one round fits ε ≤ ${o.targetEpsilon} at δ ${o.server.delta}`,
    );
  const planned = epsilonAfter({ q, noiseMultiplier: z, steps: rounds, delta: o.server.delta });
  const clipNorm = o.clipNorm ?? (await publicMedianNorm(b, o));
  log(
    `N ${N}, q ${q} (n = ${n} expected clients), z ${z}, C ${clipNorm.toFixed(4)}${o.clipNorm === undefined ? ' (median of public users)' : ''}, ${rounds} rounds (${allowed} fit the budget): ε ${planned.epsilon.toFixed(3)} at δ ${o.server.delta} by the accountant`,
  );
  const setup: SetupOptions = { ...o, sampleRate: q, rounds };
  const server: Partial<ServerSide> = { clipNorm, expectedClients: n };
  const extra = {
    population: b.population,
    evalUsers: b.evalUsers,
  };
  const seeded = () => {
    const r = new Rng(o.seed + 31);
    return () => r.next();
  };
  const priv: SimulationResult = await federate(
    b.startExport,
    b.split,
    { ...setup, log: o.log },
    'synthetic-private',
    { ...server, noiseMultiplier: z, epsilonBudget: o.targetEpsilon, random: seeded() },
    extra,
  );
  const open: SimulationResult = await federate(
    b.startExport,
    b.split,
    { ...setup, rounds: priv.rounds, maxSeconds: 0, log: o.log },
    'synthetic-nonprivate',
    { ...server, noiseMultiplier: 0, epsilonBudget: null },
    extra,
  );
  const start = priv.history[0]!;
  const lp = priv.history.at(-1)!;
  const lo = open.history.at(-1)!;
  return {
    users: N,
    epsilon: Number.isFinite(priv.epsilon) ? priv.epsilon : null,
    delta: o.server.delta,
    ndcgPrivate: lp.test,
    ndcgNonPrivate: lo.test,
    ndcgStart: start.test,
    relativeDrop: (lo.test - lp.test) / lo.test,
    gainKept: (lp.test - start.test) / (lo.test - start.test),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    publicUsers: b.publicSet.length,
    items: b.split.numItems,
    sampleRate: q,
    expectedClients: n,
    clientsPerRound: priv.clientsPerRound,
    noiseMultiplier: z,
    clipNorm,
    rounds: priv.rounds,
    plannedEpsilon: planned.epsilon,
    evalUsers: b.evalUsers.length,
    valid: { start: start.valid, private: lp.valid, nonPrivate: lo.valid },
    refused: { private: priv.refused.total, nonPrivate: open.refused.total },
    runSeconds: { private: priv.seconds, nonPrivate: open.seconds },
    history: { private: priv.history, nonPrivate: open.history },
  };
}
