/**
 * ONE suite for every BlobStore and ManifestStore backend: each `describe.each` row opens a
 * fresh store by URL, so a new backend (S3, …) joins by adding its URL here.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { openPublicationStore, openRoundStore } from '../../src/server/store/registry.ts';

const root = mkdtempSync(join(tmpdir(), 'localrec-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const backends: [string, () => string][] = [
  ['file', () => `file:${join(root, `s${n++}`)}`],
  ['memory', () => 'memory:'],
];

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}
async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out.sort();
}
async function streamed(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

describe.each(backends)('BlobStore contract: %s', (_name, url) => {
  it('stores by sha256, reads back whole and by range, lists, deletes; put is idempotent', async () => {
    const { blobs } = openPublicationStore(url());
    const a = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
    const ref = await blobs.put(a);
    expect(ref).toEqual({ sha256: sha(a), bytes: 5000 });
    expect(await blobs.put(a, ref)).toEqual(ref);
    expect(await blobs.stat(ref.sha256)).toEqual({ bytes: 5000 });
    expect(Buffer.from((await blobs.get(ref.sha256))!).equals(Buffer.from(a))).toBe(true);
    expect(Array.from(await streamed(blobs.stream(ref.sha256, { start: 10, end: 14 })))).toEqual([
      10, 11, 12, 13, 14,
    ]);
    expect((await streamed(blobs.stream(ref.sha256))).length).toBe(5000);
    const b = new TextEncoder().encode('second');
    await blobs.put(b);
    expect(await collect(blobs.list())).toEqual([sha(a), sha(b)].sort());
    expect(await blobs.delete(sha(b))).toBe(true);
    expect(await blobs.delete(sha(b))).toBe(false);
    expect(await blobs.stat(sha(b))).toBeUndefined();
    expect(await blobs.get(sha(b))).toBeUndefined();
    await blobs.close();
  });

  it('verifies the hash and size on write and stores nothing on a mismatch', async () => {
    const { blobs } = openPublicationStore(url());
    const a = new TextEncoder().encode('payload');
    expect(await codeOf(blobs.put(a, { sha256: 'f'.repeat(64), bytes: a.length }))).toBe(
      'integrity',
    );
    expect(await codeOf(blobs.put(a, { sha256: sha(a), bytes: 99 }))).toBe('integrity');
    expect(await collect(blobs.list())).toEqual([]);
    expect(await codeOf(blobs.stat('../../etc/passwd'))).toBe('bad-input');
  });

  it('refuses to store a private key, PEM or DER', async () => {
    const { blobs } = openPublicationStore(url());
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = new TextEncoder().encode(
      privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    );
    const der = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
    expect(await codeOf(blobs.put(pem))).toBe('bad-input');
    expect(await codeOf(blobs.put(der))).toBe('bad-input');
    expect(await collect(blobs.list())).toEqual([]);
  });
});

describe.each(backends)('ManifestStore contract: %s', (_name, url) => {
  it('keeps immutable versions and one current, cached by identity until it changes', async () => {
    const { manifests } = openPublicationStore(url());
    expect(await manifests.current()).toBeUndefined();
    expect(await manifests.listVersions()).toEqual([]);
    const v1 = new TextEncoder().encode('{"v":1}');
    const v2 = new TextEncoder().encode('{"v":2,"longer":true}');
    await manifests.putVersion(1, v1);
    await manifests.putVersion(2, v2);
    expect(await codeOf(manifests.putVersion(2, v1))).toBe('bad-input');
    expect(await manifests.listVersions()).toEqual([1, 2]);
    await manifests.setCurrent(1);
    const c1 = await manifests.current();
    expect(new TextDecoder().decode(c1)).toBe('{"v":1}');
    expect(await manifests.current()).toBe(c1);
    await manifests.setCurrent(2);
    expect(new TextDecoder().decode(await manifests.current())).toBe('{"v":2,"longer":true}');
    await manifests.deleteVersion(1);
    expect(await manifests.listVersions()).toEqual([2]);
    expect(await manifests.getVersion(1)).toBeUndefined();
    expect(await codeOf(manifests.setCurrent(9))).toBe('not-found');
  });
});

describe('store URLs', () => {
  it('maps schemes to backends and names the known ones for an unknown scheme', () => {
    expect(openPublicationStore(`file:${join(root, 'u1')}`).blobs.url).toBe(
      `file:${join(root, 'u1')}`,
    );
    expect(openPublicationStore(join(root, 'u2')).blobs.url).toBe(`file:${join(root, 'u2')}`);
    expect(openPublicationStore(`file://${join(root, 'u3')}`).blobs.url).toBe(
      `file:${join(root, 'u3')}`,
    );
    expect(() => openPublicationStore('s3://bucket/x')).toThrow(/scheme 's3:'.*file: or memory:/);
    expect(() => openRoundStore('postgres://db/x')).toThrow(
      /scheme 'postgres:'.*sqlite: or memory:/,
    );
    expect(() => openRoundStore('sqlite::memory:?synchronous=sometimes')).toThrow(/full or normal/);
  });

  it('leaves no temporary files behind after writes', async () => {
    const dir = join(root, 'tmpcheck');
    const { blobs, manifests } = openPublicationStore(`file:${dir}`);
    await blobs.put(new TextEncoder().encode('x'));
    await manifests.putVersion(1, new TextEncoder().encode('{}'));
    await manifests.setCurrent(1);
    expect(readdirSync(join(dir, 'blobs')).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  });
});
