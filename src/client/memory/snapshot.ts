/**
 * The export format of the visitor's memory: a versioned, JSON-serialisable snapshot of
 * everything the visitor owns (events, sessions, profile, consent and settings). Caches,
 * blob bytes and the federated outbox are left out: they are derived or in flight, not the
 * visitor's data. {@link parseSnapshot} checks a snapshot completely before anything is
 * written, so a bad one changes nothing.
 *
 * Pure: tested in Node.
 */
import { LocalrecError } from '../../core/errors.ts';
import { readEventRecord, type StoredEvent } from './events.ts';
import type { Session } from './history.ts';
import { profileFromJson, profileProblem, type Profile, type ProfileJson } from './profile.ts';
import {
  CONSENT_KEY,
  consentProblem,
  jsonProblem,
  sessionProblem,
  type Consent,
  type JsonValue,
} from './records.ts';

export const SNAPSHOT_FORMAT = 'localrec-memory';
export const SNAPSHOT_VERSION = 1;

/** What `exportMemory()` returns and `importMemory()` takes; `JSON.stringify` keeps all of it. */
export interface MemorySnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  /** When it was taken (ms). */
  exportedAt: number;
  /** Every stored event, oldest recorded first, without the store's own `seq`. */
  events: Omit<StoredEvent, 'seq'>[];
  sessions: Session[];
  profile: ProfileJson;
  consent: Consent;
  /** Settings other than consent. */
  settings: { key: string; value: JsonValue }[];
}

/** A snapshot after {@link parseSnapshot}: checked and in the memory's own types. */
export interface ParsedSnapshot {
  events: StoredEvent[];
  sessions: Session[];
  profile: Profile;
  consent: Consent;
  settings: { key: string; value: JsonValue }[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const bad = (what: string) =>
  new LocalrecError('bad-format', `importMemory(): ${what}; nothing was changed`);

/**
 * Checks a snapshot completely and converts it.
 *
 * @throws LocalrecError `bad-format` naming the first wrong field (e.g. `events[12].type`);
 *   `unsupported-version` for a snapshot version this code does not know.
 */
export function parseSnapshot(input: unknown): ParsedSnapshot {
  if (!isObject(input) || input.format !== SNAPSHOT_FORMAT)
    throw bad(`not a localrec memory snapshot (format must be '${SNAPSHOT_FORMAT}')`);
  if (input.version !== SNAPSHOT_VERSION)
    throw new LocalrecError(
      'unsupported-version',
      `importMemory(): snapshot version ${String(input.version)} is not supported (this localrec reads version ${SNAPSHOT_VERSION}); nothing was changed`,
    );
  if (!Array.isArray(input.events)) throw bad('events is not an array');
  const events = input.events.map((raw, i) => {
    // The store assigns `seq` anew, so one carried over from elsewhere is dropped, not trusted.
    const r = readEventRecord(isObject(raw) ? { ...raw, seq: undefined } : raw);
    if (typeof r === 'string') throw bad(`events[${i}]: ${r}`);
    return r;
  });
  if (!Array.isArray(input.sessions)) throw bad('sessions is not an array');
  const ids = new Set<string>();
  const sessions = input.sessions.map((s, i) => {
    const p = sessionProblem(s);
    if (p) throw bad(`sessions[${i}]: ${p}`);
    const session = s as Session;
    if (ids.has(session.id)) throw bad(`sessions[${i}]: duplicate id ${session.id}`);
    ids.add(session.id);
    return session;
  });
  if (!isObject(input.profile)) throw bad('profile is not an object');
  const pj = input.profile as unknown as ProfileJson;
  if (pj.vector !== null && !Array.isArray(pj.vector))
    throw bad('profile: vector is not an array of numbers (or null)');
  const profile = profileFromJson(pj);
  const pp = profileProblem(profile);
  if (pp) throw bad(`profile: ${pp}`);
  const cp = consentProblem(input.consent);
  if (cp) throw bad(`consent: ${cp}`);
  const c = input.consent as Consent;
  const consent: Consent = {
    personalization: c.personalization,
    federated: c.federated,
    updatedAt: c.updatedAt ?? null,
  };
  if (!Array.isArray(input.settings)) throw bad('settings is not an array');
  const keys = new Set<string>();
  const settings = input.settings.map((s, i) => {
    if (!isObject(s) || typeof s.key !== 'string' || s.key.length === 0)
      throw bad(`settings[${i}]: key is not a non-empty string`);
    if (s.key === CONSENT_KEY) throw bad(`settings[${i}]: '${CONSENT_KEY}' belongs in consent`);
    if (keys.has(s.key)) throw bad(`settings[${i}]: duplicate key ${s.key}`);
    keys.add(s.key);
    const p = jsonProblem(s.value);
    if (p) throw bad(`settings[${i}].value ${p}`);
    return { key: s.key, value: s.value as JsonValue };
  });
  return { events, sessions, profile, consent, settings };
}
