/**
 * The federated trainer's side in the recommender: when to fine-tune, with what, and what to do
 * with the result. The work itself runs in the trainer worker (./worker-client.ts, ./job.ts), a
 * chunk of its own that is loaded only when there is something to train — nothing here imports
 * tfjs or the model code.
 *
 * It trains for a round when all of these hold, and checks them again after every wait:
 * - the site left the trainer on, the visitor gave `federated` consent (which Global Privacy
 *   Control turns off) and `personalization` consent (the history it learns from is kept only
 *   with it), and the memory is open;
 * - the model this device runs ships trainable weights (`models.sasrec.trainable`);
 * - `GET /v1/rounds/current` names an open round whose base model is that version, and this
 *   device has not contributed to it (the memory's `contributions`);
 * - the history has at least two items;
 * - the recommender has had no call for `idleMs` (then, in a page, the browser's idle callback).
 *
 * A call to the recommender that starts while it trains (recommend(), track(), …) terminates
 * the worker at once: training never runs beside a call. It starts again at the next idle
 * moment. The trainable weights are downloaded through the verified loader (the signed
 * manifest's sha256, Cache Storage); the delta is recorded in the memory and queued through
 * contribute(), the outbox path every delta takes.
 */
import type { BlobRef } from '../../core/blob.ts';
import type { LoadPlan } from '../loader/plan.ts';
import type { Memory } from '../memory/memory-api.ts';
import type { ContributionRecord } from '../memory/records.ts';
import type {
  ContributeResult,
  Contribution,
  FederatedStatus,
  RecommenderChange,
  RecommenderWarning,
  TrainerOptions,
} from '../api.ts';
import { idleCallback, type Activity } from './activity.ts';
import type { ContributionJob, ContributionResult } from './api.ts';
import { listContributions, toContribution } from './contributions.ts';
import { fetchOpenRound, type OpenRound } from './network.ts';
import { startTrainerWorker, type StartTrainerWorker } from './worker-client.ts';

/** Default idle time before training (ms). */
export const DEFAULT_IDLE_MS = 5_000;
/** Default interval between round checks (ms). */
export const DEFAULT_ROUND_CHECK_MS = 10 * 60_000;
/** History items read (the model uses the last maxLen + 1 it knows). */
const HISTORY_LIMIT = 200;

/** What {@link FederatedTrainer} needs from the recommender. */
export interface TrainerDeps {
  server: string;
  fetch: typeof fetch;
  options: TrainerOptions | false | undefined;
  now: () => number;
  activity: Activity;
  /** The version the visitor runs now. */
  plan: () => LoadPlan | undefined;
  /** Settles once the first version has loaded completely (training waits for it). */
  whenLoaded: () => Promise<unknown>;
  /** A blob's verified bytes (the loader: signed manifest's sha256, Cache Storage). */
  blob: (ref: BlobRef) => Promise<Uint8Array>;
  /** Why the visitor's choices forbid training now (consent, GPC), or null. */
  blocked: () => string | null;
  memory: () => Memory | undefined;
  /** Queues a delta in the outbox (the recommender's contribute()). */
  contribute: (bytes: Uint8Array) => Promise<ContributeResult>;
  emit: (c: RecommenderChange) => void;
  onWarning: (w: RecommenderWarning) => void;
  /** Tests inject their own worker. */
  startWorker?: StartTrainerWorker;
}

type Settled = { kind: 'done'; result: ContributionResult | null } | { kind: 'interrupted' };

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const minutes = (ms: number) =>
  ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;

export class FederatedTrainer {
  private state: Omit<FederatedStatus, 'contributions' | 'privacy'> = {
    state: 'off',
    reason: 'the trainer has not looked at its rules yet (it waits for the model to load)',
    round: null,
  };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ticking = false;
  private again = false;
  private closed = false;
  private cancel: (() => void) | undefined;
  private roundAt = -Infinity;
  private round: OpenRound | null = null;
  /** Rounds whose run found too little known history, with the history length then. */
  private readonly skipped = new Map<number, number>();
  /** The round the last pass found too little history for (null: none). */
  private shortOf: number | null = null;
  /** Calls of {@link tracked} so far: a pass that read the history compares it afterwards. */
  private tracks = 0;
  private readonly idleMs: number;
  private readonly checkMs: number;

  constructor(private readonly o: TrainerDeps) {
    const opts = o.options || {};
    this.idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
    this.checkMs = opts.roundCheckMs ?? DEFAULT_ROUND_CHECK_MS;
  }

  /** Starts deciding (after the first version has loaded). */
  start(): void {
    this.kick(0);
  }

  /**
   * Something the rules read changed (consent, the model version): a run they no longer allow
   * is stopped, and the rules are read again now (with a fresh round check).
   */
  changed(): void {
    if (this.o.blocked() !== null) this.cancel?.();
    this.roundAt = -Infinity;
    this.kick(0);
  }

  /** The visitor did something: when only history was missing, look again once idle. */
  tracked(): void {
    this.tracks++;
    if (this.shortOf !== null) this.kick(this.idleMs);
  }

  /** The trainer's state for status(). */
  async status(): Promise<FederatedStatus> {
    const n = (await this.records().catch(() => [])).length;
    const privacy = this.o.plan()?.privacy ?? null;
    return {
      ...this.state,
      round: this.state.round && { ...this.state.round },
      contributions: n,
      privacy: privacy && { ...privacy },
    };
  }

  /** Every contribution, newest first. */
  contributions(): Promise<Contribution[]> {
    return listContributions(this.o.memory());
  }

  /** The server took update `id` (heard from the outbox's post). */
  async posted(id: string): Promise<void> {
    await this.o.memory()?.contributions.markSent(id, this.o.now());
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.cancel?.();
  }

  private records(): Promise<ContributionRecord[]> {
    return this.o.memory()?.contributions.list() ?? Promise.resolve([]);
  }

  private set(state: FederatedStatus['state'], reason: string, round?: OpenRound | null): void {
    this.state = {
      state,
      reason,
      round:
        round === undefined
          ? this.state.round
          : round && {
              id: round.id,
              baseModelVersion: round.baseModelVersion,
              deadline: round.deadline,
            },
    };
  }

  private kick(ms: number): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.ticking) {
        this.again = true;
        return;
      }
      this.ticking = true;
      void this.tick()
        .catch((e: unknown) => {
          this.set('waiting', `the last attempt failed (${message(e)}); trying again later`);
          this.o.onWarning({
            code: 'trainer',
            message: `federated training failed: ${message(e)}`,
          });
          this.kick(this.checkMs);
        })
        .finally(() => {
          this.ticking = false;
          if (this.again) {
            this.again = false;
            this.kick(0);
          }
        });
    }, ms);
  }

  /** Why training cannot happen at all now (no round needed to know), or null. */
  private gate(plan: LoadPlan | undefined): string | null {
    if (this.o.options === false) return 'the site turned the trainer off';
    const blocked = this.o.blocked();
    if (blocked) return blocked;
    if (!plan) return 'the model is not loaded';
    if (!plan.trainable)
      return `model ${plan.modelVersion} ships no trainable weights, so this device cannot fine-tune it`;
    return null;
  }

  private async openRound(): Promise<OpenRound | null> {
    if (this.o.now() - this.roundAt < this.checkMs) return this.round;
    this.round = await fetchOpenRound(this.o.server, this.o.fetch);
    this.roundAt = this.o.now();
    return this.round;
  }

  /** One pass over the rules; ends with the next pass scheduled (or none while off). */
  private async tick(): Promise<void> {
    if (this.closed) return;
    this.shortOf = null;
    let plan = this.o.plan();
    let off = this.gate(plan);
    if (off) return this.set('off', off, null);
    await this.o.whenLoaded().catch(() => undefined);
    plan = this.o.plan();
    off = this.gate(plan);
    if (off || !plan?.trainable) return this.set('off', off ?? 'the model is not loaded', null);
    const every = minutes(this.checkMs);
    let round: OpenRound | null;
    try {
      round = await this.openRound();
    } catch (e) {
      this.set(
        'waiting',
        `could not ask the server for the open round (${message(e)}); trying again in ${every}`,
        null,
      );
      return this.kick(this.checkMs);
    }
    if (!round || Date.parse(round.deadline) <= this.o.now()) {
      this.set(
        'waiting',
        `no federated round is open now, so nothing is trained or sent; checking again in ${every}`,
        null,
      );
      return this.kick(this.checkMs);
    }
    if (round.baseModelVersion !== plan.modelVersion) {
      this.set(
        'waiting',
        `round ${round.id} improves model ${round.baseModelVersion}, not the ${plan.modelVersion} this device runs; it trains once both match`,
        round,
      );
      return this.kick(this.checkMs);
    }
    const mine = await this.records();
    if (mine.some((r) => r.roundId === round.id && r.baseModelVersion === round.baseModelVersion)) {
      this.set(
        'waiting',
        `this device has contributed to round ${round.id}; it waits for the next round`,
        round,
      );
      return this.kick(this.checkMs);
    }
    const wait = this.idleMs - this.o.activity.idleFor();
    if (this.o.activity.busy > 0 || wait > 0) {
      this.set(
        'scheduled',
        `round ${round.id} is open: this device fine-tunes once the page is idle`,
        round,
      );
      return this.kick(Math.max(wait, 250));
    }
    const memory = this.o.memory();
    const tracksBefore = this.tracks;
    const history = (await memory?.history({ limit: HISTORY_LIMIT })) ?? [];
    // Too little history: look again at the next check, or once idle if the visitor did
    // something since the history was read (tracked() saw no shortOf then and did not kick).
    const retry = () => this.kick(this.tracks !== tracksBefore ? this.idleMs : this.checkMs);
    if (history.length < 2 || this.skipped.get(round.id) === history.length) {
      this.shortOf = round.id;
      this.set(
        'waiting',
        `round ${round.id} is open, but there is too little history to learn from yet`,
        round,
      );
      return retry();
    }
    await idleCallback();
    const trainable = await this.o.blob(plan.trainable);
    // The download took a while: read the rules again before the device is used.
    if (this.gate(this.o.plan()) || this.o.plan()?.modelVersion !== plan.modelVersion)
      return this.kick(0);
    if (this.o.activity.busy > 0 || this.o.activity.idleFor() < this.idleMs)
      return this.kick(Math.max(this.idleMs - this.o.activity.idleFor(), 250));

    this.set('training', `fine-tuning on this device for round ${round.id}`, round);
    const opts = this.o.options || {};
    const settled = await this.run({
      trainable,
      history,
      localTrain: plan.localTrain,
      seed: globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! >>> 1,
      device: opts.device ?? 'auto',
      slices: round.slices,
      round: { id: round.id, baseModelVersion: round.baseModelVersion, clipNorm: round.clipNorm },
      localNoise: opts.localNoise ?? 0,
    });
    if (settled.kind === 'interrupted') {
      this.set(
        'scheduled',
        `round ${round.id} is open: training was interrupted by the page and starts again once it is idle`,
        round,
      );
      return this.kick(this.idleMs);
    }
    const r = settled.result;
    if (!r) {
      this.skipped.set(round.id, history.length);
      this.shortOf = round.id;
      this.set(
        'waiting',
        `round ${round.id} is open, but fewer than two items of the history are in the model`,
        round,
      );
      return retry();
    }
    await this.queue(r, round, plan);
  }

  /** Runs one job in a fresh worker; a call to the recommender or withdrawn consent stops it. */
  private async run(job: ContributionJob): Promise<Settled> {
    const start =
      this.o.startWorker ?? (() => startTrainerWorker((this.o.options || {}).workerUrl));
    const worker = start();
    let stop!: () => void;
    const stopped = new Promise<Settled>((resolve) => {
      stop = () => resolve({ kind: 'interrupted' });
    });
    this.cancel = stop;
    const off = this.o.activity.onStart(stop);
    try {
      return await Promise.race([
        worker.api.contribution(job).then((result): Settled => ({ kind: 'done', result })),
        worker.failed,
        stopped,
      ]);
    } finally {
      off();
      this.cancel = undefined;
      worker.terminate();
    }
  }

  /** Records a computed delta and queues it (only if the rules still allow it). */
  private async queue(r: ContributionResult, round: OpenRound, plan: LoadPlan): Promise<void> {
    const memory = this.o.memory();
    if (this.closed) return;
    if (this.gate(this.o.plan()) || !memory || this.o.plan()?.modelVersion !== plan.modelVersion)
      return this.kick(0); // consent went (or the model moved on) while it trained: dropped
    const record = await memory.contributions.add({
      id: r.updateId,
      roundId: round.id,
      baseModelVersion: round.baseModelVersion,
      createdAt: this.o.now(),
      bytes: r.bytes.byteLength,
      normBeforeClip: r.normBeforeClip,
      clipNorm: round.clipNorm,
      device: r.device,
      steps: r.steps,
      items: r.items,
      trainMs: Math.round(r.trainMs),
    });
    let queued = false;
    try {
      queued = (await this.o.contribute(r.bytes)).queued;
    } finally {
      if (!queued) await memory.contributions.remove(record.id).catch(() => undefined);
    }
    if (!queued) return this.kick(0);
    this.set(
      'waiting',
      `this device has contributed to round ${round.id}; it waits for the next round`,
      round,
    );
    this.o.emit({
      kind: 'contribution',
      contribution: toContribution(record, new Set([record.id])),
    });
    this.kick(this.checkMs);
  }
}
