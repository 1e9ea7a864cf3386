/**
 * The visitor's memory in real Chromium IndexedDB: round trips and reloads, history and
 * sessions, compaction, the quota path (simulated through the `beforeCommit` hook), corrupt
 * records, export/forget/import, the v1 → v2 → v3 migrations, the contributions store and
 * change events. Every test uses its
 * own database and deletes it afterwards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { deleteDB, openDB, type IDBPDatabase } from 'idb';
import { isLocalrecError } from '../../src/core/errors.ts';
import { openMemory } from '../../src/client/memory/memory.ts';
import type {
  Memory,
  MemoryChange,
  MemoryChangeKind,
  MemoryWarning,
  OpenMemoryOptions,
} from '../../src/client/memory/memory-api.ts';
import type { EventType, StoredEvent, TrackEvent } from '../../src/client/memory/events.ts';
import { emptyProfile } from '../../src/client/memory/profile.ts';
import { MAX_CONTRIBUTIONS } from '../../src/client/memory/memory-api.ts';
import { MEMORY_DB_VERSION, upgradeMemory, type MemoryDB } from '../../src/client/memory/schema.ts';
import type { MemorySnapshot } from '../../src/client/memory/snapshot.ts';

const MIN = 60_000;
const T0 = 1_700_000_000_000;
const SHA = 'ab'.repeat(32);
const SHA2 = 'cd'.repeat(32);

const names = new Set<string>();
let counter = 0;
const uniqueName = () => {
  const name = `memory-test-${Date.now()}-${++counter}`;
  names.add(name);
  return name;
};

afterEach(async () => {
  // Memories still open close themselves when their database is deleted (versionchange).
  for (const name of names) await deleteDB(name);
  names.clear();
});

interface Setup {
  memory: Memory;
  name: string;
  warnings: MemoryWarning[];
  changes: MemoryChange[];
  clock: { t: number };
}

async function setup(options: OpenMemoryOptions = {}): Promise<Setup> {
  const name = options.name ?? uniqueName();
  const warnings: MemoryWarning[] = [];
  const changes: MemoryChange[] = [];
  const clock = { t: T0 };
  const memory = await openMemory({
    now: () => clock.t,
    onWarning: (w) => warnings.push(w),
    ...options,
    name,
  });
  memory.onChange((c) => changes.push(c));
  return { memory, name, warnings, changes, clock };
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return {
      code: isLocalrecError(e) ? e.code : `not a LocalrecError (${String(e)})`,
      message: String(e),
    };
  }
  throw new Error('expected a rejection');
}

const withoutSeq = (events: StoredEvent[]) => events.map(({ seq: _seq, ...e }) => e);
const kinds = (changes: MemoryChange[]) => changes.map((c) => c.kind);
const quotaError = () => new DOMException('simulated: quota exceeded', 'QuotaExceededError');

describe('memory (IndexedDB)', () => {
  it('round-trips events, rejects bad ones, and survives closing and reopening (a reload)', async () => {
    const { memory, name, clock, changes } = await setup();
    await memory.track({
      type: 'view',
      itemId: 'm1',
      dwellMs: 1500,
      visibility: 0.75,
      context: { slot: 'home', position: 2 },
    });
    clock.t += 1000;
    await memory.track({ type: 'click', itemId: 'm1' });
    await memory.track({ type: 'rating', itemId: 'm2', value: 4.5, timestamp: clock.t + 5 });
    const bad = [
      { type: 'hover', itemId: 'm1' },
      { type: 'click' },
      { type: 'view', itemId: 'm1', dwellMs: NaN },
      { type: 'rating', itemId: 'm1', value: 7 },
    ] as unknown as TrackEvent[];
    for (const e of bad) expect((await rejection(memory.track(e))).code).toBe('bad-input');

    const stored = await memory.recentEvents(10);
    expect(withoutSeq(stored)).toEqual([
      {
        type: 'view',
        itemId: 'm1',
        timestamp: T0,
        sessionId: stored[0]!.sessionId,
        dwellMs: 1500,
        visibility: 0.75,
        context: { slot: 'home', position: 2 },
      },
      { type: 'click', itemId: 'm1', timestamp: T0 + 1000, sessionId: stored[0]!.sessionId },
      {
        type: 'rating',
        itemId: 'm2',
        value: 4.5,
        timestamp: T0 + 1005,
        sessionId: stored[0]!.sessionId,
      },
    ]);
    expect(kinds(changes)).toEqual(['track', 'track', 'track']);
    expect((await memory.recentEvents(1)).map((e) => e.itemId)).toEqual(['m2']);

    await memory.close();
    expect((await rejection(memory.recentEvents(1))).code).toBe('not-loaded');
    const reloaded = await openMemory({ name });
    expect(await reloaded.recentEvents(10)).toEqual(stored);
    expect(await reloaded.history()).toEqual(['m1', 'm2']);
    expect((await reloaded.stats()).events).toBe(3);
    await reloaded.close();
  });

  it('history: by timestamp, dislikes left out, repeats in a row collapsed, latest `limit`', async () => {
    const { memory } = await setup();
    const at = (itemId: string, timestamp: number, type: EventType = 'view') =>
      memory.track({ type, itemId, timestamp } as TrackEvent);
    // Tracked out of time order on purpose (a late-reported view).
    await at('a', T0 + 100);
    await at('b', T0 + 300);
    await at('a', T0 + 200, 'click');
    await at('c', T0 + 350, 'dislike');
    await at('b', T0 + 400, 'add-to-cart');
    await at('d', T0 + 500);
    expect(await memory.history()).toEqual(['a', 'b', 'd']);
    expect(await memory.history({ limit: 2 })).toEqual(['b', 'd']);
    expect((await memory.recentEvents(3)).map((e) => e.itemId)).toEqual(['c', 'b', 'd']);
    expect((await memory.eventsForItem('a')).map((e) => e.type)).toEqual(['view', 'click']);
    expect((await rejection(memory.history({ limit: -1 }))).code).toBe('bad-input');
  });

  it('splits sessions after 30 minutes of inactivity (injected clock), and the gap is configurable', async () => {
    const { memory, clock } = await setup();
    await memory.track({ type: 'view', itemId: 'a' });
    clock.t += 10 * MIN;
    await memory.track({ type: 'view', itemId: 'b' });
    clock.t += 31 * MIN;
    await memory.track({ type: 'view', itemId: 'c' });
    const [second, first] = await memory.sessions.list();
    expect(first).toMatchObject({ startedAt: T0, lastEventAt: T0 + 10 * MIN, events: 2 });
    expect(second).toMatchObject({ startedAt: T0 + 41 * MIN, events: 1 });
    expect((await memory.sessions.events(first!.id)).map((e) => e.itemId)).toEqual(['a', 'b']);
    expect((await memory.sessions.current())?.id).toBe(second!.id);
    clock.t += 31 * MIN;
    expect(await memory.sessions.current()).toBeUndefined();

    const short = await setup({ sessionGapMs: 1000 });
    await short.memory.track({ type: 'click', itemId: 'a' });
    short.clock.t += 1000;
    await short.memory.track({ type: 'click', itemId: 'b' });
    short.clock.t += 1001;
    await short.memory.track({ type: 'click', itemId: 'c' });
    expect((await short.memory.sessions.list()).map((s) => s.events)).toEqual([1, 2]);
  });

  it('compacts the oldest events into the profile when over maxEvents, keeping counts and affinities', async () => {
    const categories: Record<string, string[]> = {};
    const { memory, clock, changes } = await setup({
      maxEvents: 10,
      categoriesOf: (id) => categories[id],
    });
    const types: EventType[] = ['view', 'click', 'like', 'purchase', 'add-to-cart'];
    const tracked: { type: EventType; itemId: string }[] = [];
    for (let i = 0; i < 25; i++) {
      const itemId = i === 0 ? 'hated' : `i${i}`;
      categories[itemId] = i % 2 ? ['drama'] : ['comedy', 'drama'];
      const type = i === 0 ? 'dislike' : types[i % types.length]!;
      tracked.push({ type, itemId });
      await memory.track({ type, itemId } as TrackEvent);
      clock.t += i % 5 === 4 ? 31 * MIN : MIN; // five sessions of five events
    }
    const stats = await memory.stats();
    const remaining = await memory.recentEvents(Infinity);
    const profile = await memory.getProfile();
    expect(stats.events).toBeLessThanOrEqual(10);
    expect(stats.events + stats.compactedEvents).toBe(25);
    expect(profile.counts.compactedEvents).toBe(stats.compactedEvents);
    // Compacted + still raw = everything tracked, per type and per category.
    const count = (
      list: { type: EventType; itemId: string }[],
      pred: (e: { type: EventType; itemId: string }) => boolean,
    ) => list.filter(pred).length;
    for (const t of ['dislike', ...types] as EventType[])
      expect(
        (profile.counts.compactedByType[t] ?? 0) + count(remaining, (e) => e.type === t),
        t,
      ).toBe(count(tracked, (e) => e.type === t));
    for (const cat of ['comedy', 'drama']) {
      const inCat = (e: { itemId: string }) => categories[e.itemId]!.includes(cat);
      const kept = Object.values(profile.categories[cat]?.byType ?? {}).reduce((a, b) => a + b, 0);
      expect(kept + count(remaining, inCat), cat).toBe(count(tracked, inCat));
    }
    expect(profile.disliked).toEqual(['hated']);
    expect(stats.sessions + profile.counts.compactedSessions).toBe(5);
    expect(profile.counts.compactedSessions).toBeGreaterThan(0);
    // Compaction happened inside tracks: one change per track, carrying what it folded.
    expect(kinds(changes)).toEqual(Array(25).fill('track'));
    const folded = changes.reduce((s, c) => s + (c.kind === 'track' ? c.compacted : 0), 0);
    expect(folded).toBe(stats.compactedEvents);
  });

  it('a quota error compacts the oldest events and retries once; then fails as quota with nothing lost', async () => {
    const fail: Partial<Record<MemoryChangeKind, number>> = {};
    const { memory, changes, warnings } = await setup({
      beforeCommit: (kind) => {
        if ((fail[kind] ?? 0) > 0) {
          fail[kind]!--;
          throw quotaError();
        }
      },
    });
    for (let i = 0; i < 8; i++) await memory.track({ type: 'view', itemId: `i${i}` });
    changes.length = 0;

    // The first attempt fails, a quarter (2 of 8) is folded into the profile, the retry succeeds.
    fail.track = 1;
    await memory.track({ type: 'click', itemId: 'ok' });
    expect(await memory.stats()).toMatchObject({ events: 7, compactedEvents: 2 });
    expect(kinds(changes)).toEqual(['compact', 'track']);
    expect(warnings.map((w) => w.code)).toEqual(['compacted-for-quota']);

    // Both attempts fail: a quota error, the compaction is kept (folded, not lost), no track.
    fail.track = 2;
    const err = await rejection(memory.track({ type: 'click', itemId: 'lost' }));
    expect(err.code).toBe('quota');
    expect(err.message).toMatch(
      /even after folding the 2 oldest events.*everything stored before is kept/,
    );
    expect(await memory.stats()).toMatchObject({ events: 5, compactedEvents: 4 });
    expect(kinds(changes)).toEqual(['compact', 'track', 'compact']);
    expect((await memory.recentEvents(10)).map((e) => e.itemId)).not.toContain('lost');

    // The compaction itself fails too: nothing changes at all.
    fail.track = 1;
    fail.compact = 1;
    expect((await rejection(memory.track({ type: 'click', itemId: 'lost' }))).code).toBe('quota');
    const profile = await memory.getProfile();
    expect(await memory.stats()).toMatchObject({ events: 5, compactedEvents: 4 });
    expect(profile.counts.compactedByType).toEqual({ view: 4 });
    expect(changes).toHaveLength(3);

    // Blob bytes (the likeliest culprit) take the same path and leave no half-written entry.
    fail.blob = 2;
    const blobErr = await rejection(memory.blobs.put(SHA, new Uint8Array(8), { kind: 'shard' }));
    expect(blobErr.code).toBe('quota');
    expect(await memory.cache.list()).toEqual([]);
    expect(await memory.blobs.get(SHA)).toBeUndefined();
  });

  it('skips corrupt records (written by a buggy version or by hand) and reports each once', async () => {
    const { memory, name, warnings, clock } = await setup();
    await memory.track({ type: 'view', itemId: 'a' });
    await memory.track({ type: 'view', itemId: 'b' });
    await memory.updateProfile((p) => {
      p.bandits.drama = { alpha: 2, beta: 3 };
    });
    const raw = (await openDB(name)) as unknown as IDBPDatabase;
    await raw.add('events', { type: 'bogus', itemId: 'x', timestamp: clock.t + 1, sessionId: 's' });
    await raw.add('events', { type: 'view', itemId: 'y', timestamp: clock.t + 2 });
    await raw.put('sessions', {
      id: 'broken',
      startedAt: clock.t,
      lastEventAt: clock.t + 9,
      events: -1,
    });
    const profile = await raw.get('profile', 'me');
    profile.categories = {
      bad: { byType: { view: 'many' } },
      good: { byType: { view: 1 }, ratingSum: 0, dwellMs: 0, lastAt: 1 },
    };
    await raw.put('profile', profile, 'me');
    await raw.put('cache', { sha256: SHA, kind: 'shard', bytes: -5 });
    await raw.put('settings', { key: 'theme', value: new Date(0), updatedAt: 1 });
    raw.close();

    for (let i = 0; i < 2; i++)
      expect((await memory.recentEvents(10)).map((e) => e.itemId)).toEqual(['a', 'b']);
    expect(await memory.history()).toEqual(['a', 'b']);
    const p = await memory.getProfile();
    expect(p.bandits).toEqual({ drama: { alpha: 2, beta: 3 } });
    expect(Object.keys(p.categories)).toEqual(['good']);
    expect(await memory.cache.get(SHA)).toBeUndefined();
    expect(await memory.settings.get('theme')).toBeUndefined();
    // Tracking goes on past the corrupt latest session, in the last valid one.
    const e = await memory.track({ type: 'click', itemId: 'c' });
    expect(e.sessionId).toBe((await memory.eventsForItem('a'))[0]!.sessionId);
    expect(e.sessionId).not.toBe('broken');
    const snapshot = await memory.exportMemory();
    expect(snapshot.events.map((x) => x.itemId)).toEqual(['a', 'b', 'c']);

    expect(warnings.every((w) => w.code === 'corrupt-record')).toBe(true);
    expect(warnings.map((w) => w.store).sort()).toEqual([
      'cache',
      'events',
      'events',
      'profile',
      'sessions',
      'settings',
    ]);
    expect(warnings.find((w) => w.store === 'profile')?.message).toMatch(/categories\["bad"\]/);
    expect((await memory.stats()).corruptRecords).toBe(6);
  });

  it('export → forget (nothing left in IndexedDB, other tabs closed) → import restores', async () => {
    const { memory, name, clock, changes } = await setup();
    await memory.track({ type: 'view', itemId: 'a', dwellMs: 300 });
    clock.t += 40 * MIN;
    await memory.track({ type: 'rating', itemId: 'b', value: 2 });
    await memory.track({ type: 'like', itemId: 'b' });
    await memory.settings.setConsent({ personalization: true });
    await memory.settings.set('theme', { dark: true });
    await memory.updateProfile((p) => ({
      ...p,
      vector: new Float32Array([0.25, -1]),
      vectorModel: 'two-tower@3',
      bandits: { drama: { alpha: 3, beta: 1 } },
    }));
    await memory.blobs.put(SHA, new Uint8Array([1, 2, 3]), { kind: 'shard' });
    await memory.outbox.add({ roundId: 'r1', bytes: new Uint8Array([9]) });
    const otherTab: MemoryWarning[] = [];
    const other = await openMemory({ name, onWarning: (w) => otherTab.push(w) });

    const snapshot = await memory.exportMemory();
    const json = JSON.parse(JSON.stringify(snapshot)) as MemorySnapshot;
    expect(json).toEqual(snapshot);
    expect(Object.keys(snapshot).sort()).toEqual([
      'consent',
      'events',
      'exportedAt',
      'format',
      'profile',
      'sessions',
      'settings',
      'version',
    ]);
    expect(snapshot.events).toHaveLength(3);
    expect(snapshot.sessions).toHaveLength(2);
    const events = await memory.recentEvents(10);

    await memory.forget();
    expect((await indexedDB.databases()).map((d) => d.name)).not.toContain(name);
    expect(changes.at(-1)?.kind).toBe('forget');
    expect(otherTab.map((w) => w.code)).toEqual(['closed-elsewhere']);
    expect((await rejection(other.history())).code).toBe('not-loaded');
    expect((await rejection(memory.track({ type: 'view', itemId: 'x' }))).code).toBe('not-loaded');

    const fresh = await openMemory({ name, now: () => clock.t });
    expect(await fresh.stats()).toMatchObject({
      events: 0,
      sessions: 0,
      cacheEntries: 0,
      outbox: 0,
    });
    expect(await fresh.getProfile()).toEqual(emptyProfile());
    await fresh.importMemory(json);
    expect(withoutSeq(await fresh.recentEvents(10))).toEqual(withoutSeq(events));
    const profile = await fresh.getProfile();
    expect(profile.vector).toEqual(new Float32Array([0.25, -1]));
    expect(profile).toMatchObject({
      vectorModel: 'two-tower@3',
      bandits: { drama: { alpha: 3, beta: 1 } },
    });
    expect(await fresh.settings.getConsent()).toEqual(snapshot.consent);
    expect(snapshot.consent.personalization).toBe(true);
    expect(await fresh.settings.get('theme')).toEqual({ dark: true });
    expect(await fresh.sessions.list()).toEqual(json.sessions.slice().reverse());
    // Caches, blobs and the outbox are the device's, not the visitor's: not exported.
    expect(await fresh.cache.list()).toEqual([]);
    expect(await fresh.outbox.list()).toEqual([]);
    await fresh.close();
  });

  it('rejects a bad import and changes nothing, even when the write itself fails', async () => {
    let failImport = false;
    const { memory, changes } = await setup({
      maxEvents: 2,
      beforeCommit: (kind) => {
        if (kind === 'import' && failImport) throw quotaError();
      },
    });
    await memory.track({ type: 'view', itemId: 'a' });
    await memory.settings.setConsent({ federated: true });
    const before = await memory.exportMemory();
    changes.length = 0;
    const again = (itemId: string) => ({ ...before.events[0]!, itemId });
    const good = { ...before, events: [...before.events, again('new'), again('newer')] };
    const bad: [unknown, string, RegExp][] = [
      [
        { ...good, events: [good.events[0], { ...good.events[1], type: 'nope' }] },
        'bad-format',
        /events\[1\]/,
      ],
      [{ ...good, version: 9 }, 'unsupported-version', /version 9/],
      [
        { ...good, profile: { ...good.profile, bandits: { x: { alpha: -1, beta: 1 } } } },
        'bad-format',
        /bandits/,
      ],
      ['not a snapshot', 'bad-format', /not a localrec memory snapshot/],
    ];
    for (const [snapshot, code, message] of bad) {
      const err = await rejection(memory.importMemory(snapshot as MemorySnapshot));
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    }
    failImport = true;
    expect((await rejection(memory.importMemory(good))).code).toBe('quota');
    const after = await memory.exportMemory();
    expect({ ...after, exportedAt: 0 }).toEqual({ ...before, exportedAt: 0 });
    expect(changes).toEqual([]);
    failImport = false;
    // Three events into a memory of two: the oldest is folded into the profile, not dropped.
    await memory.importMemory(good);
    expect((await memory.recentEvents(5)).map((e) => e.itemId)).toEqual(['new', 'newer']);
    expect((await memory.getProfile()).counts.compactedByType).toEqual({ view: 1 });
    expect(kinds(changes)).toEqual(['import']);
  });

  it('migrates a version-1 database filled with data to the current version, keeping everything', async () => {
    const name = uniqueName();
    const v1 = await openDB<MemoryDB>(name, 1, {
      upgrade: (db, oldVersion, _newVersion, tx) => upgradeMemory(db, oldVersion, 1, tx),
    });
    expect(v1.transaction('events').store.indexNames.contains('by-session')).toBe(false);
    const ev = (itemId: string, timestamp: number, sessionId: string): StoredEvent => ({
      type: 'view',
      itemId,
      timestamp,
      sessionId,
    });
    await v1.add('events', ev('a', 1, 's1'));
    await v1.add('events', ev('b', 2, 's1'));
    await v1.add('events', ev('c', 3 + 40 * MIN, 's2'));
    await v1.put('sessions', { id: 's1', startedAt: 1, lastEventAt: 2, events: 2 });
    await v1.put('sessions', {
      id: 's2',
      startedAt: 3 + 40 * MIN,
      lastEventAt: 3 + 40 * MIN,
      events: 1,
    });
    const profile = { ...emptyProfile(), bandits: { drama: { alpha: 4, beta: 2 } }, updatedAt: 9 };
    await v1.put('profile', profile, 'me');
    for (const [sha256, lastUsed] of [
      [SHA, 50],
      [SHA2, 20],
    ] as const)
      await v1.put('cache', {
        sha256,
        kind: 'shard',
        bytes: 10,
        storedAt: 1,
        lastUsed,
        where: 'cache-storage',
      });
    await v1.put('settings', {
      key: 'consent',
      value: { personalization: true, federated: false },
      updatedAt: 7,
    });
    await v1.put('outbox', {
      id: 'u1',
      roundId: 'r1',
      bytes: new Uint8Array([1]),
      createdAt: 5,
      attempts: 1,
      lastAttemptAt: 6,
    });
    v1.close();

    const { memory } = await setup({ name });
    expect((await indexedDB.databases()).find((d) => d.name === name)?.version).toBe(
      MEMORY_DB_VERSION,
    );
    expect((await memory.recentEvents(10)).map((e) => e.itemId)).toEqual(['a', 'b', 'c']);
    // The version-2 indexes cover the records that were already there.
    expect((await memory.sessions.events('s1')).map((e) => e.itemId)).toEqual(['a', 'b']);
    expect((await memory.cache.list()).map((e) => e.sha256)).toEqual([SHA2, SHA]);
    expect(await memory.getProfile()).toEqual(profile);
    expect(await memory.settings.getConsent()).toEqual({
      personalization: true,
      federated: false,
      updatedAt: 7,
    });
    expect((await memory.outbox.list()).map((r) => r.id)).toEqual(['u1']);
    expect((await memory.sessions.list()).map((s) => s.id)).toEqual(['s2', 's1']);
    await memory.close();

    // A database from a newer localrec is refused with a clear code, not opened half-way.
    const newer = uniqueName();
    (await openDB(newer, MEMORY_DB_VERSION + 1)).close();
    expect((await rejection(openMemory({ name: newer }))).code).toBe('unsupported-version');
  });

  it('migrates a version-2 database to version 3 (contributions), keeping everything', async () => {
    const name = uniqueName();
    const v2 = await openDB<MemoryDB>(name, 2, {
      upgrade: (db, oldVersion, _newVersion, tx) => upgradeMemory(db, oldVersion, 2, tx),
    });
    expect(v2.objectStoreNames.contains('contributions')).toBe(false);
    await v2.add('events', { type: 'view', itemId: 'a', timestamp: 1, sessionId: 's1' });
    await v2.put('settings', {
      key: 'consent',
      value: { personalization: true, federated: true },
      updatedAt: 7,
    });
    v2.close();
    const { memory } = await setup({ name });
    expect((await memory.recentEvents(10)).map((e) => e.itemId)).toEqual(['a']);
    expect((await memory.settings.getConsent()).federated).toBe(true);
    expect(await memory.contributions.list()).toEqual([]);
    await memory.close();
  });

  it('contributions: recorded, marked sent, bounded; a corrupt record is skipped, the rest kept', async () => {
    const { memory, name, warnings, changes, clock } = await setup();
    const record = (i: number) => ({
      id: i.toString(16).padStart(32, '0'),
      roundId: 3,
      baseModelVersion: 'v1',
      createdAt: T0 + i,
      bytes: 1000 + i,
      normBeforeClip: 0.7,
      clipNorm: 0.5,
      device: 'wasm',
      steps: 1,
      items: 12,
      trainMs: 40,
    });
    const first = await memory.contributions.add(record(1));
    expect(first.sentAt).toBeNull();
    expect((await rejection(memory.contributions.add(record(1)))).code).toBe('bad-input');
    expect((await rejection(memory.contributions.add({ ...record(2), id: 'x' }))).code).toBe(
      'bad-input',
    );
    expect(
      (await rejection(memory.contributions.add({ ...record(2), normBeforeClip: NaN }))).code,
    ).toBe('bad-input');
    clock.t = T0 + 500;
    expect(await memory.contributions.markSent(first.id)).toMatchObject({ sentAt: T0 + 500 });
    expect(await memory.contributions.markSent('f'.repeat(32))).toBeUndefined();
    await memory.contributions.add(record(2));
    expect(changes.filter((c) => c.kind === 'contribution')).toHaveLength(3);

    // A record edited by hand (or by a buggy version) is skipped and reported; the others stay.
    const raw = await openDB(name);
    await raw.put('contributions', { ...record(9), bytes: 'lots' });
    raw.close();
    const listed = await memory.contributions.list();
    expect(listed.map((r) => r.id)).toEqual([record(1).id, record(2).id]);
    expect(warnings.some((w) => w.code === 'corrupt-record' && w.store === 'contributions')).toBe(
      true,
    );
    expect(await memory.contributions.remove(record(2).id)).toBe(true);
    expect(await memory.contributions.remove(record(2).id)).toBe(false);

    // At most MAX_CONTRIBUTIONS: the oldest go first.
    for (let i = 10; i < 10 + MAX_CONTRIBUTIONS; i++) await memory.contributions.add(record(i));
    const kept = await memory.contributions.list();
    expect(kept).toHaveLength(MAX_CONTRIBUTIONS);
    expect(kept[0]!.id).toBe(record(10).id);
    await memory.close();
  });

  it('change events: once per committed write, none for failed or no-op writes, after commit', async () => {
    const { memory, changes, warnings, clock } = await setup();
    let seenInListener: Promise<string[]> | undefined;
    const off = memory.onChange((c) => {
      if (c.kind === 'track') seenInListener ??= memory.history();
    });
    const e = await memory.track({ type: 'view', itemId: 'a' });
    expect(changes).toEqual([
      {
        kind: 'track',
        stores: ['events', 'sessions', 'profile'],
        event: e,
        session: expect.anything(),
        compacted: 0,
      },
    ]);
    expect(await seenInListener).toEqual(['a']); // the write was committed when the listener ran
    off();

    await memory.updateProfile((p) => void (p.bandits.x = { alpha: 1, beta: 1 }));
    expect(
      (
        await rejection(
          memory.updateProfile(() => {
            throw new Error('boom');
          }),
        )
      ).message,
    ).toMatch(/boom/);
    expect(
      (await rejection(memory.updateProfile((p) => void (p.bandits.x = { alpha: 0, beta: 1 }))))
        .code,
    ).toBe('bad-input');
    expect((await memory.getProfile()).bandits).toEqual({ x: { alpha: 1, beta: 1 } });

    await memory.settings.set('k', [1, 2]);
    expect(await memory.settings.get('k')).toEqual([1, 2]);
    expect(await memory.settings.delete('missing')).toBe(false);
    expect((await rejection(memory.settings.set('consent', true))).code).toBe('bad-input');
    expect(
      (await rejection(memory.settings.setConsent({ federated: 'yes' as unknown as boolean })))
        .code,
    ).toBe('bad-input');

    const queued = await memory.outbox.add({
      id: 'u1',
      roundId: 'r1',
      bytes: new Uint8Array([1, 2]),
    });
    expect(
      (await rejection(memory.outbox.add({ id: 'u1', roundId: 'r1', bytes: new Uint8Array(1) })))
        .code,
    ).toBe('bad-input');
    expect(await memory.outbox.markAttempt('u1')).toEqual({
      ...queued,
      attempts: 1,
      lastAttemptAt: T0,
    });
    expect(await memory.outbox.markAttempt('nope')).toBeUndefined();
    const ticket = 'Tk_-'.repeat(10) + 'abc';
    expect(await memory.outbox.setTicket('u1', ticket)).toMatchObject({ attempts: 1, ticket });
    expect((await memory.outbox.list())[0]!.ticket).toBe(ticket);
    expect((await rejection(memory.outbox.setTicket('u1', 'not a ticket'))).code).toBe('bad-input');
    expect(await memory.outbox.setTicket('u1', null)).toMatchObject({ ticket: null });
    expect(await memory.outbox.setTicket('nope', ticket)).toBeUndefined();
    expect(await memory.outbox.remove('u1')).toBe(true);
    expect(await memory.outbox.remove('u1')).toBe(false);

    await memory.cache.put({
      sha256: SHA,
      kind: 'encoder',
      bytes: 10,
      where: 'cache-storage',
      lastUsed: 5,
    });
    await memory.blobs.put(SHA2, new Uint8Array([7, 8]), { kind: 'shard' });
    expect((await memory.cache.list()).map((c) => c.sha256)).toEqual([SHA, SHA2]);
    clock.t += 1;
    await memory.cache.touch(SHA);
    expect((await memory.cache.list()).map((c) => c.sha256)).toEqual([SHA2, SHA]);
    expect(await memory.blobs.get(SHA2)).toEqual(new Uint8Array([7, 8]));
    expect(await memory.cache.delete(SHA2)).toBe(true);
    expect(await memory.blobs.get(SHA2)).toBeUndefined();
    expect(
      (await rejection(memory.cache.put({ sha256: 'xyz', kind: 'shard', bytes: 1, where: 'idb' })))
        .code,
    ).toBe('bad-input');

    expect(kinds(changes)).toEqual([
      'track',
      'profile',
      'settings',
      'outbox', // add
      'outbox', // markAttempt
      'outbox', // setTicket
      'outbox', // setTicket(null)
      'outbox', // remove
      'cache',
      'blob',
      'cache',
      'cache',
    ]);

    memory.onChange(() => {
      throw new Error('listener bug');
    });
    await memory.track({ type: 'click', itemId: 'a' });
    expect(warnings.map((w) => w.code)).toEqual(['listener-failed']);
    expect(changes.at(-1)?.kind).toBe('track');
  });
});
