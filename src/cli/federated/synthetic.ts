/**
 * `localrec fedsim`'s set-ups on a synthetic population from the project's generator
 * (src/core/synthetic.ts): (b) differential privacy at a useful ε — a starting model trained
 * centrally on a small public set of users, then federated rounds over a separate population of
 * at least 100,000 users that the simulated server Poisson-samples itself (each user
 * independently with probability q), run twice with the same seed: with central DP noise z·C/n
 * (n = q·N, fixed) and without; (c) poisoning — a share of each round's clients send max-norm
 * deltas crafted to push one item (./attack.ts), aggregated by the plain mean and by the
 * coordinate-wise trimmed mean, and how far that item moves.
 *
 * Every user is a client holding only its own training history; each runs the real client code
 * on a worker thread (local fine-tuning, clipping, int8 rounding, encoding), the real intake
 * checks and counts the deltas, and the real coordinator aggregates, steps, exports, signs and
 * publishes; every published version is scored as it ships (int8 ONNX encoder, int8 shards).
 */
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { evaluateRanking } from '../../core/metrics.ts';
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
import { exportScorer } from '../evaluate-export.ts';
import { targetPushDelta } from './attack.ts';
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

/** Defaults of the poisoning run. */
export const POISONING_DEFAULTS = {
  sampleRate: 0.005,
  rounds: 10,
  attackerShare: 0.05,
  trim: 0.1,
  evalEvery: 5,
};

interface Built {
  split: SplitData;
  /** Indices (into split.users) of the public users and of the federated population. */
  publicSet: number[];
  population: number[];
  evalUsers: number[];
  startExport: string;
}

/** Generates the population, splits it, and trains (or reuses) the starting model. */
async function buildPopulation(
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
async function publicMedianNorm(b: Built, o: SetupOptions, count = 256): Promise<number> {
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
    clientPrivatize: true,
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

/** Where the target item stands for `users` at the test stage of `split`. */
export interface Standing {
  /** Mean 0-based rank among the items a user has not seen (full ranking). */
  meanRank: number;
  /** Share of the users with it in their top 10. */
  top10Share: number;
  /** Users counted (those whose history holds the target are left out). */
  users: number;
}

/** The target's standing under the export in `exportDir` (scored as it ships). */
export async function targetStanding(
  exportDir: string,
  split: SplitData,
  item: number,
  users?: readonly number[],
): Promise<Standing> {
  const scorer = await exportScorer(exportDir);
  let rankSum = 0;
  let top10 = 0;
  let n = 0;
  try {
    await evaluateRanking(
      split,
      'test',
      async (inputs, at) => {
        const out = await scorer.score(inputs, at);
        out.forEach((s, k) => {
          const seen = new Set(inputs[k]);
          if (seen.has(item)) return;
          let rank = 0;
          const x = s[item]!;
          for (let i = 1; i < s.length; i++) if (i !== item && !seen.has(i) && s[i]! > x) rank++;
          rankSum += rank;
          if (rank < 10) top10++;
          n++;
        });
        return out;
      },
      users ? { users: [...users] } : {},
    );
  } finally {
    await scorer.release();
  }
  return { meanRank: rankSum / Math.max(1, n), top10Share: top10 / Math.max(1, n), users: n };
}

/** How the poisoning run is set up. */
export interface PoisoningOptions extends Omit<SetupOptions, 'sampleRate'> {
  population: SyntheticPopulation;
  sampleRate: number;
  /** Share of each round's clients that attack. */
  attackerShare: number;
  /** The trimmed mean's β (each end); should exceed the attackers' share. */
  trim: number;
  /** C; undefined = the public users' median norm. */
  clipNorm?: number;
  /** The target's internal item index; undefined = the item of median popularity. */
  target?: number;
}

/** One aggregator's poisoning run. */
export interface PoisoningRun {
  aggregation: 'dp-fedavg' | 'trimmed-mean';
  attacked: boolean;
  after: Standing;
  ndcg: number;
  history: { round: number; meanRank: number; top10Share: number; test: number }[];
}

/** The `poisoning` member of fedsim's JSON. */
export interface PoisoningResult {
  users: number;
  target: { index: number; id: string; trainCount: number };
  attackerShare: number;
  attackersPerRound: number;
  clientsPerRound: number;
  clipNorm: number;
  trim: number;
  rounds: number;
  before: Standing & { ndcg: number };
  /** No attackers, plain mean: how far the target moves by ordinary training alone. */
  noAttack: Omit<PoisoningRun, 'history' | 'aggregation' | 'attacked'>;
  mean: Omit<PoisoningRun, 'history' | 'aggregation' | 'attacked'>;
  trimmedMean: Omit<PoisoningRun, 'history' | 'aggregation' | 'attacked'>;
  seconds: number;
  runs: PoisoningRun[];
}

/** (c): poisoning, with and without the robust rule (no DP noise: the trimmed mean takes none). */
export async function runPoisoning(o: PoisoningOptions): Promise<PoisoningResult> {
  const t0 = performance.now();
  const log = (l: string) => o.log(`[poisoning] ${l}`);
  const b = await buildPopulation(o.population, o.out, o.seed, log);
  const N = b.population.length;
  // The target: the item of median popularity in the training data, far from everyone's top 10.
  const counts = new Int32Array(b.split.numItems + 1);
  for (const u of b.split.users) for (const x of u.train) counts[x]!++;
  const byCount = Array.from({ length: b.split.numItems }, (_, i) => i + 1).sort(
    (x, y) => counts[x]! - counts[y]! || x - y,
  );
  const target = o.target ?? byCount[Math.floor(byCount.length / 2)]!;
  if (!(target >= 1 && target <= b.split.numItems))
    throw new LocalrecError(
      'bad-input',
      `the target must be an item index in 1..${b.split.numItems}`,
    );
  const clipNorm = o.clipNorm ?? (await publicMedianNorm(b, o));
  const n = Math.max(1, Math.round(o.sampleRate * N));
  // The attackers average the query over public histories (what they can see of users).
  const seen = b.publicSet.slice(0, 512).map((u) => b.split.users[u]!.train);
  log(
    `target item ${b.split.itemIds[target]} (index ${target}, ${counts[target]} training events), ${Math.round(o.attackerShare * n)} of ~${n} clients per round attack with norm C = ${clipNorm.toFixed(4)}, ${o.rounds} rounds, trimmed mean β ${o.trim}`,
  );
  const runs: PoisoningRun[] = [];
  let before: (Standing & { ndcg: number }) | undefined;
  let clientsPerRound = 0;
  const plan: { aggregation: PoisoningRun['aggregation']; attacked: boolean }[] = [
    { aggregation: 'dp-fedavg', attacked: false },
    { aggregation: 'dp-fedavg', attacked: true },
    { aggregation: 'trimmed-mean', attacked: true },
  ];
  for (const p of plan) {
    const name = `poisoning-${p.attacked ? '' : 'none-'}${p.aggregation}`;
    const standings = new Map<number, Standing>();
    const res = await federate(
      b.startExport,
      b.split,
      { ...o, log: o.log },
      name,
      {
        clipNorm,
        expectedClients: n,
        noiseMultiplier: 0,
        epsilonBudget: null,
        aggregation: p.aggregation,
        trim: o.trim,
      },
      {
        population: b.population,
        evalUsers: b.evalUsers,
        clientPrivatize: true,
        ...(p.attacked && {
          attack: {
            share: o.attackerShare,
            craft: (base) =>
              targetPushDelta(
                { config: base.checkpoint.config, weights: base.checkpoint.weights, set: base.set },
                target,
                seen,
                clipNorm,
              ),
          },
        }),
        onVersion: async (dir, round) => {
          const s = await targetStanding(dir, b.split, target, b.evalUsers);
          standings.set(round, s);
          log(
            `${name} round ${round}: target mean rank ${s.meanRank.toFixed(1)}, in the top 10 of ${(100 * s.top10Share).toFixed(2)}% of ${s.users} test users`,
          );
        },
      },
    );
    clientsPerRound = res.clientsPerRound;
    const history = res.history.map((h) => ({
      round: h.round,
      meanRank: standings.get(h.round)!.meanRank,
      top10Share: standings.get(h.round)!.top10Share,
      test: h.test,
    }));
    before ??= { ...standings.get(0)!, ndcg: res.history[0]!.test };
    const last = res.history.at(-1)!;
    runs.push({ ...p, after: standings.get(last.round)!, ndcg: last.test, history });
  }
  const pick = (r: PoisoningRun) => ({ after: r.after, ndcg: r.ndcg });
  return {
    users: N,
    target: { index: target, id: b.split.itemIds[target]!, trainCount: counts[target]! },
    attackerShare: o.attackerShare,
    attackersPerRound: Math.round(o.attackerShare * clientsPerRound),
    clientsPerRound,
    clipNorm,
    trim: o.trim,
    rounds: runs[0]!.history.at(-1)!.round,
    before: before!,
    noAttack: pick(runs[0]!),
    mean: pick(runs[1]!),
    trimmedMean: pick(runs[2]!),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    runs,
  };
}
