import { LocalrecError } from '../../core/errors.ts';
import {
  addUpdate,
  sliceOffsets,
  updateLength,
  type CloseReason,
  type CountedUpdate,
  type Round,
  type RoundSpec,
  type RoundStore,
  type TicketInput,
  type TicketOutcome,
  type UpdateInput,
  type UpdateOutcome,
} from './round-store.ts';

interface MemTicket {
  roundId: number;
  network: string | null;
  expiresAt: number;
  updateId: string | null;
}

interface MemRound {
  round: Round;
  offsets: number[];
  sums: Float64Array | null;
  updates: Map<string, CountedUpdate & { ticket: string | null }>;
  values: Set<string>;
}

/**
 * In-memory rounds (`memory:`): the reference semantics of {@link RoundStore} in a page of
 * code, for tests. Nothing survives the process. Passes the same shared suite as SQLite.
 */
export class MemoryRoundStore implements RoundStore {
  readonly url = 'memory:';
  private readonly rounds = new Map<number, MemRound>();
  private readonly tickets = new Map<string, MemTicket>();
  /** Tickets issued per `${roundId} ${network}` while the round is open. */
  private readonly perNetwork = new Map<string, number>();
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
    const offsets = sliceOffsets(spec.slices);
    this.rounds.set(round.id, {
      round,
      offsets,
      sums: new Float64Array(offsets.at(-1)!),
      updates: new Map(),
      values: new Set(),
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
      if (r && updateLength(u) !== r.offsets.at(-1))
        throw new LocalrecError(
          'internal',
          `update has ${updateLength(u)} values, round ${u.roundId} needs ${r.offsets.at(-1)}`,
        );
    }
    return batch.map((u): UpdateOutcome => {
      const r = this.rounds.get(u.roundId);
      if (!r) return { status: 'not-found' };
      const prev = r.updates.get(u.updateId);
      if (prev) {
        if (prev.digest !== u.digest) return { status: 'conflict' };
        if (u.ticket !== undefined && prev.ticket !== null && prev.ticket !== u.ticket)
          return { status: 'other-ticket' };
        return { status: 'replay', receipt: prev.receipt };
      }
      if (r.round.state === 'open' && now >= r.round.deadline) this.leaveOpen(r, 'deadline', now);
      if (r.round.state !== 'open') return { status: 'not-open', state: r.round.state };
      const t = u.ticket === undefined ? undefined : this.tickets.get(u.ticket);
      if (u.ticket !== undefined) {
        if (!t) return { status: 'ticket', problem: 'unknown' };
        if (t.roundId !== u.roundId) return { status: 'ticket', problem: 'foreign' };
        if (t.updateId !== null) return { status: 'ticket', problem: 'used' };
        if (t.expiresAt <= now) return { status: 'ticket', problem: 'expired' };
      }
      if (u.valuesDigest !== undefined && r.values.has(u.valuesDigest))
        return { status: 'same-values' };
      addUpdate(u, r.sums!, r.offsets);
      const receipt = ++r.round.reports;
      r.updates.set(u.updateId, {
        updateId: u.updateId,
        digest: u.digest,
        receipt,
        ticket: u.ticket ?? null,
      });
      if (u.valuesDigest !== undefined) r.values.add(u.valuesDigest);
      if (t) t.updateId = u.updateId;
      return { status: 'accepted', receipt };
    });
  }

  async issueTickets(batch: readonly TicketInput[], now: number): Promise<TicketOutcome[]> {
    return batch.map((t): TicketOutcome => {
      const r = this.rounds.get(t.roundId);
      if (!r) return { status: 'not-found' };
      if (r.round.state === 'open' && now >= r.round.deadline) this.leaveOpen(r, 'deadline', now);
      if (r.round.state !== 'open') return { status: 'not-open', state: r.round.state };
      const key = `${t.roundId} ${t.network}`;
      const issued = this.perNetwork.get(key) ?? 0;
      if (issued >= t.perNetwork) return { status: 'limit', issued };
      this.perNetwork.set(key, issued + 1);
      this.tickets.set(t.hash, {
        roundId: t.roundId,
        network: t.network,
        expiresAt: t.expiresAt,
        updateId: null,
      });
      return { status: 'issued' };
    });
  }

  /** open → closing (enough reports) or failed (too few: the sum goes); networks forgotten. */
  private leaveOpen(r: MemRound, reason: CloseReason, now: number): void {
    if (r.round.state !== 'open') return;
    r.round.closeReason = reason;
    if (r.round.reports >= r.round.minReports) {
      r.round.state = 'closing';
      r.round.closingAt = now;
    } else {
      r.round.state = 'failed';
      r.round.closedAt = now;
      r.sums = null;
    }
    for (const t of this.tickets.values()) if (t.roundId === r.round.id) t.network = null;
    for (const k of this.perNetwork.keys())
      if (k.startsWith(`${r.round.id} `)) this.perNetwork.delete(k);
  }

  private must(id: number): MemRound {
    const r = this.rounds.get(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    return r;
  }

  async beginClosing(
    id: number,
    reason: Exclude<CloseReason, 'min-reports'>,
    now: number,
  ): Promise<Round> {
    const r = this.must(id);
    this.leaveOpen(r, reason, now);
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
        this.leaveOpen(r, 'deadline', now);
        out.push({ ...r.round });
      }
    return out;
  }

  async sums(id: number): Promise<{ reports: number; sums: Float64Array } | undefined> {
    const r = this.rounds.get(id);
    return r?.sums ? { reports: r.round.reports, sums: Float64Array.from(r.sums) } : undefined;
  }

  async updates(id: number): Promise<CountedUpdate[]> {
    const r = this.rounds.get(id);
    return r
      ? [...r.updates.values()]
          .map(({ updateId, digest, receipt }) => ({ updateId, digest, receipt }))
          .sort((a, b) => a.receipt - b.receipt)
      : [];
  }

  async close(): Promise<void> {}
}
