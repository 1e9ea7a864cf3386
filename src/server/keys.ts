import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import {
  constants,
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  writeSync,
  fsyncSync,
  readFileSync,
  statSync,
  chmodSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { LocalrecError } from '../core/errors.ts';
import {
  keyIdOf,
  manifestSigningBytes,
  toBase64,
  type Manifest,
  type ManifestSignature,
} from '../core/manifest.ts';

/** A signing key as `localrec publish` uses it. */
export interface SigningKey {
  privateKey: KeyObject;
  /** base64 of the raw 32-byte public key: what the embed config pins. */
  publicKey: string;
  keyId: string;
}

/**
 * Raw 32-byte public key of an Ed25519 key (private or public), base64: the text a client pins.
 *
 * ```ts
 * import { createPrivateKey } from 'node:crypto';
 * import { readFileSync } from 'node:fs';
 * import { rawPublicKey } from 'localrec/server';
 *
 * const pin = rawPublicKey(createPrivateKey(readFileSync('keys/site.key'))); // for data-public-key
 * ```
 */
export function rawPublicKey(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.x)
    throw new LocalrecError(
      'bad-input',
      'the key is not an Ed25519 key; make one with `localrec keygen`',
    );
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/**
 * Writes a new Ed25519 key pair: `<base>.key` (PKCS#8 PEM, created with mode 0600 so no other
 * user can read it, even for a moment) and `<base>.pub` (base64 of the raw public key, the
 * text to pin). Refuses to overwrite an existing key unless `{ force: true }`.
 *
 * ```ts
 * import { generateKeyFiles } from 'localrec/server';
 *
 * const { privateKeyFile, publicKey } = await generateKeyFiles('keys/site');
 * console.log(`keep ${privateKeyFile} secret; pin ${publicKey} in the embed (data-public-key)`);
 * ```
 */
export async function generateKeyFiles(
  base: string,
  { force = false }: { force?: boolean } = {},
): Promise<{ privateKeyFile: string; publicKeyFile: string; publicKey: string; keyId: string }> {
  const privateKeyFile = `${base}.key`;
  const publicKeyFile = `${base}.pub`;
  if (!force && (existsSync(privateKeyFile) || existsSync(publicKeyFile))) {
    throw new LocalrecError(
      'bad-input',
      `${privateKeyFile} already exists; refusing to overwrite a signing key (--force replaces it, and every pinned client must then be updated)`,
    );
  }
  mkdirSync(dirname(privateKeyFile), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const { publicKey, keyId } = await signingKeyOf(privateKey);
  writeNew(privateKeyFile, pem, 0o600, force);
  writeNew(publicKeyFile, `${publicKey}\n`, 0o644, force);
  return { privateKeyFile, publicKeyFile, publicKey, keyId };
}

function writeNew(path: string, text: string, mode: number, replace: boolean): void {
  const flags =
    constants.O_WRONLY | constants.O_CREAT | (replace ? constants.O_TRUNC : constants.O_EXCL);
  const fd = openSync(path, flags, mode);
  try {
    // The mode given to open() is masked by the umask, and an existing file keeps its old
    // mode: set it explicitly.
    chmodSync(path, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a private key file written by `localrec keygen`; warns (via `warn`) when others can
 * read it.
 *
 * ```ts
 * import { readSigningKey } from 'localrec/server';
 *
 * const key = await readSigningKey('keys/site.key', (message) => console.warn(message));
 * console.log(`signing as ${key.keyId}`); // the keyId every manifest signature names
 * ```
 */
export async function readSigningKey(
  path: string,
  warn: (msg: string) => void = () => {},
): Promise<SigningKey> {
  if (!existsSync(path))
    throw new LocalrecError(
      'not-found',
      `no key file at ${path}; make one with \`localrec keygen\``,
    );
  if ((statSync(path).mode & 0o077) !== 0) warn(`${path} is readable by other users; chmod 600 it`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(path));
  } catch (e) {
    throw new LocalrecError(
      'bad-input',
      `${path} is not a private key file (PEM); make one with \`localrec keygen\``,
      { cause: e },
    );
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new LocalrecError(
      'bad-input',
      `${path} holds a ${privateKey.asymmetricKeyType} key; localrec signs with Ed25519`,
    );
  return signingKeyOf(privateKey);
}

/**
 * The signing key of an Ed25519 private key: its raw public key (base64) and key id. For a key
 * that is not in a file (a secret manager, an environment variable).
 *
 * ```ts
 * import { createPrivateKey } from 'node:crypto';
 * import { signingKeyOf } from 'localrec/server';
 *
 * const key = await signingKeyOf(createPrivateKey(process.env['LOCALREC_SIGNING_KEY'] ?? ''));
 * ```
 */
export async function signingKeyOf(privateKey: KeyObject): Promise<SigningKey> {
  const publicKey = rawPublicKey(privateKey);
  return { privateKey, publicKey, keyId: await keyIdOf(publicKey) };
}

/**
 * A fresh Ed25519 signing key held in memory only (tests, throwaway benches).
 *
 * ```ts
 * import { newSigningKey, openPublicationStore, publishExport } from 'localrec/server';
 *
 * const key = await newSigningKey();
 * await publishExport('test/fixtures/export', openPublicationStore('memory:'), key);
 * // the test's client pins key.publicKey
 * ```
 */
export function newSigningKey(): Promise<SigningKey> {
  return signingKeyOf(generateKeyPairSync('ed25519').privateKey);
}

/**
 * Signs a manifest: returns it with `signature` set (detached Ed25519 over its canonical bytes).
 * `publishExport()` does this for you; for a pipeline that stores manifests its own way.
 *
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { canonicalJson, parseManifest, verifyManifest } from 'localrec/core';
 * import { readSigningKey, signManifest } from 'localrec/server';
 *
 * const key = await readSigningKey('keys/site.key');
 * const manifest = { ...parseManifest(readFileSync('model/export/manifest.json')), version: 1 };
 * const text = canonicalJson(signManifest(manifest, key));
 * await verifyManifest(text, key.publicKey); // what a browser checks before trusting it
 * ```
 */
export function signManifest(manifest: Manifest, key: SigningKey): Manifest {
  const value = sign(null, manifestSigningBytes(manifest), key.privateKey);
  const signature: ManifestSignature = { alg: 'Ed25519', keyId: key.keyId, value: toBase64(value) };
  return { ...manifest, signature };
}

/**
 * Reads `<base>.key`, making the pair first when there is none (for the demo's own key).
 *
 * ```ts
 * import { ensureSigningKey } from 'localrec/server';
 *
 * const key = await ensureSigningKey('.localrec/demo'); // .localrec/demo.key and .pub
 * ```
 */
export async function ensureSigningKey(base: string): Promise<SigningKey> {
  if (!existsSync(`${base}.key`)) await generateKeyFiles(base);
  return readSigningKey(`${base}.key`);
}
