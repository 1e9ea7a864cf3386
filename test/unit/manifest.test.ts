import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import {
  canonicalJson,
  manifestBlobs,
  manifestSigningBytes,
  verifyManifest,
  verifyManifestBlob,
  type Manifest,
} from '../../src/core/manifest.ts';
import { newSigningKey, signManifest } from '../../src/server/keys.ts';

const blob = new TextEncoder().encode('an onnx graph, pretend');
const blobSha = createHash('sha256').update(blob).digest('hex');

function manifest(): Manifest {
  return {
    formatVersion: 1,
    modelVersion: '2026-11-22T08:00:00Z-abcd1234',
    createdAt: '2026-11-22T08:00:00.000Z',
    version: 3,
    publishedAt: '2026-11-22T09:00:00.000Z',
    models: {
      sasrec: {
        encoder: { sha256: blobSha, bytes: blob.length, quantization: 'int8', format: 'onnx' },
        config: { maxLen: 50, dropout: 0.2, lr: 1e-21, name: 'é "q" \u2028' },
      },
    },
    shards: [{ sha256: 'b'.repeat(64), bytes: 10, dtype: 'int8', dim: 4, count: 2, baseIndex: 1 }],
    metadata: [],
    llm: null,
    federated: null,
    signature: null,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isLocalrecError(e) ? `${e.code}: ${e.message}` : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

describe('canonical JSON', () => {
  it('sorts keys by UTF-16 code units, drops whitespace, writes numbers and strings as JSON does', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], A: { d: 1.5, c: -0 } })).toBe(
      '{"A":{"c":0,"d":1.5},"a":[true,null,"x"],"b":1}',
    );
    expect(canonicalJson({ '\u00e9': 1, z: 2, '\ud83d\ude00': 3, '\uff01': 4 })).toBe(
      '{"z":2,"é":1,"😀":3,"！":4}',
    );
    expect(canonicalJson(1e21)).toBe('1e+21');
  });

  it('rejects what JSON cannot hold exactly', () => {
    for (const bad of [NaN, Infinity, undefined, () => 1, new Date(0), { a: undefined }]) {
      expect(() => canonicalJson(bad)).toThrow(/canonical JSON/);
    }
  });

  it('signing bytes ignore the signature member and the served formatting', () => {
    const m = manifest();
    const a = manifestSigningBytes(m);
    const b = manifestSigningBytes(
      JSON.parse(JSON.stringify({ ...m, signature: { alg: 'x' } }, null, 2)),
    );
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

describe('manifest verifier (Web Crypto Ed25519)', () => {
  it('accepts a manifest signed by the pinned key, served pretty-printed or compact', async () => {
    const k = await newSigningKey();
    const signed = signManifest(manifest(), k);
    for (const text of [JSON.stringify(signed), JSON.stringify(signed, null, 2)]) {
      const v = await verifyManifest(text, k.publicKey);
      expect(v.keyId).toBe(k.keyId);
      expect(v.manifest.version).toBe(3);
      expect(v.blobs.map((b) => b.sha256)).toEqual([blobSha, 'b'.repeat(64)]);
      await verifyManifestBlob(v, blobSha, blob);
    }
  });

  it('rejects tampering, another key, no signature, and unknown formats with clear codes', async () => {
    const k = await newSigningKey();
    const other = await newSigningKey();
    const signed = signManifest(manifest(), k);
    const tampered = { ...signed, modelVersion: 'evil' };
    expect(await codeOf(verifyManifest(JSON.stringify(tampered), k.publicKey))).toMatch(
      /^integrity: .*altered/,
    );
    const swapped = JSON.parse(JSON.stringify(signed));
    swapped.models.sasrec.encoder.sha256 = 'c'.repeat(64);
    expect(await codeOf(verifyManifest(JSON.stringify(swapped), k.publicKey))).toMatch(
      /^integrity/,
    );
    expect(await codeOf(verifyManifest(JSON.stringify(signed), other.publicKey))).toMatch(
      /^integrity: .*signed by key .*pinned key/,
    );
    expect(await codeOf(verifyManifest(JSON.stringify(manifest()), k.publicKey))).toMatch(
      /^integrity: .*not signed/,
    );
    expect(
      await codeOf(verifyManifest(JSON.stringify({ ...signed, formatVersion: 2 }), k.publicKey)),
    ).toMatch(/^unsupported-version/);
    const badSig = { ...signed, signature: { ...signed.signature!, value: 'not base64!' } };
    expect(await codeOf(verifyManifest(JSON.stringify(badSig), k.publicKey))).toMatch(
      /^bad-format/,
    );
    const rsa = { ...signed, signature: { ...signed.signature!, alg: 'RS256' } };
    expect(await codeOf(verifyManifest(JSON.stringify(rsa), k.publicKey))).toMatch(
      /^unsupported-version/,
    );
    expect(await codeOf(verifyManifest('{not json', k.publicKey))).toMatch(/^bad-format/);
    expect(await codeOf(verifyManifest(JSON.stringify(signed), 'short'))).toMatch(/^bad-input/);
  });

  it('rejects a blob that is not listed, or does not match its hash', async () => {
    const k = await newSigningKey();
    const v = await verifyManifest(JSON.stringify(signManifest(manifest(), k)), k.publicKey);
    expect(await codeOf(verifyManifestBlob(v, 'd'.repeat(64), blob))).toMatch(
      /^integrity: .*not listed/,
    );
    const corrupt = blob.slice();
    corrupt[0]! ^= 1;
    expect(await codeOf(verifyManifestBlob(v, blobSha, corrupt))).toMatch(/^integrity: .*sha256/);
  });

  it('lists every blob reference and names a malformed one', () => {
    expect(manifestBlobs(manifest())).toHaveLength(2);
    const m = manifest();
    (m.shards[0] as { sha256: string }).sha256 = 'XYZ';
    expect(() => manifestBlobs(m)).toThrow(/shards\[0\]\.sha256/);
  });
});
