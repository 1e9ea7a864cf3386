/**
 * Durable state of the federated rounds: their parameters, state machine, running sums and
 * the ids of the updates counted. One interface for every backend (SQLite today, PostgreSQL
 * later); `test/unit/store-round.test.ts` is the suite each must pass.
 *
 * State machine: `open` (taking updates) → `closing` (minimum reports in, deadline passed, or
 * closed by the owner; takes no more updates; the aggregator's turn) → `closed` (final).
 */

/** A round's lifecycle state. */
export type RoundState = 'open' | 'closing' | 'closed';
/** Why a round left `open`. */
export type CloseReason = 'min-reports' | 'deadline' | 'admin';

/** One parameter slice a round asks for: a named tensor (or part of one) of the given shape. */
export interface SliceSpec {
  name: string;
  /** Dimensions; the slice has their product values. */
  shape: number[];
}

/** What the owner sets when opening a round. */
export interface RoundSpec {
  /** The manifest `modelVersion` clients must have trained from. */
  baseModelVersion: string;
  slices: SliceSpec[];
  /** L2 bound on each update's dequantized values. */
  clipNorm: number;
  /** The round closes once this many updates are counted. */
  minReports: number;
  /** The round closes at this time (epoch ms) whatever the count. */
  deadline: number;
}

/** A round as stored. */
export interface Round extends RoundSpec {
  id: number;
  state: RoundState;
  /** Updates counted. */
  reports: number;
  openedAt: number;
  closingAt: number | null;
  closedAt: number | null;
  closeReason: CloseReason | null;
}

/** One validated update to count. */
export interface UpdateInput {
  roundId: number;
  /** 32 hex characters; the idempotency key within the round. */
  updateId: string;
  /** sha256 of the request body, to tell a replay from a different update reusing an id. */
  digest: string;
  /** Dequantized values of every slice concatenated in the round's order, float64. */
  values: Float64Array;
}

/** What became of one update. */
export type UpdateOutcome =
  | { status: 'accepted'; receipt: number }
  | { status: 'replay'; receipt: number }
  | { status: 'conflict' }
  | { status: 'not-open'; state: RoundState }
  | { status: 'not-found' };

/** A counted update, as {@link RoundStore.updates} lists it. */
export interface CountedUpdate {
  updateId: string;
  digest: string;
  /** 1-based position in the round's count. */
  receipt: number;
}

/**
 * The durable state of the federated rounds (the state machine above), one interface for every
 * backend; open one by URL with `openRoundStore()`.
 */
export interface RoundStore {
  readonly url: string;
  /** Opens a round; `bad-input` when another round is open (only one is at a time). */
  openRound(spec: RoundSpec, now: number): Promise<Round>;
  getRound(id: number): Promise<Round | undefined>;
  /** The open round, if any. */
  currentRound(): Promise<Round | undefined>;
  /** Every round, newest first. */
  listRounds(): Promise<Round[]>;
  /**
   * Counts a batch of updates in ONE transaction, in order: an update id already counted in its
   * round is a `replay` (same digest) or a `conflict` (different digest) and changes nothing;
   * otherwise, if the round is open and `now` is before its deadline, the values are added to
   * the round's float64 sums and the count goes up by one (`accepted`, with its receipt). The
   * update that brings the count to `minReports` moves the round to `closing`; a round whose
   * deadline has passed moves to `closing` and the update is `not-open`. Either every effect of
   * the batch is durable when this resolves, or none is.
   */
  applyUpdates(batch: readonly UpdateInput[], now: number): Promise<UpdateOutcome[]>;
  /** open → closing (no-op for a round already past open). */
  beginClosing(id: number, reason: CloseReason, now: number): Promise<Round>;
  /** closing → closed (no-op for a closed round; `bad-input` for an open one). */
  finishClosing(id: number, now: number): Promise<Round>;
  /** Moves every open round whose deadline is ≤ now to closing; returns them. */
  expire(now: number): Promise<Round[]>;
  /** The running sums (every slice concatenated, float64) and the count. */
  sums(id: number): Promise<{ reports: number; sums: Float64Array } | undefined>;
  /** The updates counted in a round, by receipt. */
  updates(id: number): Promise<CountedUpdate[]>;
  close(): Promise<void>;
}

/** Values in a slice. */
export function sliceLength(s: SliceSpec): number {
  return s.shape.reduce((a, b) => a * b, 1);
}

/** Offsets of each slice in the concatenated vector, and its total length (last entry). */
export function sliceOffsets(slices: readonly SliceSpec[]): number[] {
  const out = [0];
  for (const s of slices) out.push(out[out.length - 1]! + sliceLength(s));
  return out;
}
