/**
 * Stated category interests (issue #15, onboarding): what a visitor said they like or would
 * rather avoid, as category → weight in [−1, 1], shown and editable (`interests()`,
 * `setInterests()`). They are kept in the visitor's memory under the settings key
 * {@link INTERESTS_KEY} — so export, import and `forget()` cover them like every other setting —
 * and only with personalization consent, as everything personal: without it nothing is stored
 * and the funnel uses none. The funnel adds them to the category affinities it computes from
 * events ({@link withStated}), so they steer a new visitor's first lists and fade in weight as
 * real history accumulates around them.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { Memory } from '../memory/memory-api.ts';
import type { AskConstraints, CategoryInterests } from './api.ts';

export type { CategoryInterests };

/** The settings key the stated interests are kept under. */
export const INTERESTS_KEY = 'interests';
/** Most categories one visitor may state. */
export const MAX_INTERESTS = 100;
/**
 * How far a stated interest moves a category's affinity, in the units of
 * `tanh(S / AFFINITY_SCALE)` (funnel/interest.ts): a stated 1 alone gives tanh(0.5) ≈ 0.46,
 * about what two views of the category give.
 */
export const STATED_WEIGHT = 0.5;

/**
 * Checks interests set by a page or read back from memory: an object of at most
 * {@link MAX_INTERESTS} non-empty category names, each to a finite number in [−1, 1]; 0
 * entries are dropped.
 *
 * @param known - the catalog's categories: when given, a category outside them is refused.
 * @throws LocalrecError `bad-input` naming what is wrong.
 */
export function checkInterests(value: unknown, known?: readonly string[]): CategoryInterests {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new LocalrecError('bad-input', 'interests are an object of category → number in [-1, 1]');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_INTERESTS)
    throw new LocalrecError(
      'bad-input',
      `at most ${MAX_INTERESTS} interests, got ${entries.length}`,
    );
  const allowed = known ? new Set(known) : undefined;
  const out: [string, number][] = [];
  for (const [c, w] of entries) {
    if (c === '') throw new LocalrecError('bad-input', 'an interest category must not be empty');
    if (allowed && !allowed.has(c))
      throw new LocalrecError(
        'bad-input',
        `interest ${JSON.stringify(c)} is not a category of the catalog`,
      );
    if (typeof w !== 'number' || !Number.isFinite(w) || w < -1 || w > 1)
      throw new LocalrecError(
        'bad-input',
        `interest ${JSON.stringify(c)} must be a number in [-1, 1], got ${JSON.stringify(w)}`,
      );
    if (w !== 0) out.push([c, w]);
  }
  // Object.fromEntries: a category named "__proto__" stays an ordinary key.
  return Object.fromEntries(out);
}

/** Interests from onboarding's constraints: included categories 1, excluded −1. */
export function interestsFrom(c: Pick<AskConstraints, 'include' | 'exclude'>): CategoryInterests {
  return Object.fromEntries([
    ...c.include.map((x) => [x, 1] as const),
    ...c.exclude.map((x) => [x, -1] as const),
  ]);
}

/**
 * Affinities with the stated interests added: `tanh(atanh(a) + STATED_WEIGHT · w)` for each
 * stated category (a = 0 where the events say nothing), so both pull in the same units.
 */
export function withStated(
  affinity: ReadonlyMap<string, number>,
  stated: CategoryInterests,
): Map<string, number> {
  const out = new Map(affinity);
  for (const [c, w] of Object.entries(stated)) {
    const a = Math.max(-0.999, Math.min(0.999, out.get(c) ?? 0));
    out.set(c, Math.tanh(Math.atanh(a) + STATED_WEIGHT * w));
  }
  return out;
}

/** The strongest positive stated interest (0 when none). */
export const strongestStated = (stated: CategoryInterests): number =>
  Math.max(0, ...Object.values(stated));

/**
 * The visitor's stated interests, mirrored in memory so recommend() reads them without
 * IndexedDB; reloaded after a change elsewhere (another tab, import, forget, consent).
 */
export class StatedInterests {
  private value: CategoryInterests = {};

  constructor(
    private readonly o: {
      /** The visitor's memory while personalization is allowed, else undefined. */
      memory: () => Memory | undefined;
      onWarning: (message: string) => void;
    },
  ) {}

  /** What the funnel uses now: {} without consent. */
  get current(): CategoryInterests {
    return this.o.memory() ? this.value : {};
  }

  /** Reads the stored interests again (a corrupt record is dropped and reported). */
  async reload(): Promise<void> {
    const memory = this.o.memory();
    if (!memory) {
      this.value = {};
      return;
    }
    const raw = await memory.settings.get(INTERESTS_KEY);
    try {
      this.value = raw === undefined ? {} : checkInterests(raw);
    } catch (e) {
      this.value = {};
      this.o.onWarning(
        `the stored interests were unreadable and are ignored: ${(e as Error).message}`,
      );
    }
  }

  /**
   * Replaces the interests (an empty object clears them).
   * @returns whether they were stored (false without personalization consent).
   */
  async set(interests: CategoryInterests): Promise<boolean> {
    const memory = this.o.memory();
    if (!memory) return false;
    if (Object.keys(interests).length === 0) await memory.settings.delete(INTERESTS_KEY);
    else await memory.settings.set(INTERESTS_KEY, interests);
    this.value = interests;
    return true;
  }
}
