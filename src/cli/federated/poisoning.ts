/**
 * `localrec fedsim`'s poisoning run (set-up c), on the synthetic population of ./synthetic.ts: a
 * share of each round's clients send max-norm deltas crafted to push one item (./attack.ts),
 * aggregated with the plain mean and with the coordinate-wise trimmed mean; the target's
 * standing is scored on the exported model as it ships.
 */
import { LocalrecError } from '../../core/errors.ts';
import { evaluateRanking } from '../../core/metrics.ts';
import type { SplitData } from '../../core/types.ts';
import { exportScorer } from '../evaluate-export.ts';
import { targetPushDelta } from './attack.ts';
import { federate, type SetupOptions } from './fedsim.ts';
import { buildPopulation, publicMedianNorm, type SyntheticPopulation } from './synthetic.ts';

/** Defaults of the poisoning run. */
export const POISONING_DEFAULTS = {
  sampleRate: 0.005,
  rounds: 10,
  attackerShare: 0.05,
  trim: 0.1,
  evalEvery: 5,
};

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
