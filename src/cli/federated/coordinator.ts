/**
 * The server's side of the learning loop (`localrec serve --federated`, and `localrec fedsim`):
 * opens a round on the current version, and when the intake closes it, turns its sum into the
 * next signed version — aggregation (DP-FedAvg: fixed-denominator mean plus Gaussian noise
 * z·C/n, or a robust rule), a server optimizer step, `localrec export`'s path, `localrec
 * publish`'s signature — then opens the next round by itself, unless that round would spend
 * past the privacy budget.
 *
 * The privacy ledger travels in the signed manifest (`federated.privacy`): every noised round's
 * (q, z), from which the RDP accountant gives ε at the owner's δ. A crash at any point before
 * the manifest is stored publishes nothing, and the intake re-runs the closing round after a
 * restart; a crash after it is caught by the manifest's `federated.round`, so no round is ever
 * published (or its noise drawn and spent) twice.
 *
 * Crash tests only: with `LOCALREC_FEDERATED_PAUSE_AT=<stage>` in its environment the
 * coordinator stops at that stage of publishing a round — writes `federated: paused at <stage>
 * (round <id>)` on stderr and waits there until the process is killed — so that a test can
 * kill -9 the server at a known point (test/unit/crash-federated.test.ts). The stages, in order
 (`PAUSE_STAGES` in ./staged-store.ts): `exported` (the next version's export written to the scratch folder,
 * nothing stored), `blobs` (its first new blob stored, the others not), `manifest` (every blob
 * stored, the manifest not), `current` (the manifest stored as the next version, not yet made
 * current), `published` (the new version current, the round not yet marked closed).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { manifestBlobs, parseManifest } from '../../core/manifest.ts';
import {
  createAggregator,
  createServerOptimizer,
  type AggregationMethod,
  type ServerOptimizer,
} from '../../server/aggregation/index.ts';
import { addRound, ledgerEpsilon, type PrivacyLedger } from './privacy-ledger.ts';
import type { SigningKey } from '../../server/keys.ts';
import type { RoundService } from '../../server/rounds.ts';
import type { PublicationStore } from '../../server/store/registry.ts';
import type { Round, RoundStore } from '../../server/store/round-store.ts';
import type { LocalTrainSpec } from '../../../models/federated/local-update.ts';
import { roundSlices, sliceValues } from '../../../models/federated/parameter-set.ts';
export { ledgerEpsilon, type LedgerEntry, type PrivacyLedger } from './privacy-ledger.ts';
import { publishNextVersion, readBaseVersion, type BaseVersion } from './next-version.ts';
import { pauseFromEnv, stagedStore } from './staged-store.ts';
export { PAUSE_STAGES, type PauseStage } from './staged-store.ts';

/** How the coordinator aggregates and publishes. */
export interface CoordinatorOptions {
  store: PublicationStore;
  rounds: RoundService;
  key: SigningKey;
  /** Scratch folder for exports and the server optimizer's state. */
  workDir: string;
  /** L2 bound C of every delta. */
  clipNorm: number;
  /** The fixed denominator n of the mean: the clients a round expects. */
  expectedClients: number;
  /** A round is aggregated only with at least this many reports. */
  minReports: number;
  /** Seconds a round stays open. */
  roundSeconds: number;
  /** z: central noise of standard deviation z·C/n per coordinate (0 = none: no DP). */
  noiseMultiplier: number;
  /**
   * q for the accountant: 1 unless the server itself samples who takes part (browsers choose
   * when they come, so no amplification by sampling can be claimed for them).
   */
  sampleRate: number;
  /** Stop opening rounds once the next would pass this ε (at `delta`); null = no budget. */
  epsilonBudget: number | null;
  delta: number;
  aggregation: AggregationMethod;
  /** Trimmed mean's β, norm-bounded mean's bound. */
  trim?: number;
  normBound?: number;
  serverOptimizer: 'sgd' | 'fedadam';
  serverLearningRate: number;
  /** FedAdam's τ (its adaptivity; default 1e-3). */
  serverTau?: number;
  /** Rounds of linear server learning-rate warm-up (default 0: none). */
  serverWarmup?: number;
  serverHalfLife?: number; // rounds in which the server learning rate halves (0: constant)
  localTrain: LocalTrainSpec;
  /** Injected randomness for the noise (tests and simulations); default the CSPRNG. */
  random?: () => number;
  log?: (line: string) => void;
}

export class FederatedCoordinator {
  private readonly o: CoordinatorOptions;
  private cached: BaseVersion | undefined;
  private lastExport: string | undefined;
  private readonly pause = pauseFromEnv();

  constructor(o: CoordinatorOptions) {
    if (!(o.expectedClients >= 1) || !(o.minReports >= 1))
      throw new LocalrecError('bad-input', 'expected clients and min reports must be ≥ 1');
    this.o = o;
    mkdirSync(o.workDir, { recursive: true });
  }

  /** The current version (cached by version number). */
  async base(): Promise<BaseVersion> {
    const cur = await this.o.store.manifests.current();
    const version = cur ? parseManifest(cur).version : undefined;
    if (!this.cached || this.cached.manifest.version !== version)
      this.cached = await readBaseVersion(this.o.store);
    return this.cached;
  }

  /** The privacy ledger of the current version (empty before any federated round). */
  async ledger(): Promise<PrivacyLedger> {
    const f = (await this.base()).manifest.federated as { privacy?: PrivacyLedger } | null;
    const entries = f?.privacy?.entries ?? [];
    const epsilon = ledgerEpsilon(entries, this.o.delta);
    return {
      accounting: 'rdp-subsampled-gaussian',
      delta: this.o.delta,
      epsilon: Number.isFinite(epsilon) ? epsilon : null,
      entries,
    };
  }

  /** Version, rounds aggregated and ε so far. */
  async status(): Promise<{ version: number; rounds: number; epsilon: number }> {
    const b = await this.base();
    const l = await this.ledger();
    const rounds = l.entries.reduce((a, e) => a + e.rounds, 0);
    return { version: b.manifest.version ?? 0, rounds, epsilon: l.epsilon ?? Infinity };
  }

  /** ε after one more round (what the budget check compares). */
  async nextEpsilon(): Promise<number> {
    const l = await this.ledger();
    return ledgerEpsilon(
      addRound(l.entries, this.o.sampleRate, this.o.noiseMultiplier),
      this.o.delta,
    );
  }

  /**
   * Opens a round on the current version unless one is open (returned as is), one is still
   * closing (undefined: its aggregation makes the next version, which the next round must
   * train) or the next round would spend past the budget (undefined, logged).
   */
  async openRound(specMinReports?: number): Promise<Round | undefined> {
    const store = this.o.rounds.store;
    const open = await store.currentRound();
    if (open) return open;
    if ((await store.listRounds()).some((r) => r.state === 'closing')) return undefined;
    const b = await this.base();
    const spent = await this.ledger();
    const next = await this.nextEpsilon();
    if (this.o.epsilonBudget !== null) {
      if (!(next <= this.o.epsilonBudget)) {
        this.o.log?.(
          `not opening a round: it would bring ε to ${next.toFixed(3)}, over the budget ${this.o.epsilonBudget} (δ ${this.o.delta})`,
        );
        return undefined;
      }
    }
    return store.openRound(
      {
        baseModelVersion: b.manifest.modelVersion,
        slices: roundSlices(b.set),
        clipNorm: this.o.clipNorm,
        minReports: specMinReports ?? this.o.minReports,
        deadline: Date.now() + this.o.roundSeconds * 1000,
        privacy: {
          accounting: 'rdp-subsampled-gaussian',
          delta: this.o.delta,
          epsilonSpent: spent.epsilon,
          epsilonAfter: Number.isFinite(next) ? next : null,
          noiseMultiplier: this.o.noiseMultiplier,
          sampleRate: this.o.sampleRate,
          expectedClients: this.o.expectedClients,
        },
      },
      Date.now(),
    );
  }

  private statePath(): string {
    return join(this.o.workDir, `server-optimizer.state`);
  }

  private optimizer(b: BaseVersion): ServerOptimizer {
    // The state saved with the current version (named by its version number), if any.
    const tagged = `${this.statePath()}.v${b.manifest.version ?? 0}`;
    const state = existsSync(tagged) ? new Uint8Array(readFileSync(tagged)) : undefined;
    const o = this.o;
    const rate = { learningRate: o.serverLearningRate, warmupRounds: o.serverWarmup };
    const common = { slices: roundSlices(b.set), ...rate, halfLifeRounds: o.serverHalfLife, state };
    return createServerOptimizer(
      this.o.serverOptimizer === 'fedadam'
        ? { kind: 'fedadam', ...common, ...(o.serverTau !== undefined && { tau: o.serverTau }) }
        : { kind: 'sgd', ...common },
    );
  }

  /**
   * The intake's closing hook: aggregates round `r` into the next version and publishes it,
   * then opens the next round. Does nothing for a round already published, a round for another
   * version, or one with fewer than minReports reports.
   */
  async onClosing(r: Round, store: RoundStore): Promise<void> {
    const b = await this.base();
    const done = (b.manifest.federated as { round?: number } | null)?.round;
    const log = this.o.log ?? (() => undefined);
    if (done !== undefined && done >= r.id) return;
    if (await this.finishStored(b, r)) return;
    if (r.baseModelVersion !== b.manifest.modelVersion) {
      log(
        `round ${r.id} trained ${r.baseModelVersion}, not the current ${b.manifest.modelVersion}: not aggregated`,
      );
      return;
    }
    const sums = await store.sums(r.id);
    if (!sums || sums.reports < Math.min(this.o.minReports, r.minReports)) {
      log(
        `round ${r.id} closed with ${sums?.reports ?? 0} reports, under the minimum ${this.o.minReports}: not aggregated`,
      );
      return;
    }
    const layout = { slices: r.slices, clipNorm: r.clipNorm };
    const method = this.o.aggregation;
    if (method !== 'dp-fedavg')
      throw new LocalrecError(
        'bad-input',
        `aggregation ${method} needs each update; the intake keeps sums only (use dp-fedavg, or fedsim)`,
      );
    const agg = createAggregator({
      method: 'dp-fedavg',
      expectedClients: this.o.expectedClients,
      noiseMultiplier: this.o.noiseMultiplier,
      ...(this.o.random && { random: this.o.random }),
    });
    if (agg.needs !== 'sum') throw new LocalrecError('internal', 'dp-fedavg reads sums');
    const { delta, report } = agg.aggregate({ round: layout, sum: sums.sums, count: sums.reports });
    await this.publish(b, r, delta, report.noiseMultiplier, report.received);
  }

  /**
   * A crash between storing the next version's manifest and making it current leaves round
   * `r`'s version stored, not current: it is made current now (its blobs went in before it),
   * rather than the round aggregated — and its noise drawn — a second time. True when a version
   * newer than the current one already names round `r` (or a later round): nothing to aggregate.
   */
  private async finishStored(b: BaseVersion, r: Round): Promise<boolean> {
    const { manifests, blobs } = this.o.store;
    const newer = (await manifests.listVersions()).filter((v) => v > (b.manifest.version ?? 0));
    const latest = newer.at(-1);
    for (const v of [...newer].reverse()) {
      const bytes = await manifests.getVersion(v);
      if (!bytes) continue;
      const m = parseManifest(bytes);
      const f = m.federated as { round?: number; baseModelVersion?: string } | null;
      if (f?.round === undefined || f.round < r.id) continue;
      const log = this.o.log ?? (() => undefined);
      if (f.round !== r.id || f.baseModelVersion !== b.manifest.modelVersion || v !== latest) {
        log(
          `round ${r.id}: version ${v} (round ${f.round}, from ${f.baseModelVersion}) is stored, not current: not aggregated again`,
        );
        return true;
      }
      for (const ref of manifestBlobs(m))
        if (!(await blobs.stat(ref.sha256)))
          throw new LocalrecError(
            'integrity',
            `version ${v} of round ${r.id} is stored without its blob ${ref.sha256.slice(0, 12)}…; not made current`,
          );
      await manifests.setCurrent(v);
      this.cached = undefined;
      log(`round ${r.id}: version ${v} was stored, not made current before a restart: now current`);
      return true;
    }
    return false;
  }

  /** Aggregates individual updates (fedsim's robust runs), then publishes as {@link onClosing}. */
  async aggregateUpdates(r: Round, updates: Float64Array[]): Promise<void> {
    const b = await this.base();
    const layout = { slices: r.slices, clipNorm: r.clipNorm };
    const agg =
      this.o.aggregation === 'trimmed-mean'
        ? createAggregator({ method: 'trimmed-mean', trim: this.o.trim ?? 0.1 })
        : this.o.aggregation === 'norm-bounded-mean'
          ? createAggregator({
              method: 'norm-bounded-mean',
              normBound: this.o.normBound ?? this.o.clipNorm,
              expectedClients: this.o.expectedClients,
              noiseMultiplier: this.o.noiseMultiplier,
              ...(this.o.random && { random: this.o.random }),
            })
          : createAggregator({
              method: 'dp-fedavg',
              expectedClients: this.o.expectedClients,
              noiseMultiplier: this.o.noiseMultiplier,
              ...(this.o.random && { random: this.o.random }),
            });
    const { delta, report } =
      agg.needs === 'updates'
        ? agg.aggregate({ round: layout, updates })
        : agg.aggregate({
            round: layout,
            sum: updates.reduce((s, u) => {
              for (let i = 0; i < s.length; i++) s[i]! += u[i]!;
              return s;
            }, new Float64Array(updates[0]!.length)),
            count: updates.length,
          });
    // A rule without a sensitivity bound buys no guarantee: it counts as a round without noise.
    const z = report.sensitivity === null ? 0 : report.noiseMultiplier;
    await this.publish(b, r, delta, z, report.received);
  }

  private async publish(
    b: BaseVersion,
    r: Round,
    delta: Float64Array,
    z: number,
    received: number,
  ) {
    const t0 = performance.now();
    const opt = this.optimizer(b);
    const before = sliceValues(b.set, b.checkpoint.weights);
    const flat = new Float32Array(before.reduce((a, s) => a + s.length, 0));
    let at = 0;
    for (const s of before) {
      flat.set(s, at);
      at += s.length;
    }
    const next = opt.apply(flat, delta);
    let dsq = 0;
    for (let i = 0; i < delta.length; i++) dsq += delta[i]! * delta[i]!;
    const step = new Float64Array(flat.length);
    for (let i = 0; i < flat.length; i++) step[i] = next[i]! - flat[i]!;
    const prior = await this.ledger();
    const entries = addRound(prior.entries, this.o.sampleRate, z);
    const epsilon = ledgerEpsilon(entries, this.o.delta);
    const workDir = join(this.o.workDir, `round-${r.id}`);
    const published = await publishNextVersion({
      store: stagedStore(this.o.store, {
        round: r.id,
        optimizerState: opt.saveState(),
        statePath: `${this.statePath()}.v`,
        pause: this.pause,
      }),
      key: this.o.key,
      base: b,
      step,
      workDir,
      onExported: () => this.pause('exported', r.id),
      federated: {
        round: r.id,
        baseModelVersion: b.manifest.modelVersion,
        reports: received,
        clipNorm: r.clipNorm,
        expectedClients: this.o.expectedClients,
        aggregation: this.o.aggregation,
        serverOptimizer: this.o.serverOptimizer,
        serverLearningRate: this.o.serverLearningRate,
        localTrain: { ...this.o.localTrain },
        privacy: {
          accounting: 'rdp-subsampled-gaussian',
          delta: this.o.delta,
          epsilon: Number.isFinite(epsilon) ? epsilon : null,
          entries,
        } satisfies PrivacyLedger,
      },
    });
    this.lastExport = join(workDir, 'export');
    this.cached = undefined;
    (this.o.log ?? (() => undefined))(
      `round ${r.id}: ${received} reports, |Δ| ${Math.sqrt(dsq).toFixed(4)} → version ${published.version} (${published.modelVersion}), ε ${Number.isFinite(epsilon) ? epsilon.toFixed(3) : '∞'}, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    await this.pause('published', r.id);
  }

  /**
   * An export folder of the current version (the last one this coordinator wrote, or the
   * store's current version copied out), for scoring it as it ships.
   */
  async currentExportDir(): Promise<string> {
    if (this.lastExport) return this.lastExport;
    const b = await this.base();
    const dir = join(this.o.workDir, `current-v${b.manifest.version ?? 0}`);
    mkdirSync(join(dir, 'blobs'), { recursive: true });
    for (const ref of manifestBlobs(b.manifest)) {
      const bytes = await this.o.store.blobs.get(ref.sha256);
      if (!bytes) throw new LocalrecError('not-found', `the store lacks blob ${ref.sha256}`);
      writeFileSync(join(dir, 'blobs', ref.sha256), bytes);
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(b.manifest));
    this.lastExport = dir;
    return dir;
  }
}
