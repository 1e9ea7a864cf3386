/**
 * The smaller records of the memory — sessions, the model/shard cache index, the federated
 * outbox and the record of contributions, settings and consent — and the checks they pass when written (strict) and when read
 * back (a failing record is skipped and reported). Pure, so it is tested in Node.
 */

/** Where a cached blob's bytes live: Cache Storage, or the IndexedDB fallback (`blobs`). */
export type CacheLocation = 'cache-storage' | 'idb';

/** One entry of the model/shard cache index, keyed by the blob's sha256. */
export interface CacheEntry {
  /** Lowercase hex sha256 of the bytes (the blob's content address). */
  sha256: string;
  /** What the blob is, e.g. `'encoder'`, `'shard'`, `'metadata'`, `'manifest'`. */
  kind: string;
  /** Size in bytes. */
  bytes: number;
  /** When it was stored (ms). */
  storedAt: number;
  /** When it was last used (ms); eviction takes the least recently used first. */
  lastUsed: number;
  where: CacheLocation;
}

/** A pending federated delta post. `id` is the update id the server deduplicates by. */
export interface OutboxRecord {
  id: string;
  roundId: string;
  /** The encoded delta (src/core/delta.ts), exactly as it will be posted. */
  bytes: Uint8Array;
  createdAt: number;
  /** Failed or unconfirmed post attempts so far. */
  attempts: number;
  /** When the last attempt was made (ms), or null before the first. */
  lastAttemptAt: number | null;
  /**
   * The round ticket the server issued for this update (`POST /v1/rounds/{id}/tickets`), kept
   * so that every retry presents the same one; absent or null until one is fetched.
   */
  ticket?: string | null;
}

/**
 * A federated delta this device computed and queued: what "Your data" lists. It holds facts
 * about the delta, never the delta or the history it came from. `id` is the update id.
 */
export interface ContributionRecord {
  id: string;
  /** The round it was computed for (the server's round id). */
  roundId: number;
  /** The model version it was fine-tuned from (the round's base). */
  baseModelVersion: string;
  /** When it was computed and queued (ms). */
  createdAt: number;
  /** When the server took it (ms), or null while it waits or if it was never sent. */
  sentAt: number | null;
  /** Size of the encoded delta, as posted. */
  bytes: number;
  /** L2 norm of the fine-tuning change before it was clipped. */
  normBeforeClip: number;
  /** The round's clip bound. */
  clipNorm: number;
  /** Where it was computed: `'webgpu'` or `'wasm'`. */
  device: string;
  /** Local optimizer steps taken. */
  steps: number;
  /** Items of the visitor's history it trained on (known to the model). */
  items: number;
  /** Fine-tuning time in ms. */
  trainMs: number;
}

/** What the visitor agreed to. Both default to false: nothing is on until the page says so. */
export interface Consent {
  /** Personalized recommendations from on-device history. */
  personalization: boolean;
  /** Contributing clipped, noised model deltas to federated learning. */
  federated: boolean;
  /** When the consent was last set (ms), or null if never. */
  updatedAt: number | null;
}

/** A value settings may hold: what JSON can carry (so it survives export and import). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** One settings record; `consent` lives under {@link CONSENT_KEY}. */
export interface SettingRecord {
  key: string;
  value: JsonValue;
  updatedAt: number;
}

/** The settings key reserved for the consent flags. */
export const CONSENT_KEY = 'consent';

export const DEFAULT_CONSENT: Consent = {
  personalization: false,
  federated: false,
  updatedAt: null,
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 512;

/** True for a lowercase hex sha256 (64 characters). */
export const isSha256 = (v: unknown): v is string =>
  typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

export function sessionProblem(v: unknown): string | null {
  if (!isObject(v)) return 'not an object';
  if (!isId(v.id)) return 'id is not a non-empty string';
  if (!isTime(v.startedAt)) return 'startedAt is not a timestamp';
  if (!isTime(v.lastEventAt) || v.lastEventAt < v.startedAt)
    return 'lastEventAt is not a timestamp at or after startedAt';
  if (!isCount(v.events)) return 'events is not a count';
  return null;
}

export function cacheEntryProblem(v: unknown): string | null {
  if (!isObject(v)) return 'not an object';
  if (!isSha256(v.sha256)) return `sha256 must be 64 lowercase hex characters`;
  if (!isId(v.kind)) return 'kind is not a non-empty string';
  if (!isCount(v.bytes)) return 'bytes is not a byte count';
  if (!isTime(v.storedAt)) return 'storedAt is not a timestamp';
  if (!isTime(v.lastUsed)) return 'lastUsed is not a timestamp';
  if (v.where !== 'cache-storage' && v.where !== 'idb')
    return `where must be 'cache-storage' or 'idb', got ${JSON.stringify(v.where)}`;
  return null;
}

export function outboxProblem(v: unknown): string | null {
  if (!isObject(v)) return 'not an object';
  if (!isId(v.id)) return 'id is not a non-empty string';
  if (!isId(v.roundId)) return 'roundId is not a non-empty string';
  if (!(v.bytes instanceof Uint8Array)) return 'bytes is not a Uint8Array';
  if (!isTime(v.createdAt)) return 'createdAt is not a timestamp';
  if (!isCount(v.attempts)) return 'attempts is not a count';
  if (v.lastAttemptAt !== null && !isTime(v.lastAttemptAt))
    return 'lastAttemptAt is not a timestamp (or null)';
  if (v.ticket !== undefined && v.ticket !== null && !isTicket(v.ticket))
    return 'ticket is not a round ticket (43 base64url characters, or null)';
  return null;
}

const isTicket = (v: unknown): v is string =>
  typeof v === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v);

const isFinitePositive = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v > 0;

export function contributionProblem(v: unknown): string | null {
  if (!isObject(v)) return 'not an object';
  if (typeof v.id !== 'string' || !/^[0-9a-f]{32}$/.test(v.id))
    return 'id is not an update id (32 lowercase hex characters)';
  if (!Number.isSafeInteger(v.roundId) || (v.roundId as number) < 1)
    return 'roundId is not a round id (an integer ≥ 1)';
  if (!isId(v.baseModelVersion)) return 'baseModelVersion is not a non-empty string';
  if (!isTime(v.createdAt)) return 'createdAt is not a timestamp';
  if (v.sentAt !== null && !isTime(v.sentAt)) return 'sentAt is not a timestamp (or null)';
  if (!isCount(v.bytes) || v.bytes === 0) return 'bytes is not a byte count';
  if (
    !(typeof v.normBeforeClip === 'number' && Number.isFinite(v.normBeforeClip)) ||
    v.normBeforeClip < 0
  )
    return 'normBeforeClip is not a finite number ≥ 0';
  if (!isFinitePositive(v.clipNorm)) return 'clipNorm is not a finite number > 0';
  if (!isId(v.device)) return 'device is not a non-empty string';
  if (!isCount(v.steps)) return 'steps is not a count';
  if (!isCount(v.items)) return 'items is not a count';
  if (!isTime(v.trainMs)) return 'trainMs is not a duration ≥ 0';
  return null;
}

export function consentProblem(v: unknown): string | null {
  if (!isObject(v)) return 'not an object';
  if (typeof v.personalization !== 'boolean') return 'personalization is not a boolean';
  if (typeof v.federated !== 'boolean') return 'federated is not a boolean';
  if (v.updatedAt !== null && v.updatedAt !== undefined && !isTime(v.updatedAt))
    return 'updatedAt is not a timestamp (or null)';
  return null;
}

/** The first reason `v` is not plain JSON (finite numbers, no cycles, depth ≤ 32), or null. */
export function jsonProblem(v: unknown, depth = 0): string | null {
  if (depth > 32) return 'is nested too deeply (more than 32 levels)';
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return null;
  if (typeof v === 'number') return Number.isFinite(v) ? null : `has a non-finite number (${v})`;
  if (Array.isArray(v)) {
    for (const x of v) {
      const p = jsonProblem(x, depth + 1);
      if (p) return p;
    }
    return null;
  }
  if (isObject(v) && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) {
      const p = jsonProblem(x, depth + 1);
      if (p) return p;
    }
    return null;
  }
  return `has a value JSON cannot carry (${typeof v})`;
}

export function settingProblem(v: unknown): string | null {
  if (!isObject(v)) return 'not an object';
  if (!isId(v.key)) return 'key is not a non-empty string';
  if (!isTime(v.updatedAt)) return 'updatedAt is not a timestamp';
  if (v.key === CONSENT_KEY) {
    const p = consentProblem(v.value);
    return p ? `consent ${p}` : null;
  }
  const p = jsonProblem(v.value);
  return p ? `value ${p}` : null;
}
