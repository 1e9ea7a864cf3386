/**
 * The contributions "Your data" lists: the memory's records of the deltas this device computed
 * and queued (src/client/memory, store `contributions`), as the SDK shows them, with whether the
 * server took each one.
 */
import type { Memory } from '../memory/memory-api.ts';
import type { ContributionRecord } from '../memory/records.ts';
import type { Contribution } from '../api.ts';

/** A record as the SDK shows it. */
export function toContribution(r: ContributionRecord, queued: ReadonlySet<string>): Contribution {
  return {
    updateId: r.id,
    roundId: r.roundId,
    baseModelVersion: r.baseModelVersion,
    createdAt: r.createdAt,
    sentAt: r.sentAt,
    status: r.sentAt !== null ? 'sent' : queued.has(r.id) ? 'waiting' : 'not-sent',
    bytes: r.bytes,
    normBeforeClip: r.normBeforeClip,
    clipNorm: r.clipNorm,
    clipped: r.normBeforeClip > r.clipNorm,
    device: r.device,
    steps: r.steps,
    items: r.items,
    trainMs: r.trainMs,
  };
}

/** Every contribution recorded in `memory`, newest first (none without a memory). */
export async function listContributions(memory: Memory | undefined): Promise<Contribution[]> {
  if (!memory) return [];
  const [records, queued] = await Promise.all([memory.contributions.list(), memory.outbox.list()]);
  const ids = new Set(queued.map((r) => r.id));
  return records.map((r) => toContribution(r, ids)).reverse();
}
