/**
 * Context features of the training data for the two-tower user tower (src/core/context.ts
 * defines the vector). The moment of a prediction is the predicted event's own timestamp: at
 * request time "now" is known, and the event that follows it is what the model is scored on.
 * So the context of predicting event k of a user's time-ordered sequence is
 *   time = times[k],  previous event = event k−1 (its time and type),
 * for training targets (k ≥ 1 of the training part), the validation item (k = train.length)
 * and the test item (k = train.length + 1) alike.
 */
import {
  canonicalEventType,
  clockScale,
  contextVector,
  contextWidth,
  type ContextFeature,
  type ContextSpec,
} from '../../src/core/context.ts';
import { LocalrecError } from '../../src/core/errors.ts';
import type { SplitData } from '../../src/core/types.ts';

/** How {@link contextSpecFor} chooses the features. */
export interface ContextOptions {
  /** Features wanted (default all four); those the data cannot support are left out. */
  features?: ContextFeature[];
  /** Minutes east of UTC that turn the log's instants into local time (default 0). */
  utcOffsetMinutes?: number;
  /** Largest event-type vocabulary (most frequent first; default 16). */
  maxEventTypes?: number;
}

/**
 * The context spec a split supports: time features when its timestamps are clock times
 * ({@link clockScale}), `type` when its events have at least two types. Returns null (no
 * context) when nothing is left, with `notes` saying why features were dropped.
 */
export function contextSpecFor(
  split: SplitData,
  opts: ContextOptions = {},
): { spec: ContextSpec | null; notes: string[] } {
  const wanted = opts.features ?? ['hour', 'weekday', 'gap', 'type'];
  const notes: string[] = [];
  const hasTimes = split.users.every((u) => u.times !== undefined);
  const scale = hasTimes ? clockScale(timesOf(split)) : null;
  const typeCount = new Map<string, number>();
  for (const u of split.users) {
    // Types of training events only: validation and test events are not looked at.
    for (const t of u.types?.slice(0, u.train.length) ?? [])
      if (t !== '') {
        const c = canonicalEventType(t);
        typeCount.set(c, (typeCount.get(c) ?? 0) + 1);
      }
  }
  const eventTypes = [...typeCount.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, opts.maxEventTypes ?? 16)
    .map(([t]) => t);
  const features: ContextFeature[] = [];
  for (const f of wanted) {
    if (f === 'type') {
      if (eventTypes.length >= 2) features.push(f);
      else notes.push('no event type feature: the events have fewer than two types');
    } else if (scale === null) {
      notes.push(`no ${f} feature: the timestamps are not clock times (unix seconds or ms)`);
    } else features.push(f);
  }
  if (features.length === 0) return { spec: null, notes };
  return {
    spec: {
      features,
      eventTypes: features.includes('type') ? eventTypes : [],
      trainingUtcOffsetMinutes: opts.utcOffsetMinutes ?? 0,
    },
    notes,
  };
}

function* timesOf(split: SplitData): Generator<number> {
  for (const u of split.users) yield* u.times ?? [];
}

/**
 * Per user, the context of predicting each event of its sequence: users[u] is
 * (times.length, width), row k = the context of event k (row 0: no previous event).
 */
export interface ContextTable {
  width: number;
  users: Float32Array[];
}

/**
 * The context rows of every event of every user (see the module comment).
 *
 * @throws LocalrecError `bad-input` when the split has no timestamps (leaveOneOut without
 *   `keepTimes`) or the spec needs clock times the data does not have.
 */
export function buildContextTable(spec: ContextSpec, split: SplitData): ContextTable {
  const width = contextWidth(spec);
  if (!split.users.every((u) => u.times !== undefined))
    throw new LocalrecError(
      'bad-input',
      'this two-tower model takes context features, but the split has no timestamps (leaveOneOut with keepTimes)',
    );
  const needsClock = spec.features.some((f) => f !== 'type');
  const scale = clockScale(timesOf(split)) ?? (needsClock ? null : 1);
  if (scale === null)
    throw new LocalrecError(
      'bad-input',
      `the model's context features (${spec.features.join(', ')}) need clock times, but the data's timestamps are not unix seconds or milliseconds`,
    );
  const users = split.users.map((u) => {
    const times = u.times!;
    const rows = new Float32Array(times.length * width);
    for (let k = 0; k < times.length; k++) {
      contextVector(
        spec,
        {
          time: times[k]! * scale,
          utcOffsetMinutes: spec.trainingUtcOffsetMinutes,
          previousTime: k > 0 ? times[k - 1]! * scale : null,
          previousType: k > 0 ? (u.types?.[k - 1] ?? null) : null,
        },
        rows,
        k * width,
      );
    }
    return rows;
  });
  return { width, users };
}

/**
 * The context rows of a stage's targets: (users.length, width), row i = the context of user
 * users[i]'s validation (event train.length) or test (event train.length + 1) item.
 */
export function stageContext(
  table: ContextTable,
  split: SplitData,
  users: number[],
  stage: 'valid' | 'test',
): Float32Array {
  const { width } = table;
  const out = new Float32Array(users.length * width);
  users.forEach((u, i) => {
    const k = split.users[u]!.train.length + (stage === 'valid' ? 0 : 1);
    const rows = table.users[u]!;
    if ((k + 1) * width > rows.length)
      throw new LocalrecError('bad-input', `user ${u} has no ${stage} event to take context from`);
    out.set(rows.subarray(k * width, (k + 1) * width), i * width);
  });
  return out;
}
