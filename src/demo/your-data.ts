/**
 * The "Your data" view: everything the recommender keeps about the visitor on this device — the
 * events, the profile, the consent, counts and how much storage the site uses — and every model
 * update this browser sent for federated learning, read from `exportMemory()`, `status()` and
 * `contributions()`, with Export (a JSON download of exactly that snapshot) and
 * Forget (after a confirmation). Pure DOM building from data, all text through textContent
 * (dom.ts); main.ts fetches the data and runs the actions.
 */
import { emptyProfile, profileToJson } from '../client/memory/profile.ts';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from '../client/memory/snapshot.ts';
import type {
  Consent,
  Contribution,
  FederatedStatus,
  MemorySnapshot,
  Recommender,
  RecommenderStatus,
} from '../client/api.ts';
import { isLocalrecError } from '../core/errors.ts';
import { describe, type Catalog } from './catalog.ts';
import { h } from './dom.ts';

/** What the view shows. */
export interface YourData {
  snapshot: MemorySnapshot;
  status: RecommenderStatus;
  /** `navigator.storage.estimate()` where the browser has it. */
  storage?: { usage?: number; quota?: number };
  catalog: Catalog;
  /** The model updates this browser computed, newest first (`contributions()`). */
  contributions?: Contribution[];
}

/** Events listed in the table, newest first; the counts above it cover all of them. */
export const EVENTS_SHOWN = 100;

/** What there is to show when nothing is stored (after `forget()`, or without IndexedDB). */
export function emptySnapshot(consent: Consent): MemorySnapshot {
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    exportedAt: Date.now(),
    events: [],
    sessions: [],
    profile: profileToJson(emptyProfile()),
    consent,
    settings: [],
  };
}

/**
 * The visitor's memory as `exportMemory()` gives it, or an empty one where nothing is stored:
 * after `forget()` the SDK keeps no database until consent is given again (`not-loaded`).
 */
export async function readMemory(
  recs: Pick<Recommender, 'exportMemory' | 'getConsent'>,
): Promise<MemorySnapshot> {
  try {
    return await recs.exportMemory();
  } catch (e) {
    if (!isLocalrecError(e) || e.code !== 'not-loaded') throw e;
    return emptySnapshot(await recs.getConsent());
  }
}

/** Bytes in kB/MB/GB with at most one decimal. */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  const [unit, div] = n < 1e6 ? ['kB', 1e3] : n < 1e9 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(n / div).toFixed(n / div < 10 ? 1 : 0)} ${unit}`;
}

const when = (ms: number | null | undefined): string =>
  ms ? new Date(ms).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }) : 'never';

function row(term: string, value: string, id?: string): HTMLElement {
  return h('div', {}, [h('dt', { text: term }), h('dd', { text: value, attrs: id ? { id } : {} })]);
}

/** Counts by event type, most frequent first: "like 5 · view 12". */
export function countByType(events: readonly { type: string }[]): string {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([t, n]) => `${t} ${n}`)
    .join(' · ');
}

/** The summary list: what is stored, in numbers. */
export function summaryRows(d: YourData): HTMLElement[] {
  const { snapshot: s, status, storage } = d;
  const compacted = s.profile.counts.compactedEvents;
  const categories = Object.keys(s.profile.categories).length;
  const rows = [
    row(
      'Events',
      `${s.events.length}${s.events.length ? ` (${countByType(s.events)})` : ''}${compacted ? `, plus ${compacted} older ones folded into the profile` : ''}`,
      'data-events-count',
    ),
    row('Sessions', String(s.sessions.length)),
    row(
      'Profile',
      [
        s.profile.vector
          ? `an interest vector of ${s.profile.vector.length} numbers`
          : 'no interest vector yet',
        `${categories} categor${categories === 1 ? 'y' : 'ies'} summarised`,
        `${s.profile.disliked.length} hidden item${s.profile.disliked.length === 1 ? '' : 's'}`,
      ].join(', '),
    ),
    row(
      'Consent',
      `personalization ${s.consent.personalization ? 'on' : 'off'}, federated learning ${s.consent.federated ? 'on' : 'off'} (set ${when(s.consent.updatedAt)})`,
      'data-consent',
    ),
    row(
      'Model',
      `${status.modelVersion}${status.manifestVersion !== null ? ` (publication ${status.manifestVersion})` : ''}, ${status.items.toLocaleString('en-US')} items, from the ${status.source === 'cache' ? 'copy saved on this device' : 'server'}`,
      'data-model',
    ),
  ];
  if (storage?.usage !== undefined)
    rows.push(
      row(
        'Storage used by this site',
        `${formatBytes(storage.usage)}${storage.quota ? ` of ${formatBytes(storage.quota)} allowed` : ''} (history, model and app files)`,
        'data-storage',
      ),
    );
  return rows;
}

/** The events table's rows: time, type, item, where — newest first, at most {@link EVENTS_SHOWN}. */
export function eventRows(snapshot: MemorySnapshot, catalog: Catalog): HTMLElement[] {
  return [...snapshot.events]
    .sort((a, b) => b.timestamp - a.timestamp)
    .slice(0, EVENTS_SHOWN)
    .map((e) => {
      const where = e.context
        ? Object.entries(e.context)
            .map(([k, v]) => `${k}: ${String(v)}`)
            .join(', ')
        : '';
      const detail =
        e.type === 'rating'
          ? ` (${e.value}★)`
          : e.type === 'view' && e.dwellMs
            ? ` (${(e.dwellMs / 1000).toFixed(1)} s)`
            : '';
      return h('tr', {}, [
        h('td', { text: when(e.timestamp) }),
        h('td', { text: `${e.type}${detail}` }),
        h('td', { text: describe(catalog, e.itemId).title, title: e.itemId }),
        h('td', { class: 'muted', text: where }),
      ]);
    });
}

/** What the federated trainer does now, in one line for the visitor. */
export function trainerLine(f: FederatedStatus): string {
  const now =
    f.state === 'training'
      ? 'Fine-tuning the model on this device now'
      : f.state === 'scheduled'
        ? 'Will fine-tune the model on this device once the page is idle'
        : f.state === 'waiting'
          ? 'Not training now'
          : 'Off';
  return `${now}: ${f.reason}.`;
}

/** The privacy the server accounted for the rounds the model in use learned from, in one line. */
export function privacyLine(p: FederatedStatus['privacy']): string {
  if (!p) return 'The model in use has not learned from a federated round yet.';
  const through = p.round !== null ? ` (through round ${p.round})` : '';
  if (p.epsilon === null)
    return `The federated rounds this model learned from${through} ran without differential-privacy noise: no privacy guarantee is stated for them.`;
  return `The federated rounds this model learned from${through} spend ε = ${p.epsilon.toPrecision(3)} at δ = ${p.delta} in total, as the server accounts them: the differential-privacy guarantee for everyone who took part in them.`;
}

const STATUS_TEXT: Record<Contribution['status'], string> = {
  sent: 'sent',
  waiting: 'waiting to be sent',
  'not-sent': 'not sent (withdrawn or refused)',
};

/**
 * The model updates' rows: when, round, size, norm before clipping (and whether clipping
 * shrank it), status — newest first.
 */
export function contributionRows(list: readonly Contribution[]): HTMLElement[] {
  return list.map((c) =>
    h('tr', {}, [
      h('td', { text: when(c.sentAt ?? c.createdAt) }),
      h('td', { text: String(c.roundId), title: `model ${c.baseModelVersion}` }),
      h('td', { text: formatBytes(c.bytes) }),
      h('td', {
        text: `${c.normBeforeClip.toPrecision(3)}${c.clipped ? ` (clipped to ${c.clipNorm})` : ''}`,
        title: `${c.steps} step${c.steps === 1 ? '' : 's'} on ${c.device}, ${c.items} items of your history, ${c.trainMs} ms`,
      }),
      h('td', { text: STATUS_TEXT[c.status] }),
    ]),
  );
}

/**
 * `exportMemory()`'s snapshot as a downloadable JSON file named after the day, with the model
 * updates this browser sent beside it when there are any (`contributions`, which importMemory()
 * ignores: they are a record of what left the device, not memory to restore).
 */
export function snapshotFile(
  snapshot: MemorySnapshot,
  contributions: readonly Contribution[] = [],
): { name: string; blob: Blob } {
  const day = new Date(snapshot.exportedAt).toISOString().slice(0, 10);
  return {
    name: `localrec-my-data-${day}.json`,
    blob: new Blob(
      [
        `${JSON.stringify(contributions.length ? { ...snapshot, contributions } : snapshot, null, 2)}\n`,
      ],
      { type: 'application/json' },
    ),
  };
}

/** Starts a browser download of `blob`. */
export function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { attrs: { href: url, download: name } });
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
