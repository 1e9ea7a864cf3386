/**
 * Getting a model version from the server into the page, trusting nothing on the way
 * (ARCHITECTURE.md, data flow step 3):
 *
 * - the manifest is fetched (with `If-None-Match` against the cached copy) and its Ed25519
 *   signature verified against the pinned public key; when the server cannot be reached, the
 *   cached manifest is used after verifying it again — a fully offline start;
 * - every blob is read from the cache or downloaded, and its size and sha256 checked before
 *   anything uses it. A blob that fails is discarded and fetched once more, bypassing the HTTP
 *   cache (which may hold the bad copy); failing twice is a clear `integrity` error.
 */
import { readExactly, shortHash, verifyBlob, type BlobRef } from '../../core/blob.ts';
import { LocalrecError, isLocalrecError } from '../../core/errors.ts';
import { verifyManifest, type VerifiedManifest } from '../../core/manifest.ts';
import type { BlobCache } from './cache.ts';
import { planFromManifest, type LoadPlan } from './plan.ts';
import type { RecommenderWarning } from '../api.ts';

/** What {@link Loader} needs. */
export interface LoaderOptions {
  /** Absolute server base URL without a trailing slash. */
  server: string;
  publicKey: string;
  fetch: typeof fetch;
  cache: BlobCache;
  onWarning: (w: RecommenderWarning) => void;
}

/** A manifest the loader verified, with where it came from. */
export interface LoadedManifest {
  verified: VerifiedManifest;
  plan: LoadPlan;
  /** `network`: the server answered (200, or 304 for the cached copy); `cache`: it could not be reached. */
  source: 'network' | 'cache';
  /** The bytes and ETag as served, for {@link Loader.commit}; absent when the cached copy was used. */
  served?: { bytes: Uint8Array; etag: string | null };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A server base URL made absolute (relative to the page) and without a trailing slash. */
export function serverBase(server: string): string {
  if (typeof server !== 'string' || server === '')
    throw new LocalrecError('bad-input', 'server must be the URL of a localrec server');
  const here = (globalThis as { location?: { href: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(server, here);
  } catch {
    throw new LocalrecError('bad-input', `server '${server}' is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new LocalrecError('bad-input', `server '${server}' must be an http(s) URL`);
  return url.href.replace(/\/+$/, '');
}

export class Loader {
  /** Cache writes still in flight (blobs are used at once and cached in the background). */
  private readonly writes = new Set<Promise<void>>();

  constructor(private readonly o: LoaderOptions) {}

  /** Resolves when every cache write started so far has finished. */
  async flush(): Promise<void> {
    while (this.writes.size > 0) await Promise.all([...this.writes]);
  }

  /**
   * The current manifest, verified. A newly served one is not cached until {@link commit}.
   *
   * @throws LocalrecError `integrity` when no copy verifies; `not-found` when the server cannot
   *   be reached and nothing is cached; `bad-format`/`unsupported-version` for a manifest this
   *   code cannot read.
   */
  async manifest(): Promise<LoadedManifest> {
    const cached = await this.o.cache.getManifest().catch(() => undefined);
    let res: Response | undefined;
    let failure = '';
    try {
      const headers: Record<string, string> = {};
      if (cached?.etag) headers['if-none-match'] = cached.etag;
      // Our own revalidation (If-None-Match on the verified copy), so the HTTP cache stays out.
      res = await this.o.fetch(`${this.o.server}/v1/manifest`, { headers, cache: 'no-store' });
    } catch (e) {
      failure = message(e);
    }
    if (res?.status === 304 && cached) {
      return { ...(await this.verifyCached(cached.bytes)), source: 'network' };
    }
    if (res?.ok) {
      const bytes = new Uint8Array(await res.arrayBuffer());
      let verified: VerifiedManifest;
      try {
        verified = await verifyManifest(bytes, this.o.publicKey);
      } catch (e) {
        if (!cached) throw e;
        this.o.onWarning({
          code: 'integrity',
          message: `the server's manifest was rejected (${message(e)}); using the verified copy cached earlier`,
        });
        return { ...(await this.verifyCached(cached.bytes)), source: 'cache' };
      }
      return {
        verified,
        plan: planFromManifest(verified.manifest),
        source: 'network',
        served: { bytes, etag: res.headers.get('etag') },
      };
    }
    if (res) failure = `HTTP ${res.status}${await errorText(res)}`;
    if (!cached)
      throw new LocalrecError(
        'not-found',
        `cannot get the model's manifest from ${this.o.server} (${failure}) and none is cached for an offline start`,
      );
    return { ...(await this.verifyCached(cached.bytes)), source: 'cache' };
  }

  /**
   * The cached manifest, verified, without asking the server (undefined when none verifies):
   * a warm start reads the blobs it names while the server is asked whether it changed.
   */
  async cachedManifest(): Promise<LoadedManifest | undefined> {
    const cached = await this.o.cache.getManifest().catch(() => undefined);
    if (!cached) return undefined;
    try {
      const verified = await verifyManifest(cached.bytes, this.o.publicKey);
      return { verified, plan: planFromManifest(verified.manifest), source: 'cache' };
    } catch {
      return undefined; // manifest() reports and deletes it
    }
  }

  /**
   * Keeps a manifest for offline starts — called once the blobs it needs first are verified, so
   * the cached manifest never names a version the cache cannot start.
   */
  async commit(lm: LoadedManifest): Promise<void> {
    if (lm.served) await this.o.cache.putManifest(lm.served.bytes, lm.served.etag);
  }

  private async verifyCached(bytes: Uint8Array): Promise<Omit<LoadedManifest, 'source'>> {
    try {
      const verified = await verifyManifest(bytes, this.o.publicKey);
      return { verified, plan: planFromManifest(verified.manifest) };
    } catch (e) {
      await this.o.cache.deleteManifest();
      throw isLocalrecError(e)
        ? new LocalrecError(e.code, `the cached manifest was rejected and deleted: ${e.message}`, {
            cause: e,
          })
        : e;
    }
  }

  /**
   * A blob's verified bytes, from the cache or the server (then cached).
   *
   * @param onBytes - new verified-or-arriving bytes (negative when a bad download is discarded).
   * @param kind - what the blob is, in messages (and in the cache index unless `cacheKind` is given).
   * @param protect - blobs the cache must not evict to make room (the versions in use).
   * @param cacheKind - the kind the cache index records (e.g. `llm` for every LLM file).
   * @throws LocalrecError `integrity` after a second bad copy; `not-found` when it is neither
   *   cached nor downloadable.
   */
  async blob(
    ref: BlobRef,
    kind: string,
    onBytes: (n: number, fromCache: boolean) => void = () => {},
    protect: ReadonlySet<string> = new Set(),
    cacheKind = kind,
  ): Promise<Uint8Array> {
    const what = `${kind} ${shortHash(ref.sha256)}`;
    const cached = await this.o.cache.get(ref.sha256);
    if (cached) {
      try {
        await verifyBlob(ref, cached, kind);
        onBytes(cached.byteLength, true);
        return cached;
      } catch (e) {
        this.o.onWarning({
          code: 'integrity',
          message: `the cached ${what} failed its check (${message(e)}); discarded, downloading it again`,
        });
        await this.o.cache.delete(ref.sha256);
      }
    }
    for (let attempt = 0; ; attempt++) {
      let received = 0;
      try {
        const bytes = await this.download(ref, kind, attempt > 0, (n) => {
          received += n;
          onBytes(n, false);
        });
        await verifyBlob(ref, bytes, kind);
        const write = this.o.cache.put(ref.sha256, bytes, cacheKind, protect);
        this.writes.add(write);
        void write.finally(() => this.writes.delete(write));
        return bytes;
      } catch (e) {
        if (!isLocalrecError(e) || e.code !== 'integrity') throw e;
        onBytes(-received, false);
        if (attempt > 0)
          throw new LocalrecError(
            'integrity',
            `${what} failed its check twice (${e.message}); the server or a proxy is serving corrupt data`,
            { cause: e },
          );
        this.o.onWarning({
          code: 'integrity',
          message: `the downloaded ${what} failed its check (${e.message}); discarded, downloading it once more`,
        });
      }
    }
  }

  private async download(
    ref: BlobRef,
    kind: string,
    bypassHttpCache: boolean,
    onChunk: (n: number) => void,
  ): Promise<Uint8Array> {
    let res: Response;
    try {
      res = await this.o.fetch(`${this.o.server}/v1/blobs/${ref.sha256}`, {
        cache: bypassHttpCache ? 'reload' : 'default',
      });
    } catch (e) {
      throw new LocalrecError(
        'not-found',
        `${kind} ${shortHash(ref.sha256)} is not cached and could not be downloaded from ${this.o.server}: ${message(e)}`,
        { cause: e },
      );
    }
    if (!res.ok)
      throw new LocalrecError(
        res.status === 404 ? 'not-found' : 'internal',
        `${kind} ${shortHash(ref.sha256)}: the server answered HTTP ${res.status}${await errorText(res)}`,
      );
    if (res.body) return readExactly(res.body, ref, (n) => onChunk(n), kind);
    const all = new Uint8Array(await res.arrayBuffer());
    onChunk(all.byteLength);
    return all;
  }
}

/** The server's JSON error message, if it sent one. */
async function errorText(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { message?: unknown } };
    return typeof body.error?.message === 'string' ? `: ${body.error.message}` : '';
  } catch {
    return '';
  }
}
