import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { LocalrecError } from '../core/errors.ts';
import { parseLlmSection, type LlmSection } from '../core/llm-manifest.ts';
import { manifestBlobs, parseManifest } from '../core/manifest.ts';
import { looksLikePrivateKey } from './store/blob-store.ts';
import type { PublicationStore } from './store/registry.ts';

/** The current manifest as the server holds it, rebuilt only when the stored bytes change. */
export interface ManifestSnapshot {
  /** The stored bytes, served unchanged (the signature is over their canonical form). */
  bytes: Uint8Array;
  /** Strong ETag: the quoted sha256 hex of `bytes`. */
  etag: string;
  modelVersion: string;
  /** Publication number, or null for an unpublished export. */
  version: number | null;
  signed: boolean;
  /** Blobs a client may fetch: those of the current and every stored version, minus key-like ones. */
  servable: ReadonlySet<string>;
  /** The current manifest's on-device LLM (routes/llm.ts serves its files by name), or null. */
  llm: LlmSection | null;
  /** Compressed copies, made on first request (manifests over 1 KB only). */
  encoded: Partial<Record<'br' | 'gzip', Buffer>>;
}

/**
 * Reads the publication store's current manifest and what follows from it. The blob route
 * serves only blobs some stored manifest version lists: a file dropped into the blob folder
 * (an owner's private key, a half-written upload) is never served just because it is there.
 */
export class Published {
  private snap: ManifestSnapshot | undefined;
  private building: Promise<ManifestSnapshot> | undefined;

  constructor(
    readonly store: PublicationStore,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** The current snapshot; `not-loaded` when nothing is published. */
  async current(): Promise<ManifestSnapshot> {
    const bytes = await this.store.manifests.current();
    if (!bytes) {
      throw new LocalrecError(
        'not-loaded',
        'no model has been published yet: run `localrec publish` (or `localrec export`) into this store',
      );
    }
    if (this.snap?.bytes === bytes) return this.snap;
    // One rebuild at a time; concurrent requests wait for it.
    this.building ??= this.build(bytes).finally(() => (this.building = undefined));
    const s = await this.building;
    return s.bytes === bytes ? s : this.current();
  }

  private async build(bytes: Uint8Array): Promise<ManifestSnapshot> {
    let m;
    try {
      m = parseManifest(bytes);
    } catch (e) {
      // The stored manifest is the operator's; a broken one is a server problem, not the client's.
      throw new LocalrecError(
        'internal',
        `the stored manifest is unreadable (${(e as Error).message}); re-run \`localrec publish\``,
        { cause: e },
      );
    }
    const servable = new Set(manifestBlobs(m).map((b) => b.sha256));
    for (const v of await this.store.manifests.listVersions()) {
      const vb = await this.store.manifests.getVersion(v);
      if (!vb) continue;
      try {
        for (const b of manifestBlobs(parseManifest(vb))) servable.add(b.sha256);
      } catch {
        this.log(`manifest version ${v} is unreadable; its blobs are not served`);
      }
    }
    // A private key is small: look at every small listed blob before serving any of them.
    for (const sha of [...servable]) {
      const st = await this.store.blobs.stat(sha);
      if (!st || st.bytes > 8192) continue;
      const b = await this.store.blobs.get(sha);
      if (b && looksLikePrivateKey(b)) {
        servable.delete(sha);
        this.log(`blob ${sha} looks like a private key; refusing to serve it`);
      }
    }
    const snap: ManifestSnapshot = {
      bytes,
      etag: `"${createHash('sha256').update(bytes).digest('hex')}"`,
      modelVersion: m.modelVersion,
      version: m.version ?? null,
      signed: m.signature !== null && m.signature !== undefined,
      servable,
      llm: parseLlmSection(m.llm),
      encoded: {},
    };
    this.snap = snap;
    return snap;
  }
}

/** The encoding to answer with, given `Accept-Encoding` (br preferred, then gzip). */
export function pickEncoding(accept: string | undefined): 'br' | 'gzip' | undefined {
  if (!accept) return undefined;
  const offered = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find(Boolean);
    offered.set(name.trim(), q ? Number(q[1]) : 1);
  }
  const ok = (e: string) => (offered.get(e) ?? offered.get('*') ?? 0) > 0;
  if (ok('br')) return 'br';
  if (ok('gzip')) return 'gzip';
  return undefined;
}

/** Compresses with the given encoding (brotli at quality 9: done once per blob, then cached). */
export function compress(bytes: Uint8Array, enc: 'br' | 'gzip'): Buffer {
  return enc === 'br'
    ? brotliCompressSync(bytes, {
        params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length },
      })
    : gzipSync(bytes, { level: 9 });
}
