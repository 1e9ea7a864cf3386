import type { Interaction, SplitData, UserSplit } from './types.ts';
import { IdMap } from './id-map.ts';

/** Options of {@link leaveOneOut}. */
export interface LeaveOneOutOptions {
  /**
   * Catalog items that may have no events (e.g. from an item file). They get indices after
   * every item seen in the events, so models can still score them.
   */
  extraItems?: string[];
  /**
   * Also keep each user's event timestamps (and types, when the events have any) in time
   * order: `UserSplit.times` / `types`, for models with time-of-request features.
   */
  keepTimes?: boolean;
}

/**
 * The leave-one-out split of BENCHMARKS.md.
 *
 * - Item indices are 1..N in order of first appearance in `events` (file order, not time
 *   order), then `extraItems` not yet seen; 0 is padding.
 * - Users appear in order of first appearance. Each user's events are stably sorted by
 *   timestamp, so ties keep file order.
 * - Last event = test, second-last = valid, the rest = train. Users with fewer than three
 *   events are train-only (`valid = test = 0`, `train` = the whole sequence).
 * - Repeated interactions with the same item are kept: the protocol treats every rating
 *   as an interaction.
 */
export function leaveOneOut(events: Interaction[], opts: LeaveOneOutOptions = {}): SplitData {
  const items = new IdMap();
  const userIndex = new Map<string, number>();
  const userNames: string[] = [];
  // Per-user lists of event positions; positions are already in file order.
  const perUser: number[][] = [];
  const itemOf = new Int32Array(events.length);
  for (let e = 0; e < events.length; e++) {
    const ev = events[e]!;
    itemOf[e] = items.add(ev.item);
    let u = userIndex.get(ev.user);
    if (u === undefined) {
      u = userNames.length;
      userIndex.set(ev.user, u);
      userNames.push(ev.user);
      perUser.push([]);
    }
    perUser[u]!.push(e);
  }
  for (const id of opts.extraItems ?? []) items.add(id);
  const hasTypes = opts.keepTimes === true && events.some((e) => e.type !== undefined);

  const users: UserSplit[] = new Array<UserSplit>(userNames.length);
  for (let u = 0; u < userNames.length; u++) {
    const pos = perUser[u]!;
    // Array.prototype.sort is stable (ES2019), and positions start in file order, so equal
    // timestamps keep file order. Skip the sort when already ordered (the common case).
    if (!isSortedByTime(events, pos))
      pos.sort((a, b) => events[a]!.timestamp - events[b]!.timestamp);
    const seq = Int32Array.from(pos, (e) => itemOf[e]!);
    const n = seq.length;
    const trainLen = n < 3 ? n : n - 2;
    users[u] =
      n < 3
        ? { user: userNames[u]!, train: seq, valid: 0, test: 0 }
        : {
            user: userNames[u]!,
            train: seq.slice(0, n - 2),
            valid: seq[n - 2]!,
            test: seq[n - 1]!,
          };
    const ties = tieRuns(events, pos, trainLen);
    if (ties) users[u]!.trainTies = ties;
    if (opts.keepTimes) {
      users[u]!.times = Float64Array.from(pos, (e) => events[e]!.timestamp);
      if (hasTypes) users[u]!.types = pos.map((e) => events[e]!.type ?? '');
    }
  }
  return { numItems: items.size, itemIds: items.ids, users };
}

/**
 * Runs of equal timestamps among the first `len` positions: out[i] = run length when a run of
 * two or more starts at i, else 0. Undefined when there is no such run (saves the array).
 */
function tieRuns(events: Interaction[], pos: number[], len: number): Uint16Array | undefined {
  let out: Uint16Array | undefined;
  for (let i = 0; i < len;) {
    let j = i + 1;
    const t = events[pos[i]!]!.timestamp;
    while (j < len && events[pos[j]!]!.timestamp === t) j++;
    if (j - i > 1) {
      out ??= new Uint16Array(len);
      out[i] = Math.min(j - i, 0xffff);
    }
    i = j;
  }
  return out;
}

function isSortedByTime(events: Interaction[], pos: number[]): boolean {
  for (let i = 1; i < pos.length; i++) {
    if (events[pos[i]!]!.timestamp < events[pos[i - 1]!]!.timestamp) return false;
  }
  return true;
}

/**
 * The model input for a stage: `train` for validation, `train + valid` for test.
 * Returns `train` itself (not a copy) for the valid stage and for train-only users.
 */
export function stageInput(user: UserSplit, stage: 'valid' | 'test'): Int32Array {
  if (stage === 'valid' || user.valid === 0) return user.train;
  const out = new Int32Array(user.train.length + 1);
  out.set(user.train);
  out[user.train.length] = user.valid;
  return out;
}

/** The held-out target for a stage (0 when the user is train-only). */
export function stageTarget(user: UserSplit, stage: 'valid' | 'test'): number {
  return stage === 'valid' ? user.valid : user.test;
}
