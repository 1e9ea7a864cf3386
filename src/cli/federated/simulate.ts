/**
 * A federated population in one process: each simulated user is a client that holds only its
 * own training history and runs the real client code (models/federated/local-update.ts, then
 * src/core/privacy/privatize.ts and the delta encoding), posts through the real intake
 * (src/server/rounds.ts RoundService: decode, check, count), and the real coordinator
 * (./coordinator.ts: aggregation, DP noise, server optimizer, export, signing, publication)
 * turns each closed round into the next version. Every published version is evaluated as it
 * ships: its int8 ONNX encoder and int8 shards (../evaluate-export.ts).
 */
import { join } from 'node:path';
import { encodeDelta } from '../../core/delta.ts';
import { isLocalrecError, LocalrecError } from '../../core/errors.ts';
import { evaluateRanking } from '../../core/metrics.ts';
import { privatizeDelta, type Uniform } from '../../core/privacy/privatize.ts';
import { Rng } from '../../core/random.ts';
import type { SplitData } from '../../core/types.ts';
import { ApiError } from '../../server/errors.ts';
import { RoundService } from '../../server/rounds.ts';
import { MemoryRoundStore } from '../../server/store/memory-round-store.ts';
import type { Round, RoundStore } from '../../server/store/round-store.ts';
import type { PublicationStore } from '../../server/store/registry.ts';
import { ClientPool } from '../../../models/federated/client-pool.ts';
import type { LocalTrainSpec } from '../../../models/federated/local-update.ts';
import { usersByTrainLength } from '../../../models/training/examples.ts';
import { exportScorer } from '../evaluate-export.ts';
import { FederatedCoordinator, type CoordinatorOptions } from './coordinator.ts';
import type { BaseVersion } from './next-version.ts';
import { poissonSample, roundAttackers } from './population.ts';

/** NDCG@10 (full ranking) of one published version. */
export interface VersionScore {
  round: number;
  version: number;
  valid: number;
  test: number;
  epsilon: number;
  seconds: number;
}

/** What one simulated run did. */
export interface SimulationResult {
  history: VersionScore[];
  rounds: number;
  clientsPerRound: number;
  seconds: number;
  epsilon: number;
  /**
   * Deltas the intake refused (its check threw, e.g. an all-zero delta from a user whose change
   * rounded to nothing) or did not count (its outcome was not 'accepted'), by reason; those
   * clients are left out of their round, as a browser whose post is refused would be.
   */
  refused: { total: number; reasons: Record<string, number> };
  /** Attackers' deltas sent, over all rounds (the poisoning run). */
  attackers: number;
}

/** The poisoning run's attackers: who they are each round and what they send. */
export interface SimulatedAttack {
  /** Share of each round's sampled clients that are attackers ({@link roundAttackers}). */
  share: number;
  /** The change every attacker of the round sends (one array per slice), from the round's base. */
  craft: (base: BaseVersion, round: number) => Float32Array[];
}

/** Options of {@link simulate}. */
export interface SimulateOptions {
  split: SplitData;
  store: PublicationStore;
  /**
   * The server side. Its `sampleRate` q is both the server's own Poisson sampling of who takes
   * part in each round and what its privacy ledger records.
   */
  coordinator: Omit<CoordinatorOptions, 'store' | 'rounds'>;
  rounds: number;
  localTrain: LocalTrainSpec;
  /** The users the server samples from (indices into `split.users`); default all of them. */
  population?: readonly number[];
  /** The users every version is scored on (default all). */
  evalUsers?: readonly number[];
  /** Evaluate every this many rounds (and after the last). */
  evalEvery: number;
  /** Stop starting rounds after this many seconds (0 = none). */
  maxSeconds?: number;
  seed: number;
  /** Threads running the clients (default 2). */
  threads?: number;
  /** Attackers among each round's clients (the poisoning run). */
  attack?: SimulatedAttack;
  log?: (line: string) => void;
  /** Extra evaluation of each version (e.g. the poisoning target's rank). */
  onVersion?: (exportDir: string, round: number) => Promise<void>;
}

/** Scores the export under `dir` on validation and test (full-ranking NDCG@10). */
export async function scoreExport(
  dir: string,
  split: SplitData,
  only?: readonly number[],
): Promise<{ valid: number; test: number }> {
  const scorer = await exportScorer(dir);
  try {
    const keep = only && new Set(only);
    const users = usersByTrainLength(split).filter((u) => !keep || keep.has(u));
    const valid = await evaluateRanking(split, 'valid', scorer.score, { users });
    const test = await evaluateRanking(split, 'test', scorer.score, { users });
    return { valid: valid.full.ndcg10, test: test.full.ndcg10 };
  } finally {
    await scorer.release();
  }
}

/** Runs the rounds; the store's current version is the starting model. */
export async function simulate(o: SimulateOptions): Promise<SimulationResult> {
  const t0 = performance.now();
  const roundStore = new MemoryRoundStore();
  // The robust rules read each update: the simulation keeps them (the intake keeps sums only).
  const robust = o.coordinator.aggregation !== 'dp-fedavg';
  const hook = { closing: async (_r: Round, _s: RoundStore) => undefined as void };
  const intake = new RoundService({
    store: roundStore,
    maxBatch: 64,
    onClosing: (r, s) => hook.closing(r, s),
    log: (msg, err) => log(`${msg}: ${String((err as Error)?.stack ?? err)}`),
  });
  const coordinator = new FederatedCoordinator({
    ...o.coordinator,
    store: o.store,
    rounds: intake,
  });
  if (!robust) hook.closing = (r, s) => coordinator.onClosing(r, s);
  const rng = new Rng(o.seed);
  const uniform: Uniform = () => rng.next();
  const log = o.log ?? (() => undefined);
  const pool = ClientPool.create(o.threads ?? 2);
  const history: VersionScore[] = [];
  const evaluate = async (round: number) => {
    const t = performance.now();
    const dir = await coordinator.currentExportDir();
    const s = await scoreExport(dir, o.split, o.evalUsers);
    const status = await coordinator.status();
    history.push({
      round,
      version: status.version,
      valid: s.valid,
      test: s.test,
      epsilon: status.epsilon,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
    });
    await o.onVersion?.(dir, round);
    log(
      `round ${round}: valid NDCG@10 ${s.valid.toFixed(4)}, ε ${status.epsilon.toFixed(3)} (eval ${((performance.now() - t) / 1000).toFixed(1)} s)`,
    );
  };
  let done = 0;
  let clients = 0;
  let attackers = 0;
  const refused: SimulationResult['refused'] = { total: 0, reasons: {} };
  const population = o.population ?? o.split.users.map((_, i) => i);
  try {
    await evaluate(0);
    for (let round = 1; round <= o.rounds; round++) {
      if (o.maxSeconds && (performance.now() - t0) / 1000 > o.maxSeconds) {
        log(`time limit: stopping after round ${done}`);
        break;
      }
      // Closed by the simulation once every sampled client has reported (reaching its minimum
      // never closes a round; closing under it fails the round, unaggregated).
      const open = await coordinator.openRound();
      if (!open) {
        log('the privacy budget allows no further round');
        break;
      }
      const base = await coordinator.base();
      // The server samples who takes part: every user of the population independently with
      // probability q, the coordinator's sampleRate — the q its privacy ledger records for this
      // round, so the amplification the accountant claims is the sampling that ran. The draw
      // depends on (population size, q, seed, round) alone, never on a user's data.
      const drawn = poissonSample(population.length, o.coordinator.sampleRate, o.seed, round);
      const who = drawn.map((i) => population[i]!);
      clients += who.length;
      const bad = o.attack
        ? roundAttackers(who.length, o.attack.share, o.seed, round)
        : new Set<number>();
      let accepted = 0;
      const updates: Float64Array[] = [];
      const norms: number[] = [];
      const tr = performance.now();
      pool.setBase(
        base.manifest.modelVersion,
        base.checkpoint.config,
        base.checkpoint.weights,
        base.set,
      );
      /** Posts one body through the intake's check and count; a refusal is counted, not fatal. */
      const post = async (body: Uint8Array) => {
        let outcome: string;
        try {
          const { input } = await intake.check(open.id, body);
          const out = await intake.submit(input);
          outcome = out.status;
          if (out.status === 'accepted') {
            accepted++;
            if (robust) updates.push(input.values);
            return;
          }
        } catch (e) {
          if (!(isLocalrecError(e) || e instanceof ApiError)) throw e;
          outcome = `${e.code}: ${e.message.replace(/\d[\d.e+-]*/g, '#')}`;
          if ((refused.reasons[outcome] ?? 0) === 0)
            log(`round ${round}: the intake refused a delta (${e.message}); counted, not fatal`);
        }
        refused.total++;
        refused.reasons[outcome] = (refused.reasons[outcome] ?? 0) + 1;
      };
      const honest = who.filter((_, k) => !bad.has(k));
      // Every client privatizes and encodes its change on its own thread (the client's whole
      // part off the main thread), with rounding from a seed of its own; seeds are drawn in
      // client order, so a client's delta does not depend on the thread it ran on.
      const jobs = honest.map((u) => ({
        sequence: o.split.users[u]!.train,
        seed: rng.seed(),
        privatize: {
          roundId: open.id,
          baseVersion: open.baseModelVersion,
          clipNorm: open.clipNorm,
          seed: rng.seed(),
        },
      }));
      const results = await pool.runPrivatized(base.checkpoint.config, jobs, o.localTrain);
      for (const r of results) {
        if (!r) continue;
        norms.push(r.normBeforeClip);
        await post(r.body);
      }
      if (bad.size > 0) {
        const crafted = o.attack!.craft(base, round);
        for (let k = 0; k < bad.size; k++) {
          const { delta } = privatizeDelta({
            roundId: open.id,
            baseVersion: open.baseModelVersion,
            clipNorm: open.clipNorm,
            slices: crafted,
            random: uniform,
          });
          await post(encodeDelta(delta));
        }
        attackers += bad.size;
      }
      await intake.closeRound(open.id);
      // closeRound can return while a tick that began before it is still running; the round is
      // done only once its aggregation has run and it is closed.
      for (let tries = 0; (await roundStore.getRound(open.id))!.state !== 'closed'; tries++) {
        if (tries >= 3)
          throw new LocalrecError('internal', `round ${open.id} was not aggregated (see the log)`);
        await intake.tick();
      }
      if (robust && updates.length > 0) await coordinator.aggregateUpdates(open, updates);
      const secs = (performance.now() - tr) / 1000;
      log(
        `round ${round}: ${accepted} of ${who.length} clients counted${bad.size > 0 ? ` (${bad.size} attackers)` : ''}, ${secs.toFixed(1)} s (${((secs / Math.max(1, who.length)) * 1000).toFixed(0)} ms per client), update norms before clipping: median ${quantile(norms, 0.5).toFixed(3)}, p90 ${quantile(norms, 0.9).toFixed(3)}`,
      );
      done = round;
      if (round % o.evalEvery === 0 || round === o.rounds) await evaluate(round);
    }
    if (history.at(-1)!.round !== done) await evaluate(done);
  } finally {
    await pool.close();
  }
  await intake.stop();
  await roundStore.close();
  const status = await coordinator.status();
  return {
    history,
    rounds: done,
    clientsPerRound: done > 0 ? Math.round(clients / done) : 0,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    epsilon: status.epsilon,
    refused,
    attackers,
  };
}

function quantile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** Where a coordinator keeps its scratch exports inside `dir`. */
export const workDirIn = (dir: string) => join(dir, 'work');
