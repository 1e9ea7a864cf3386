/**
 * Durable state of the federated rounds: their parameters, state machine, running sums, the
 * updates counted and the round tickets issued. One interface for every backend (SQLite today,
 * PostgreSQL later); `test/unit/store-round.test.ts` is the suite each must pass.
 *
 * State machine: `open` (taking updates) → at its deadline or when the owner closes it:
 * `closing` (takes no more updates; the aggregator's turn) → `closed` (final) when at least
 * `minReports` updates were counted, otherwise `failed` (final: never aggregated, its sum
 * discarded). Reaching `minReports` closes nothing: it is a lower bound, never a trigger, so no
 * anonymous client can close a round by posting.
 */
import type { Delta } from '../../core/delta.ts';

/** A round's lifecycle state. */
export type RoundState = 'open' | 'closing' | 'closed' | 'failed';
/**
 * Why a round left `open`. `'min-reports'` only appears on rounds closed by versions of localrec
 * in which reaching the minimum closed a round.
 */
export type CloseReason = 'deadline' | 'admin' | 'min-reports';

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
  /**
   * The fewest updates the round is aggregated with: a round that closes (at its deadline or by
   * the owner) with fewer is `failed`. It never closes a round by itself.
   */
  minReports: number;
  /** The round closes at this time (epoch ms). */
  deadline: number;
  /**
   * The privacy accounting the server that opened the round applies to it (`localrec serve
   * --federated`); absent for a round an owner opened by hand, which nothing accounts for.
   */
  privacy?: RoundPrivacy;
}

/** What a round states of its differential privacy (shown in `GET /v1/rounds/current`). */
export interface RoundPrivacy {
  accounting: 'rdp-subsampled-gaussian';
  /** The δ every ε here is stated at. */
  delta: number;
  /** ε of the rounds the base version learned from; null when one ran without noise (no bound). */
  epsilonSpent: number | null;
  /** ε once this round is aggregated too; null when it adds no noise (no bound). */
  epsilonAfter: number | null;
  /** z: the round's central noise has standard deviation z·C/n per coordinate. */
  noiseMultiplier: number;
  /** q the accountant uses (1: the server does not sample who takes part). */
  sampleRate: number;
  /** n, the fixed denominator of the round's mean. */
  expectedClients: number;
}

/** A round as stored. */
export interface Round extends RoundSpec {
  id: number;
  state: RoundState;
  /** Updates counted. */
  reports: number;
  openedAt: number;
  closingAt: number | null;
  /** When it became `closed` or `failed`. */
  closedAt: number | null;
  closeReason: CloseReason | null;
}

/** An update's values as the intake checked them: the posted bytes and their decoding. */
export interface EncodedUpdate {
  /** The delta as posted (src/core/delta.ts), what a store may log to recover its sum. */
  body: Uint8Array;
  /** Its decoding; the slice values are views into `body`. */
  delta: Delta;
}

/** One validated update to count. */
export interface UpdateInput {
  roundId: number;
  /** 32 hex characters; the idempotency key within the round. */
  updateId: string;
  /** sha256 of the request body, to tell a replay from a different update reusing an id. */
  digest: string;
  /**
   * sha256 of the update's dequantized values (any encoding of the same values has the same
   * one): a round counts a set of values once, whatever the update id. Absent: not checked.
   */
  valuesDigest?: string;
  /** sha256 (hex) of the round ticket the update came with; absent: no ticket is checked. */
  ticket?: string;
  /**
   * The checked delta, when the update came through the intake's check: stores add its
   * dequantized values straight into the sum and never need {@link values}.
   */
  encoded?: EncodedUpdate;
  /**
   * Dequantized values of every slice concatenated in the round's order, float64. When
   * `encoded` is set this is computed on first read (a round of 480k values makes 3.8 MB).
   */
  values: Float64Array;
}

/** Why a ticket was not good for an update. */
export type TicketProblem = 'unknown' | 'foreign' | 'used' | 'expired';

/** What became of one update. */
export type UpdateOutcome =
  | { status: 'accepted'; receipt: number }
  | { status: 'replay'; receipt: number }
  | { status: 'conflict' }
  /** The same values were counted in this round under another update id. */
  | { status: 'same-values' }
  /** Counted before under another ticket (nothing changes; the presented ticket stays unused). */
  | { status: 'other-ticket' }
  | { status: 'ticket'; problem: TicketProblem }
  | { status: 'not-open'; state: RoundState }
  | { status: 'not-found' };

/** A round ticket to record: what the server gives a client for one report in one round. */
export interface TicketInput {
  roundId: number;
  /** sha256 (hex) of the ticket; the ticket itself is never stored. */
  hash: string;
  /**
   * The client's network (a hash of its IPv4 address or IPv6 /64, see client-network.ts); kept
   * only while the round is open, to bound tickets per network.
   */
  network: string;
  /** Most tickets a network may hold in this round. */
  perNetwork: number;
  expiresAt: number;
}

/** What became of one ticket request. */
export type TicketOutcome =
  | { status: 'issued' }
  /** The network already holds `perNetwork` tickets of this round. */
  | { status: 'limit'; issued: number }
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
   * Counts a batch of updates in ONE transaction, in order. An update id already counted in
   * its round is a `replay` (same digest, and the same ticket when both have one), `other-ticket`
   * (same digest, another ticket) or a `conflict` (different digest) and changes nothing. A
   * round whose deadline is ≤ `now` leaves `open` (see {@link beginClosing}) and the update is
   * `not-open`. With a `ticket`, it must have been issued for this round, be unused and
   * unexpired (`ticket` outcome otherwise); with a `valuesDigest`, no other update of the round
   * may have the same (`same-values`). Otherwise the values are added to the round's float64
   * sums, the count goes up by one and the ticket is used (`accepted`, with its receipt). Either
   * every effect of the batch is durable when this resolves, or none is.
   */
  applyUpdates(batch: readonly UpdateInput[], now: number): Promise<UpdateOutcome[]>;
  /**
   * Records tickets in ONE transaction, in order: each is `issued` unless its round is not
   * open (a round past its deadline leaves `open`) or its network already holds `perNetwork`
   * tickets of the round. Durable when this resolves.
   */
  issueTickets(batch: readonly TicketInput[], now: number): Promise<TicketOutcome[]>;
  /**
   * Takes an open round out of `open`: to `closing` when it counted at least `minReports`
   * updates, else to `failed` (its sum discarded). A no-op for a round already past open.
   */
  beginClosing(
    id: number,
    reason: Exclude<CloseReason, 'min-reports'>,
    now: number,
  ): Promise<Round>;
  /** closing → closed (no-op for a closed or failed round; `bad-input` for an open one). */
  finishClosing(id: number, now: number): Promise<Round>;
  /** Takes every open round whose deadline is ≤ now out of `open` ({@link beginClosing}); returns them. */
  expire(now: number): Promise<Round[]>;
  /**
   * The running sums (every slice concatenated, float64) and the count; undefined for an
   * unknown round or a `failed` one.
   */
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

/** Adds an update's values into a round's sums (the encoded form without materializing them). */
export function addUpdate(u: UpdateInput, sums: Float64Array, offsets: readonly number[]): void {
  if (u.encoded) {
    for (const s of u.encoded.delta.slices) {
      const off = offsets[s.index]!;
      const { scale, values } = s;
      for (let i = 0; i < values.length; i++) sums[off + i]! += scale * values[i]!;
    }
    return;
  }
  const v = u.values;
  for (let i = 0; i < v.length; i++) sums[i]! += v[i]!;
}

/** The number of values an update carries (to check it against its round before counting). */
export function updateLength(u: UpdateInput): number {
  if (!u.encoded) return u.values.length;
  let n = 0;
  for (const s of u.encoded.delta.slices) n += s.values.length;
  return n;
}
