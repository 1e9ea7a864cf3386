/**
 * The visitor's side of a recommender: their memory (IndexedDB, memory/), consent, and the
 * in-memory mirror the funnel reads on every call (the latest events and the profile), so a
 * recommendation never waits for IndexedDB.
 *
 * The mirror is kept current by this object's own writes: events it tracks are added as they
 * commit, and profile changes (the long-term vector, bandit posteriors) are applied to the
 * mirror at once and written behind, in order, through `updateProfile` with the same pure
 * change — so mirror and store cannot drift. Compaction (inside memory's own transactions)
 * changes only the profile's categories, disliked items and counters, which are re-read from the
 * store when it happens.
 *
 * Other tabs (and workers) with a recommender over the same memory hear of every change
 * (tab-sync.ts): they reload their mirror from IndexedDB and emit `{ kind: 'sync' }`. A
 * `forget()` anywhere drops every tab's mirror at once — no tab goes on personalizing from a
 * copy in RAM.
 *
 * Consent is enforced here: without `personalization` nothing is stored and the funnel sees no
 * history.
 */
import { deleteDB } from 'idb';
import { LocalrecError } from '../../core/errors.ts';
import { validateTrackEvent, type StoredEvent, type TrackEvent } from '../memory/events.ts';
import { DEFAULT_SESSION_GAP_MS } from '../memory/history.ts';
import { openMemory } from '../memory/memory.ts';
import type { Memory, MemoryChange } from '../memory/memory-api.ts';
import { emptyProfile, type Profile } from '../memory/profile.ts';
import { DEFAULT_CONSENT, type Consent } from '../memory/records.ts';
import type { MemorySnapshot } from '../memory/snapshot.ts';
import type { ConsentFlags, RecommenderChange, RecommenderWarning, TrackResult } from '../api.ts';
import {
  applyBanditCounts,
  countFor,
  isEngagement,
  isInterest,
  replayLongTerm,
  skipsSince,
  stepLongTerm,
  type BanditCounts,
  type ShownList,
} from '../funnel/interest.ts';
import { TabSync } from './tab-sync.ts';

/** How long a profile change found by a read waits before it is stored (unless a write comes first). */
export const DEFER_MS = 1_000;

const MIRRORED: ReadonlySet<MemoryChange['kind']> = new Set([
  'track',
  'profile',
  'consent',
  'import',
  'compact',
]);

/** Events the mirror keeps (the funnel reads at most the last 200 interest items of them). */
export const RECENT_EVENTS = 500;

/** What {@link Visitor} needs. */
export interface VisitorOptions {
  /** IndexedDB database name. */
  name: string;
  now: () => number;
  sessionGapMs?: number;
  /** The current catalog's categories of an item (for compaction and the bandit). */
  categoriesOf: (itemId: string) => readonly string[] | undefined;
  onWarning: (w: RecommenderWarning) => void;
  emit: (c: RecommenderChange) => void;
  /** Global Privacy Control is on: federated consent reads false whatever is stored. */
  globalPrivacyControl?: boolean;
}

/** Item embeddings of the current SASRec model, by id (missing ids are left out). */
export type VectorsOf = (ids: string[]) => Promise<Map<string, Float32Array>>;

type ProfileChange = (p: Profile) => Profile;

export class Visitor {
  memory: Memory | undefined;
  /** Consent as stored (the visitor's choice). */
  private stored: Consent = { ...DEFAULT_CONSENT };
  /** The latest events, oldest first (by timestamp). */
  recent: StoredEvent[] = [];
  profile: Profile = emptyProfile();
  readonly gapMs: number;
  private writes: Promise<void> = Promise.resolve();
  private readonly tabs: TabSync;
  /**
   * Profile changes found due by a read (recommend(): the skips of a list it supersedes, a
   * long-term vector rebuilt for a new model version). They are in the mirror at once, so the
   * read that found them uses them, and are stored on the next write (track(), consent, export,
   * close) or after {@link DEFER_MS}: a read itself never writes the memory.
   */
  private deferred: ProfileChange[] = [];
  private deferTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: VisitorOptions) {
    this.gapMs = o.sessionGapMs ?? DEFAULT_SESSION_GAP_MS;
    this.tabs = new TabSync(o.name, {
      forget: () => {
        const memory = this.memory;
        this.memory = undefined;
        this.dropCopies();
        // Its database is being deleted by the other tab; this connection must not hold it up.
        void memory?.close().catch(() => undefined);
        this.o.emit({ kind: 'forget' });
      },
      changed: () =>
        this.enqueue(async () => {
          if (!this.memory) return;
          await this.reloadWithConsent();
          this.o.emit({ kind: 'sync' });
        }),
    });
  }

  /**
   * The consent in effect: the visitor's choice, except that `federated` is off while Global
   * Privacy Control is on (the stored choice is kept: it applies again if the signal goes).
   */
  get consent(): Consent {
    return this.effective(this.stored);
  }

  private effective(c: Consent): Consent {
    return this.o.globalPrivacyControl && c.federated ? { ...c, federated: false } : c;
  }

  /** Personal data may be used: memory is open and the visitor consented. */
  get personal(): boolean {
    return this.memory !== undefined && this.consent.personalization;
  }

  /**
   * Opens the memory and fills the mirror; `consent` flags given by the page are stored. Where
   * IndexedDB is unavailable the recommender runs without memory (as without consent).
   */
  async open(consent?: Partial<ConsentFlags>): Promise<void> {
    let memory: Memory;
    try {
      memory = await openMemory({
        name: this.o.name,
        now: this.o.now,
        sessionGapMs: this.gapMs,
        categoriesOf: this.o.categoriesOf,
        onWarning: (w) => this.o.onWarning({ code: 'memory', message: w.message }),
      });
    } catch (e) {
      if (e instanceof LocalrecError && e.code === 'device-unavailable') {
        this.o.onWarning({ code: 'memory', message: `${e.message}; nothing will be remembered` });
        return;
      }
      throw e;
    }
    memory.onChange((c) => this.forward(c));
    this.memory = memory;
    this.stored = await memory.settings.getConsent();
    if (consent && Object.keys(consent).length > 0)
      this.stored = await memory.settings.setConsent(consent);
    await this.reload();
  }

  private async reload(): Promise<void> {
    if (!this.memory) return;
    this.recent = await this.memory.recentEvents(RECENT_EVENTS);
    // What is stored, plus what a read found due and is not stored yet.
    this.profile = this.deferred.reduce((p, change) => change(p), await this.memory.getProfile());
  }

  private forward(c: MemoryChange): void {
    // What other tabs mirror: events, profile, consent (not caches or the outbox).
    if (MIRRORED.has(c.kind)) this.tabs.tell('changed');
    if (c.kind === 'track') {
      this.o.emit({ kind: 'track', event: c.event });
      if (c.compacted > 0) this.enqueue(() => this.refreshCompacted());
    } else if (c.kind === 'profile') this.o.emit({ kind: 'profile' });
    else if (c.kind === 'consent')
      this.o.emit({ kind: 'consent', consent: this.effective(c.consent) });
    else if (c.kind === 'import') this.o.emit({ kind: 'import' });
    else if (c.kind === 'compact') this.enqueue(() => this.refreshCompacted());
  }

  /** Compaction changed the stored profile's categories, dislikes and counters: take them over. */
  private async refreshCompacted(): Promise<void> {
    const stored = await this.memory?.getProfile();
    if (!stored) return;
    const { categories, disliked, counts } = stored;
    this.profile = { ...this.profile, categories, disliked, counts };
  }

  private enqueue(f: () => Promise<unknown>): void {
    this.writes = this.writes.then(f).then(
      () => undefined,
      (e: unknown) =>
        this.o.onWarning({
          code: 'memory',
          message: `a profile update was not saved: ${e instanceof Error ? e.message : String(e)}`,
        }),
    );
  }

  /** Applies a profile change to the mirror now and to the stored profile in order. */
  changeProfile(change: ProfileChange): void {
    this.storeDeferred();
    this.profile = change(this.profile);
    const memory = this.memory;
    if (memory) this.enqueue(() => memory.updateProfile(change));
  }

  /** Applies a profile change a read found due to the mirror now; stores it later (see {@link deferred}). */
  deferProfile(change: ProfileChange): void {
    this.profile = change(this.profile);
    this.deferred.push(change);
    this.deferTimer ??= setTimeout(() => this.storeDeferred(), DEFER_MS);
  }

  /** Queues the deferred profile changes for the store, in the order they were found. */
  private storeDeferred(): void {
    const changes = this.deferred;
    this.dropDeferred();
    const memory = this.memory;
    if (memory) for (const change of changes) this.enqueue(() => memory.updateProfile(change));
  }

  /** Drops the deferred profile changes (the memory is going away). */
  private dropDeferred(): void {
    if (this.deferTimer !== undefined) clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    this.deferred = [];
  }

  /** Stores what is deferred and resolves when every queued profile write has finished. */
  async flush(): Promise<void> {
    this.storeDeferred();
    let seen: Promise<void>;
    do {
      seen = this.writes;
      await seen;
    } while (seen !== this.writes);
  }

  /**
   * Stores an event (with consent) and updates the long-term vector and the bandit.
   * @param tag - the model the vector belongs to (profile.vectorModel).
   */
  async track(
    event: TrackEvent,
    tag: string | null,
    vectorsOf: VectorsOf | null,
    categoryOf: (id: string) => string | undefined,
  ): Promise<TrackResult> {
    if (!this.personal) {
      validateTrackEvent(event, this.o.now()); // a wrong event is the page's bug either way
      return { stored: false };
    }
    this.storeDeferred();
    const stored = await this.memory!.track(event);
    const before = this.recent.filter((e) => e.timestamp <= stored.timestamp && isInterest(e));
    let at = this.recent.length;
    while (at > 0 && this.recent[at - 1]!.timestamp > stored.timestamp) at--;
    this.recent.splice(at, 0, stored);
    if (this.recent.length > RECENT_EVENTS)
      this.recent.splice(0, this.recent.length - RECENT_EVENTS);

    const counts: BanditCounts = new Map();
    if (isEngagement(stored)) countFor(counts, categoryOf(stored.itemId), true);
    else if (stored.type === 'dislike') countFor(counts, categoryOf(stored.itemId), false);
    let vector = this.profile.vector;
    let moved = false;
    if (tag && vectorsOf && this.profile.vectorModel !== tag) {
      // Replays the mirror, this event included.
      const rebuilt = await this.longTermChange(tag, vectorsOf);
      if (rebuilt) this.changeProfile(rebuilt);
    } else if (tag && vectorsOf) {
      const x = (await vectorsOf([stored.itemId])).get(stored.itemId);
      const prev = before[before.length - 1];
      if (x) {
        vector = stepLongTerm(vector, x, stored, prev ? stored.timestamp - prev.timestamp : 0);
        moved = vector !== this.profile.vector;
      }
    }
    if (counts.size > 0 || moved)
      this.changeProfile((p) => ({
        ...p,
        ...(moved ? { vector, vectorModel: tag } : {}),
        bandits: applyBanditCounts(p.bandits, counts),
      }));
    return { stored: true, event: stored };
  }

  /**
   * The change that rebuilds the long-term vector from the mirror, when the vector belongs to
   * another model (or none); null when it needs none.
   */
  async longTermChange(tag: string, vectorsOf: VectorsOf): Promise<ProfileChange | null> {
    if (!this.personal || this.profile.vectorModel === tag) return null;
    const ids = [...new Set(this.recent.filter(isInterest).map((e) => e.itemId))];
    const vectors = ids.length ? await vectorsOf(ids) : new Map<string, Float32Array>();
    const vector = replayLongTerm(this.recent, (id) => vectors.get(id));
    return (p) => ({ ...p, vector, vectorModel: tag });
  }

  /**
   * The change that counts the skips of a slot's previous list against its items' categories;
   * null when there are none.
   */
  skipsChange(
    list: ShownList | undefined,
    categoryOf: (id: string) => string | undefined,
  ): ProfileChange | null {
    if (!list || !this.personal) return null;
    const counts: BanditCounts = new Map();
    for (const id of skipsSince(list, this.recent)) countFor(counts, categoryOf(id), false);
    if (counts.size === 0) return null;
    return (p) => ({ ...p, bandits: applyBanditCounts(p.bandits, counts) });
  }

  async setConsent(flags: Partial<ConsentFlags>): Promise<Consent> {
    if (!this.memory) await this.open();
    if (!this.memory)
      throw new LocalrecError(
        'device-unavailable',
        'IndexedDB is unavailable: consent cannot be stored',
      );
    this.stored = await this.memory.settings.setConsent(flags);
    await this.reload();
    return this.consent;
  }

  async exportMemory(): Promise<MemorySnapshot> {
    await this.flush();
    if (!this.memory)
      throw new LocalrecError(
        'not-loaded',
        'nothing is stored about this visitor (forget() was called, or IndexedDB is unavailable)',
      );
    return this.memory.exportMemory();
  }

  async importMemory(snapshot: MemorySnapshot): Promise<void> {
    await this.flush();
    if (!this.memory) await this.open();
    if (!this.memory)
      throw new LocalrecError(
        'device-unavailable',
        'IndexedDB is unavailable: nothing can be imported',
      );
    await this.memory.importMemory(snapshot);
    await this.reloadWithConsent();
  }

  /** Reads consent, the latest events and the profile back from the memory. */
  private async reloadWithConsent(): Promise<void> {
    if (!this.memory) return;
    this.stored = await this.memory.settings.getConsent();
    await this.reload();
  }

  /** Drops every in-memory copy of the visitor's data (consent back to the defaults). */
  private dropCopies(): void {
    this.dropDeferred();
    this.stored = { ...DEFAULT_CONSENT };
    this.recent = [];
    this.profile = emptyProfile();
  }

  /** Deletes the database and every in-memory copy of the visitor's data. */
  async forget(): Promise<void> {
    this.dropDeferred(); // about to be deleted with everything else
    await this.flush();
    const memory = this.memory;
    this.memory = undefined;
    // First, so other tabs let go of the database (and of their copies) before it is deleted.
    this.tabs.tell('forget');
    if (memory) await memory.forget();
    else if (typeof indexedDB !== 'undefined') await deleteDB(this.o.name).catch(() => undefined);
    this.dropCopies();
  }

  async close(): Promise<void> {
    this.tabs.close();
    await this.flush();
    await this.memory?.close();
    this.memory = undefined;
  }
}
