/**
 * The signed manifest: its types, its canonical bytes, and the checks a browser runs before it
 * trusts anything the server sends (ARCHITECTURE.md, "Formats" and data flow step 3).
 *
 * Signing: `localrec publish` signs the manifest with the owner's Ed25519 private key. The
 * signature is detached from what it signs: it lives in the manifest's `signature` member, and
 * covers the **canonical bytes** of the manifest with that member removed:
 *
 * - canonical JSON as in RFC 8785 (JCS) for the values a manifest holds: object members sorted
 *   by key (UTF-16 code units, JavaScript's default string order), no whitespace, strings and
 *   numbers written as `JSON.stringify` writes them (numbers must be finite), arrays in order;
 *   `undefined`, functions, non-finite numbers and non-plain objects are rejected;
 * - encoded as UTF-8.
 *
 * The served bytes therefore need not be canonical themselves (the verifier re-canonicalizes
 * what it parsed), and JSON's number round trip is exact in JavaScript, so parse + canonicalize
 * gives back the bytes that were signed.
 *
 * Web-platform APIs only (Web Crypto Ed25519, atob): this file runs in the browser, in workers
 * and in Node ≥ 20 unchanged.
 */
import { SHA256_HEX, subtle, toHex, verifyBlob, type BlobRef } from './blob.ts';
import { LocalrecError } from './errors.ts';
import { parseLlmSection, type LlmSection } from './llm-manifest.ts';

/** The manifest format version this code reads and writes. */
export const MANIFEST_FORMAT_VERSION = 1;

/** The detached signature a published manifest carries. */
export interface ManifestSignature {
  alg: 'Ed25519';
  /** First 16 hex characters of the sha256 of the raw 32-byte public key. */
  keyId: string;
  /** The 64-byte signature, base64. */
  value: string;
}

/**
 * A format-1 manifest. `localrec export` writes it unsigned (`signature: null`, no `version`);
 * `localrec publish` adds `version`, `publishedAt` and the signature.
 */
export interface Manifest {
  formatVersion: 1;
  /** The trained model's identity (what a federated round's base version names). */
  modelVersion: string;
  createdAt: string;
  /** Publication sequence number: 1, 2, … in the order `localrec publish` wrote them. */
  version?: number;
  publishedAt?: string;
  /** Model files by model name; every `{ sha256, bytes }` inside is a blob. */
  models: Record<string, unknown>;
  /** Embedding shards, in internal index order. */
  shards: (BlobRef & Record<string, unknown>)[];
  /** Metadata shards over the same ranges as `shards` (or null). */
  metadata: (BlobRef & Record<string, unknown>)[] | null;
  llm: LlmSection | null; // the owner's on-device LLM (./llm-manifest.ts), or null
  federated: unknown;
  signature: ManifestSignature | null;
}

/** JSON values a manifest may hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/**
 * Canonical JSON text of `value` (RFC 8785 for the values above): sorted keys, no whitespace.
 *
 * ```ts
 * import { canonicalJson } from 'localrec/core';
 *
 * canonicalJson({ b: [1, 'x'], a: null }); // '{"a":null,"b":[1,"x"]}'
 * ```
 *
 * @throws LocalrecError `bad-input` for a value JSON cannot represent exactly (undefined, a
 *   function, a non-finite number, a Date or other non-plain object).
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, '$');
  return parts.join('');
}

function write(v: unknown, out: string[], path: string): void {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') {
    out.push(JSON.stringify(v));
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v))
      throw new LocalrecError('bad-input', `canonical JSON: ${path} is ${v}, not a finite number`);
    out.push(JSON.stringify(v));
  } else if (Array.isArray(v)) {
    out.push('[');
    v.forEach((x, i) => {
      if (i > 0) out.push(',');
      write(x, out, `${path}[${i}]`);
    });
    out.push(']');
  } else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    out.push('{');
    let first = true;
    for (const k of keys) {
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(k), ':');
      write(o[k], out, `${path}.${k}`);
    }
    out.push('}');
  } else {
    throw new LocalrecError(
      'bad-input',
      `canonical JSON: ${path} is ${typeof v === 'object' ? 'a non-plain object' : typeof v}, which JSON cannot hold`,
    );
  }
}

/**
 * The bytes a manifest's signature covers: UTF-8 canonical JSON without the `signature` member.
 *
 * ```ts
 * import { sign, type KeyObject } from 'node:crypto';
 * import { manifestSigningBytes, type Manifest } from 'localrec/core';
 *
 * declare const manifest: Manifest, privateKey: KeyObject;
 * const value = sign(null, manifestSigningBytes(manifest), privateKey); // as signManifest() does
 * ```
 */
export function manifestSigningBytes(manifest: Manifest | Record<string, unknown>): Uint8Array {
  const rest: Record<string, unknown> = { ...manifest };
  delete rest['signature'];
  return new TextEncoder().encode(canonicalJson(rest));
}

/**
 * Base64 (standard alphabet, padded) of bytes.
 *
 * ```ts
 * import { toBase64 } from 'localrec/core';
 *
 * toBase64(new TextEncoder().encode('hi')); // 'aGk='
 * ```
 */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

/**
 * Bytes of a base64 string; undefined when it is not base64.
 *
 * ```ts
 * import { fromBase64 } from 'localrec/core';
 *
 * fromBase64('aGk='); // Uint8Array [104, 105]; fromBase64('hi!') is undefined
 * ```
 */
export function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/**
 * A public key as the embed config pins it: base64 of the raw 32-byte Ed25519 key.
 *
 * ```ts
 * import { parsePublicKey } from 'localrec/core';
 *
 * const raw = parsePublicKey('BASE64_PUBLIC_KEY'); // 32 bytes; a mistyped key throws `bad-input`
 * ```
 */
export function parsePublicKey(key: string | Uint8Array): Uint8Array {
  const raw = typeof key === 'string' ? fromBase64(key.trim()) : key;
  if (!raw || raw.length !== 32) {
    throw new LocalrecError(
      'bad-input',
      'the pinned public key must be the base64 of a raw 32-byte Ed25519 key (the .pub file `localrec keygen` writes)',
    );
  }
  return raw;
}

/**
 * The key id a signature names: the first 16 hex characters of sha256(raw public key).
 *
 * ```ts
 * import { keyIdOf } from 'localrec/core';
 *
 * const keyId = await keyIdOf('BASE64_PUBLIC_KEY'); // compare with manifest.signature.keyId
 * ```
 */
export async function keyIdOf(publicKey: string | Uint8Array): Promise<string> {
  const h = await sha256(parsePublicKey(publicKey));
  return toHex(h.subarray(0, 8));
}

function badManifest(what: string): LocalrecError {
  return new LocalrecError('bad-format', `manifest: ${what}`);
}

/**
 * Every blob a manifest references: each object anywhere under `models`, `shards`, `metadata`
 * and `llm` that has a `sha256` member, deduplicated, in document order.
 *
 * ```ts
 * import { manifestBlobs, parseManifest } from 'localrec/core';
 *
 * const blobs = manifestBlobs(parseManifest(await (await fetch('/v1/manifest')).text()));
 * const fullDownload = blobs.reduce((bytes, blob) => bytes + blob.bytes, 0);
 * ```
 *
 * @throws LocalrecError `bad-format` naming a reference whose sha256 or byte count is malformed.
 */
export function manifestBlobs(manifest: Manifest | Record<string, unknown>): BlobRef[] {
  const seen = new Map<string, BlobRef>();
  const m = manifest as Record<string, unknown>;
  const visit = (v: unknown, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${path}[${i}]`));
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('sha256' in o) {
        const { sha256: h, bytes } = o;
        if (typeof h !== 'string' || !SHA256_HEX.test(h))
          throw badManifest(`${path}.sha256 is not 64 lowercase hex characters`);
        if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)
          throw badManifest(`${path}.bytes is not a byte count`);
        const prev = seen.get(h);
        if (prev && prev.bytes !== bytes)
          throw badManifest(`${path}: blob ${h.slice(0, 12)}… is listed with two sizes`);
        seen.set(h, { sha256: h, bytes });
      }
      for (const [k, x] of Object.entries(o)) if (k !== 'sha256') visit(x, `${path}.${k}`);
    }
  };
  for (const k of ['models', 'shards', 'metadata', 'llm']) visit(m[k], k);
  return [...seen.values()];
}

/**
 * Parses manifest bytes and checks their form: JSON object, a format version this code knows,
 * a model version, well-formed blob references and `llm` section (not the signature: a browser
 * uses {@link verifyManifest}).
 *
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { parseManifest } from 'localrec/core';
 *
 * const { modelVersion, shards } = parseManifest(readFileSync('model/export/manifest.json'));
 * ```
 */
export function parseManifest(bytes: Uint8Array | string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(
      typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes),
    );
  } catch {
    throw badManifest('not valid UTF-8 JSON');
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw badManifest('not a JSON object');
  const m = json as Record<string, unknown>;
  if (m['formatVersion'] !== MANIFEST_FORMAT_VERSION) {
    throw new LocalrecError(
      'unsupported-version',
      `manifest formatVersion ${String(m['formatVersion'])} is not one this code reads (${MANIFEST_FORMAT_VERSION}); update localrec`,
    );
  }
  if (typeof m['modelVersion'] !== 'string' || m['modelVersion'] === '')
    throw badManifest('modelVersion is missing');
  if (!m['models'] || typeof m['models'] !== 'object') throw badManifest('models is missing');
  if (!Array.isArray(m['shards'])) throw badManifest('shards is not a list');
  if (
    m['version'] !== undefined &&
    (!Number.isSafeInteger(m['version']) || (m['version'] as number) < 1)
  )
    throw badManifest('version is not a positive integer');
  manifestBlobs(m);
  parseLlmSection(m['llm']); // checked, not replaced: the signature covers what was parsed
  return m as unknown as Manifest;
}

/** A manifest whose signature checked out against the pinned key. */
export interface VerifiedManifest {
  manifest: Manifest;
  /** Every blob it references (see {@link manifestBlobs}). */
  blobs: BlobRef[];
  keyId: string;
}

/**
 * What the browser runs on `GET /v1/manifest`'s body before using anything in it: parses it,
 * checks its form, and verifies its Ed25519 signature over the canonical bytes against the
 * pinned public key (Web Crypto).
 *
 * ```ts
 * import { verifyManifest } from 'localrec/core';
 *
 * const body = await (await fetch('https://recs.example/v1/manifest')).text();
 * const { manifest, blobs } = await verifyManifest(body, 'BASE64_PUBLIC_KEY');
 * ```
 *
 * @throws LocalrecError `bad-format` (not JSON, malformed fields or signature encoding),
 *   `unsupported-version` (a format or signature algorithm this code does not know),
 *   `integrity` (unsigned, signed by another key, or the signature does not match).
 */
export async function verifyManifest(
  bytes: Uint8Array | string,
  publicKey: string | Uint8Array,
): Promise<VerifiedManifest> {
  const raw = parsePublicKey(publicKey);
  const manifest = parseManifest(bytes);
  const sig = manifest.signature as Partial<ManifestSignature> | null | undefined;
  if (sig === null || sig === undefined) {
    throw new LocalrecError(
      'integrity',
      'manifest is not signed; the server must serve what `localrec publish` wrote',
    );
  }
  if (typeof sig !== 'object') throw badManifest('signature is not an object');
  if (sig.alg !== 'Ed25519') {
    throw new LocalrecError(
      'unsupported-version',
      `manifest signature algorithm ${String(sig.alg)} is not one this code checks (Ed25519)`,
    );
  }
  const keyId = await keyIdOf(raw);
  if (sig.keyId !== keyId) {
    throw new LocalrecError(
      'integrity',
      `manifest is signed by key ${String(sig.keyId)}, but the pinned key is ${keyId}; publish with the pinned key or pin the new one`,
    );
  }
  const value = typeof sig.value === 'string' ? fromBase64(sig.value) : undefined;
  if (!value || value.length !== 64)
    throw badManifest('signature.value is not a base64 64-byte signature');
  let key: CryptoKey;
  try {
    key = await subtle().importKey(
      'raw',
      raw as Uint8Array<ArrayBuffer>,
      { name: 'Ed25519' },
      false,
      ['verify'],
    );
  } catch (e) {
    throw new LocalrecError('device-unavailable', 'this browser cannot verify Ed25519 signatures', {
      cause: e,
    });
  }
  const ok = await subtle().verify(
    { name: 'Ed25519' },
    key,
    value as Uint8Array<ArrayBuffer>,
    manifestSigningBytes(manifest) as Uint8Array<ArrayBuffer>,
  );
  if (!ok) {
    throw new LocalrecError(
      'integrity',
      'manifest signature does not match its contents: it was altered after signing',
    );
  }
  return { manifest, blobs: manifestBlobs(manifest), keyId };
}

/**
 * Checks a downloaded blob against a verified manifest: it must be listed there, and match its
 * size and sha256.
 *
 * ```ts
 * import { verifyManifestBlob, type VerifiedManifest } from 'localrec/core';
 *
 * declare const verified: VerifiedManifest, sha256: string; // from verifyManifest(), a blob of it
 * const bytes = new Uint8Array(await (await fetch(`/v1/blobs/${sha256}`)).arrayBuffer());
 * await verifyManifestBlob(verified, sha256, bytes, 'model file');
 * ```
 *
 * @throws LocalrecError `integrity` when the blob is not in the manifest or does not match.
 */
export async function verifyManifestBlob(
  verified: VerifiedManifest,
  sha256: string,
  bytes: Uint8Array,
  what = 'blob',
): Promise<void> {
  const ref = verified.blobs.find((b) => b.sha256 === sha256);
  if (!ref) {
    throw new LocalrecError(
      'integrity',
      `${what} ${sha256.slice(0, 12)}… is not listed in manifest version ${verified.manifest.version ?? '(unpublished)'}`,
    );
  }
  await verifyBlob(ref, bytes, what);
}
