/**
 * One interaction as read from an event file. `timestamp` is seconds or ms; only order matters,
 * except to context features (hour, weekday, gap: src/core/context.ts), which read clock times.
 */
export interface Interaction {
  user: string;
  item: string;
  timestamp: number;
  /** Optional event type (view, click, purchase, rating, ...). */
  type?: string;
}

/** Item metadata used for rendering, prompts and (later) two-tower item features. */
export interface ItemInfo {
  id: string;
  title: string;
  categories: string[];
  url?: string;
  image?: string;
  /** Interactions with the item in the training data: the "popular" source of the funnel. */
  popularity?: number;
  /** When the item appeared (its first interaction's timestamp, in the data's unit): the "fresh" source. */
  addedAt?: number;
}

/** What every reader returns. `items` may be empty when the source has no metadata. */
export interface Dataset {
  name: string;
  events: Interaction[];
  items: ItemInfo[];
}

/**
 * A leave-one-out split over internal item indices. Index 0 is padding; real items are
 * 1..numItems. `itemIds[i]` is the external id of internal index i (itemIds[0] = '').
 */
export interface SplitData {
  numItems: number;
  itemIds: string[];
  users: UserSplit[];
}

export interface UserSplit {
  user: string;
  /** Training items in time order (for users with < 3 events, their whole sequence). */
  train: Int32Array;
  /**
   * Optional, parallel to `train`: the length of the run of equal timestamps each position
   * starts (0 inside a run). MovieLens rates many items in the same second, and their order
   * inside that second is only file order; training may shuffle within runs.
   */
  trainTies?: Uint16Array;
  /**
   * Optional (`leaveOneOut` with `keepTimes`): the timestamp of every event of the sequence in
   * time order — train, then valid, then test — in the data's unit.
   */
  times?: Float64Array;
  /** Optional, parallel to `times`: each event's type ('' = none); only when the data has types. */
  types?: string[];
  /** Second-last item, or 0 when the user is train-only. */
  valid: number;
  /** Last item, or 0 when the user is train-only. */
  test: number;
}

/** Ranking quality at cutoff 10, as BENCHMARKS.md defines it. */
export interface RankMetrics {
  hr10: number;
  ndcg10: number;
  /** Number of users evaluated. */
  users: number;
}

export interface SplitMetrics {
  full: RankMetrics;
  s100: RankMetrics;
}
