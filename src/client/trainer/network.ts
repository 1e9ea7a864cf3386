/**
 * What the trainer asks the server and hears of the outbox: the open round
 * (`GET /v1/rounds/current`, src/server/rounds.ts `publicRound`), checked before anything uses
 * it, and which queued updates the server took (so "Your data" can say a delta was sent).
 */
import { LocalrecError } from '../../core/errors.ts';
import { toHex } from '../../core/blob.ts';
import type { RoundSlice } from './api.ts';

/** The open round as the trainer uses it. */
export interface OpenRound {
  id: number;
  baseModelVersion: string;
  slices: RoundSlice[];
  clipNorm: number;
  /** ISO time after which the round takes no more updates. */
  deadline: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads `GET /v1/rounds/current`'s answer.
 * @throws LocalrecError `bad-format` naming the first field that is not what a round has.
 */
export function parseRound(v: unknown): OpenRound {
  const bad = (m: string) => new LocalrecError('bad-format', `the current round: ${m}`);
  if (!isObject(v)) throw bad('not an object');
  const { id, baseModelVersion, slices, clipNorm, deadline, state } = v;
  if (!Number.isSafeInteger(id) || (id as number) < 1) throw bad('id is not a round id');
  if (state !== undefined && state !== 'open') throw bad(`it is ${String(state)}, not open`);
  if (typeof baseModelVersion !== 'string' || baseModelVersion === '')
    throw bad('baseModelVersion is not a model version');
  if (!(typeof clipNorm === 'number' && Number.isFinite(clipNorm) && clipNorm > 0))
    throw bad('clipNorm is not a number > 0');
  if (typeof deadline !== 'string' || Number.isNaN(Date.parse(deadline)))
    throw bad('deadline is not a time');
  if (!Array.isArray(slices) || slices.length === 0) throw bad('slices is not a list');
  const checked = slices.map((s, i) => {
    if (
      !isObject(s) ||
      typeof s['name'] !== 'string' ||
      !Array.isArray(s['shape']) ||
      !s['shape'].every((d) => Number.isSafeInteger(d) && (d as number) > 0)
    )
      throw bad(`slices[${i}] is not { name, shape }`);
    return { name: s['name'], shape: [...(s['shape'] as number[])] };
  });
  return { id: id as number, baseModelVersion, slices: checked, clipNorm, deadline };
}

/**
 * The open round, or null when none is (404) or the server runs without federated rounds.
 * @throws LocalrecError `not-found` when the server cannot be reached, `internal` for another
 *   answer, `bad-format` for a round this code cannot read.
 */
export async function fetchOpenRound(
  server: string,
  fetchFn: typeof fetch,
): Promise<OpenRound | null> {
  let res: Response;
  try {
    res = await fetchFn(`${server}/v1/rounds/current`, {
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new LocalrecError(
      'not-found',
      `cannot ask ${server} for the open round: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  // 404: no round open now; 503 (not-loaded): the server takes no federated updates at all.
  if (res.status === 404 || res.status === 503) {
    await res.body?.cancel().catch(() => undefined);
    return null;
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new LocalrecError('internal', `the open round: the server answered HTTP ${res.status}`);
  }
  return parseRound(await res.json());
}

const UPDATES_PATH = /\/v1\/rounds\/[1-9][0-9]{0,9}\/updates$/;

/** The update id of an encoded delta (bytes 12..28, src/core/delta.ts), or null. */
export function updateIdOf(body: unknown): string | null {
  const bytes =
    body instanceof Uint8Array ? body : body instanceof ArrayBuffer ? new Uint8Array(body) : null;
  if (!bytes || bytes.length < 28) return null;
  return toHex(bytes.subarray(12, 28));
}

/**
 * A `fetch` that tells `onPosted` the update id of every delta post the server took (2xx), and
 * otherwise is `inner`. The outbox posts through it; what it posts is not changed.
 */
export function watchPosts(
  inner: typeof fetch,
  onPosted: (updateId: string) => void,
): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await inner(input, init);
    const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
    if (res.ok && init?.method === 'POST' && UPDATES_PATH.test(new URL(url).pathname)) {
      const id = updateIdOf(init.body);
      if (id) {
        try {
          onPosted(id);
        } catch {
          // Noting it is for "Your data"; the post itself succeeded.
        }
      }
    }
    return res;
  }) as typeof fetch;
}
