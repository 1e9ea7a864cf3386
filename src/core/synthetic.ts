/**
 * A synthetic catalog and interaction log with known, learnable structure, for tests,
 * demos and benchmarks at sizes no public data set offers (e.g. 1M items).
 *
 * The generative story (why each part exists):
 * - Items are grouped into clusters of about 40 ("series" or themes). Each cluster has an
 *   internal order, and item p's natural follow-up is item p+1 — the Markov structure a
 *   next-item model should pick up and popularity cannot.
 * - Clusters themselves are ordered: finishing or leaving one often leads into the next
 *   (c → c+1), so there is also longer-range sequential structure.
 * - Popularity is skewed twice: clusters have Zipf weights (exponent 1) over a random
 *   order, and early positions in a cluster are more popular (exponent 0.7), like first
 *   episodes of a series.
 * - Users have 1–3 taste clusters drawn by popularity, wander between them, and drift by
 *   occasionally adopting a new one; 5% of steps are popularity noise.
 * - A user never repeats an item, and each user's timestamps strictly increase.
 */
import type { Dataset, Interaction, ItemInfo } from './types.ts';
import { LocalrecError } from './errors.ts';
import { Rng } from './random.ts';
import { ML100K_GENRES } from './readers/index.ts';

/** Genres used when none are given (the MovieLens ones, without "unknown"). */
export const DEFAULT_GENRES: readonly string[] = ML100K_GENRES.filter((g) => g !== 'unknown');

/** Options of {@link generateSyntheticCatalog}. */
export interface SyntheticOptions {
  /** Number of items (≥ 1). */
  items: number;
  /** Number of users (≥ 0). */
  users: number;
  /** Everything is a deterministic function of this seed and the other options. */
  seed: number;
  /** Fewest events per user (default 5; capped at `items`). */
  minEvents?: number;
  /** Most events per user (default 50; capped at `items`). Lengths are log-uniform in between. */
  maxEvents?: number;
  /** Genre names to assign (1–3 per item); default {@link DEFAULT_GENRES}. */
  genres?: readonly string[];
  /** Dataset name (default 'synthetic'). */
  name?: string;
}

/** Mean items per cluster. Long enough chains to learn, short enough to leave many clusters. */
const CLUSTER_SIZE = 40;
/** Transition probabilities of a user's walk (cumulative thresholds below). */
const P_FOLLOW = 0.6; // the next item of the current cluster (sometimes skipping one)
const P_SAME = 0.15; // another popular item of the current cluster
const P_JUMP = 0.2; // move to another cluster (next in order, a taste cluster, or a new taste)
// The remaining 0.05 is popularity noise.

const ADJECTIVES = [
  'Silent',
  'Crimson',
  'Hidden',
  'Broken',
  'Golden',
  'Last',
  'Lost',
  'Midnight',
  'Electric',
  'Frozen',
  'Burning',
  'Quiet',
  'Wild',
  'Distant',
  'Hollow',
  'Secret',
  'Savage',
  'Gentle',
  'Iron',
  'Velvet',
  'Scarlet',
  'Endless',
  'Forgotten',
  'Wandering',
  'Shattered',
  'Bright',
  'Dark',
  'Sacred',
  'Restless',
  'Northern',
  'Southern',
  'Little',
  'Great',
  'Strange',
  'Final',
  'Eternal',
  'Invisible',
  'Lonely',
  'Bitter',
  'Sweet',
  'Rising',
  'Falling',
  'Paper',
  'Glass',
  'Stone',
  'Silver',
  'Blue',
  'Black',
  'White',
  'Red',
];
const NOUNS = [
  'Harbor',
  'Garden',
  'River',
  'Empire',
  'Mirror',
  'Shadow',
  'Kingdom',
  'Horizon',
  'Storm',
  'Island',
  'Forest',
  'Machine',
  'Signal',
  'Winter',
  'Summer',
  'Station',
  'Voyage',
  'Promise',
  'Orchard',
  'Lantern',
  'Frontier',
  'Circus',
  'Citadel',
  'Echo',
  'Tide',
  'Compass',
  'Crown',
  'Desert',
  'Engine',
  'Feather',
  'Bridge',
  'Canyon',
  'Valley',
  'Tower',
  'Letter',
  'Season',
  'Witness',
  'Stranger',
  'Detective',
  'Dancer',
  'Pilot',
  'Soldier',
  'Queen',
  'Thief',
  'Ghost',
  'Hunter',
  'Painter',
  'Doctor',
  'Prophet',
  'Sailor',
];
const PLACES = [
  'the North',
  'the Sea',
  'Tomorrow',
  'the Valley',
  'Paris',
  'Avalon',
  'the Moon',
  'Stars',
  'Glass',
  'Ashes',
  'Dreams',
  'Time',
  'the City',
  'the Dead',
  'Silence',
  'the Deep',
  'Fire',
  'Rain',
  'Thunder',
  'Memory',
];

/**
 * Generates a deterministic synthetic {@link Dataset}: item titles like "The Silent Harbor
 * (1987)" with 1–3 genres, a Zipf-like popularity skew, and per-user sequences with
 * strong next-item structure (see the module comment). Item ids are "1".."items" in a
 * random order relative to the cluster structure; user ids are "1".."users"; events are
 * listed user by user, each user's in time order. About a second per million events.
 */
export function generateSyntheticCatalog(opts: SyntheticOptions): Dataset {
  const N = opts.items;
  const U = opts.users;
  const genres = opts.genres ?? DEFAULT_GENRES;
  const minEvents = Math.min(opts.minEvents ?? 5, N);
  const maxEvents = Math.min(opts.maxEvents ?? 50, N);
  if (!Number.isInteger(N) || N < 1)
    throw new LocalrecError('bad-input', `items must be an integer ≥ 1, got ${N}`);
  if (!Number.isInteger(U) || U < 0)
    throw new LocalrecError('bad-input', `users must be an integer ≥ 0, got ${U}`);
  if (
    !Number.isInteger(minEvents) ||
    minEvents < 1 ||
    !Number.isInteger(maxEvents) ||
    maxEvents < minEvents
  ) {
    throw new LocalrecError(
      'bad-input',
      `need integers 1 ≤ minEvents ≤ maxEvents, got minEvents=${opts.minEvents} maxEvents=${opts.maxEvents}`,
    );
  }
  if (genres.length === 0) throw new LocalrecError('bad-input', 'genres must not be empty');
  const rng = new Rng(opts.seed);

  // Clusters are contiguous slot ranges; slot s holds item index slotItem[s] (0-based).
  const C = Math.max(1, Math.round(N / CLUSTER_SIZE));
  const clusterStart = new Int32Array(C + 1);
  for (let c = 0; c <= C; c++) clusterStart[c] = Math.floor((c * N) / C);
  const slotItem = new Int32Array(N);
  for (let s = 0; s < N; s++) slotItem[s] = s;
  rng.shuffle(slotItem);

  const clusterRank = new Int32Array(C);
  for (let c = 0; c < C; c++) clusterRank[c] = c;
  rng.shuffle(clusterRank);
  const clusterCdf = cdf(C, (c) => 1 / (clusterRank[c]! + 1));
  const maxSize = Math.ceil(N / C);
  const posCdf = cdf(maxSize, (p) => 1 / Math.pow(p + 1, 0.7));
  const size = (c: number): number => clusterStart[c + 1]! - clusterStart[c]!;
  const samplePos = (c: number): number => sampleCdf(posCdf, size(c), rng);

  const items = makeItems(N, C, clusterStart, slotItem, genres, rng);

  // Users walk the clusters. `seenBy[slot] === u + 1` marks items user u already has, so
  // checking for repeats costs no allocation per user.
  const seenBy = new Int32Array(N);
  const events: Interaction[] = [];
  const logRatio = Math.log(maxEvents / minEvents);
  for (let u = 0; u < U; u++) {
    const user = String(u + 1);
    const stamp = u + 1;
    const len = Math.min(maxEvents, Math.round(minEvents * Math.exp(rng.next() * logRatio)));
    const tastes: number[] = [];
    const nTastes = 1 + rng.int(3);
    for (let k = 0; k < nTastes; k++) tastes.push(sampleCdf(clusterCdf, C, rng));
    let c = tastes[0]!;
    let pos = samplePos(c);
    let t = 1_000_000_000 + rng.int(200_000_000);
    for (let e = 0; e < len; e++) {
      let slot = -1;
      if (e === 0) slot = clusterStart[c]! + pos;
      for (let attempt = 0; attempt < 6 && (slot < 0 || seenBy[slot] === stamp); attempt++) {
        const r = rng.next();
        if (r < P_FOLLOW) {
          pos += rng.next() < 0.85 ? 1 : 2;
          if (pos >= size(c)) {
            // The series is over: continue with the next cluster in order, at its start.
            c = (c + 1) % C;
            pos = 0;
          }
          slot = clusterStart[c]! + pos;
        } else if (r < P_FOLLOW + P_SAME) {
          pos = samplePos(c);
          slot = clusterStart[c]! + pos;
        } else if (r < P_FOLLOW + P_SAME + P_JUMP) {
          const j = rng.next();
          if (j < 0.35) c = (c + 1) % C;
          else if (j < 0.9) c = tastes[rng.int(tastes.length)]!;
          else {
            // Taste drift: adopt a new cluster in place of an old one.
            c = sampleCdf(clusterCdf, C, rng);
            tastes[rng.int(tastes.length)] = c;
          }
          pos = samplePos(c);
          slot = clusterStart[c]! + pos;
        } else {
          // Popularity noise: a one-off that leaves the walk where it was.
          const nc = sampleCdf(clusterCdf, C, rng);
          slot = clusterStart[nc]! + sampleCdf(posCdf, size(nc), rng);
        }
      }
      if (seenBy[slot] === stamp) {
        // Crowded neighbourhood (small catalogs): take the next unseen slot. One exists
        // because len ≤ N.
        while (seenBy[slot] === stamp) slot = (slot + 1) % N;
      }
      seenBy[slot] = stamp;
      t += 60 + rng.int(3 * 86_400);
      events.push({ user, item: String(slotItem[slot]! + 1), timestamp: t });
    }
  }
  return { name: opts.name ?? 'synthetic', events, items };
}

/** Titles and genres; genres follow the cluster so content features carry signal too. */
function makeItems(
  N: number,
  C: number,
  clusterStart: Int32Array,
  slotItem: Int32Array,
  genres: readonly string[],
  rng: Rng,
): ItemInfo[] {
  // Genre frequencies are skewed too (a few genres dominate, as in real catalogs).
  const genreCdf = cdf(genres.length, (g) => 1 / (g + 1));
  const items = new Array<ItemInfo>(N);
  for (let c = 0; c < C; c++) {
    const primary = genres[sampleCdf(genreCdf, genres.length, rng)]!;
    const secondary = [genres[rng.int(genres.length)]!, genres[rng.int(genres.length)]!];
    const theme = NOUNS[rng.int(NOUNS.length)]!;
    const baseYear = 1950 + rng.int(70);
    for (let s = clusterStart[c]!; s < clusterStart[c + 1]!; s++) {
      const categories = [primary];
      if (rng.next() < 0.5) categories.push(secondary[rng.int(2)]!);
      if (rng.next() < 0.2) categories.push(genres[rng.int(genres.length)]!);
      const idx = slotItem[s]!;
      const year = baseYear + Math.floor((s - clusterStart[c]!) / 8);
      items[idx] = {
        id: String(idx + 1),
        title: `${makeTitle(rng, rng.next() < 0.5 ? theme : NOUNS[rng.int(NOUNS.length)]!)} (${year})`,
        categories: [...new Set(categories)],
      };
    }
  }
  return items;
}

function makeTitle(rng: Rng, noun: string): string {
  const adj = ADJECTIVES[rng.int(ADJECTIVES.length)]!;
  switch (rng.int(5)) {
    case 0:
      return `The ${adj} ${noun}`;
    case 1:
      return `${noun} of ${PLACES[rng.int(PLACES.length)]!}`;
    case 2:
      return `${adj} ${noun}`;
    case 3:
      return `The ${noun} and the ${NOUNS[rng.int(NOUNS.length)]!}`;
    default:
      return `The ${adj} ${noun} of ${PLACES[rng.int(PLACES.length)]!}`;
  }
}

/** Cumulative weights w(0..n-1). */
function cdf(n: number, w: (i: number) => number): Float64Array {
  const out = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) out[i] = acc += w(i);
  return out;
}

/** An index in [0, n) drawn with the weights behind the first n entries of `c`. */
function sampleCdf(c: Float64Array, n: number, rng: Rng): number {
  const x = rng.next() * c[n - 1]!;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
