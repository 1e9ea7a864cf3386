import { LocalrecError } from '../../core/errors.ts';
import {
  sliceOffsets,
  type CloseReason,
  type CountedUpdate,
  type Round,
  type RoundSpec,
  type RoundStore,
  type UpdateInput,
  type UpdateOutcome,
} from './round-store.ts';

interface MemRound {
  round: Round;
  sums: Float64Array;
  updates: Map<string, CountedUpdate>;
}

/**
 * In-memory rounds (`memory:`): the reference semantics of {@link RoundStore} in a page of
 * code, for tests. Nothing survives the process. Passes the same shared suite as SQLite.
 */
export class MemoryRoundStore implements RoundStore {
  readonly url = 'memory:';
  private readonly rounds = new Map<number, MemRound>();
  private nextId = 1;

  async openRound(spec: RoundSpec, now: number): Promise<Round> {
    const open = await this.currentRound();
    if (open)
      throw new LocalrecError(
        'bad-input',
        `round ${open.id} is still open; close it before opening another`,
      );
    const round: Round = {
      ...structuredClone(spec),
      id: this.nextId++,
      state: 'open',
      reports: 0,
      openedAt: now,
      closingAt: null,
      closedAt: null,
      closeReason: null,
    };
    this.rounds.set(round.id, {
      round,
      sums: new Float64Array(sliceOffsets(spec.slices).at(-1)!),
      updates: new Map(),
    });
    return { ...round };
  }

  async getRound(id: number): Promise<Round | undefined> {
    const r = this.rounds.get(id);
    return r && { ...r.round };
  }

  async currentRound(): Promise<Round | undefined> {
    for (const r of this.rounds.values()) if (r.round.state === 'open') return { ...r.round };
    return undefined;
  }

  async listRounds(): Promise<Round[]> {
    return [...this.rounds.values()].map((r) => ({ ...r.round })).sort((a, b) => b.id - a.id);
  }

  async applyUpdates(batch: readonly UpdateInput[], now: number): Promise<UpdateOutcome[]> {
    // All or nothing, as a transaction: validate lengths before touching anything.
    for (const u of batch) {
      const r = this.rounds.get(u.roundId);
      if (r && u.values.length !== r.sums.length)
        throw new LocalrecError(
          'internal',
          `update has ${u.values.length} values, round ${u.roundId} needs ${r.sums.length}`,
        );
    }
    return batch.map((u): UpdateOutcome => {
      const r = this.rounds.get(u.roundId);
      if (!r) return { status: 'not-found' };
      const prev = r.updates.get(u.updateId);
      if (prev)
        return prev.digest === u.digest
          ? { status: 'replay', receipt: prev.receipt }
          : { status: 'conflict' };
      if (r.round.state === 'open' && now >= r.round.deadline) this.toClosing(r, 'deadline', now);
      if (r.round.state !== 'open') return { status: 'not-open', state: r.round.state };
      for (let i = 0; i < r.sums.length; i++) r.sums[i]! += u.values[i]!;
      const receipt = ++r.round.reports;
      r.updates.set(u.updateId, { updateId: u.updateId, digest: u.digest, receipt });
      if (receipt >= r.round.minReports) this.toClosing(r, 'min-reports', now);
      return { status: 'accepted', receipt };
    });
  }

  private toClosing(r: MemRound, reason: CloseReason, now: number): void {
    if (r.round.state !== 'open') return;
    r.round.state = 'closing';
    r.round.closingAt = now;
    r.round.closeReason = reason;
  }

  private must(id: number): MemRound {
    const r = this.rounds.get(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    return r;
  }

  async beginClosing(id: number, reason: CloseReason, now: number): Promise<Round> {
    const r = this.must(id);
    this.toClosing(r, reason, now);
    return { ...r.round };
  }

  async finishClosing(id: number, now: number): Promise<Round> {
    const r = this.must(id);
    if (r.round.state === 'open') throw new LocalrecError('bad-input', `round ${id} is still open`);
    if (r.round.state === 'closing') {
      r.round.state = 'closed';
      r.round.closedAt = now;
    }
    return { ...r.round };
  }

  async expire(now: number): Promise<Round[]> {
    const out: Round[] = [];
    for (const r of this.rounds.values())
      if (r.round.state === 'open' && r.round.deadline <= now) {
        this.toClosing(r, 'deadline', now);
        out.push({ ...r.round });
      }
    return out;
  }

  async sums(id: number): Promise<{ reports: number; sums: Float64Array } | undefined> {
    const r = this.rounds.get(id);
    return r && { reports: r.round.reports, sums: Float64Array.from(r.sums) };
  }

  async updates(id: number): Promise<CountedUpdate[]> {
    const r = this.rounds.get(id);
    return r ? [...r.updates.values()].sort((a, b) => a.receipt - b.receipt) : [];
  }

  async close(): Promise<void> {}
}
