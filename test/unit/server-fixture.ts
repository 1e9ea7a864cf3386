/** Shared set-up for the server tests: a published store, a signing key, deltas with exact sums. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeDelta, type Delta } from '../../src/core/delta.ts';
import { type SigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';
import type { SliceSpec } from '../../src/server/store/round-store.ts';

export const sha256 = (b: Uint8Array | string): string =>
  createHash('sha256').update(b).digest('hex');

/** An export folder with a compressible blob, a random one, and a manifest listing both. */
export function writeExport(
  dir: string,
  modelVersion: string,
  seed = 0,
): { text: Uint8Array; noise: Uint8Array } {
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  const text = new TextEncoder().encode(`item titles ${seed} `.repeat(400));
  const noise = new Uint8Array(randomBytes(3000));
  for (const b of [text, noise]) writeFileSync(join(dir, 'blobs', sha256(b)), b);
  const manifest = {
    formatVersion: 1,
    modelVersion,
    createdAt: '2026-11-22T08:00:00.000Z',
    models: {
      sasrec: {
        encoder: {
          sha256: sha256(noise),
          bytes: noise.length,
          quantization: 'int8',
          format: 'onnx',
        },
        config: { maxLen: 50, dim: 32, notes: 'x'.repeat(1500) },
      },
    },
    shards: [],
    metadata: [
      {
        sha256: sha256(text),
        bytes: text.length,
        format: 'localrec-metadata-v1',
        count: 2,
        baseIndex: 1,
      },
    ],
    llm: null,
    federated: null,
    signature: null,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { text, noise };
}

/** Exports and publishes one version into `file:<root>/store`; returns what a test needs. */
export async function publishedStore(
  root: string,
  key: SigningKey,
  modelVersion = 'model-1',
  seed = 0,
) {
  const exportDir = join(root, `export-${seed}`);
  const blobs = writeExport(exportDir, modelVersion, seed);
  const storeUrl = `file:${join(root, 'store')}`;
  const store = openPublicationStore(storeUrl);
  const summary = await publishExport(exportDir, store, key);
  return { storeUrl, storeDir: join(root, 'store'), exportDir, blobs, summary };
}

/** The round shape the server tests use: 36 values. */
export const SLICES: SliceSpec[] = [
  { name: 'item_emb', shape: [8, 4] },
  { name: 'bias', shape: [4] },
];
export const SCALE = 2 ** -7;

/**
 * A delta whose dequantized values are small integers × 2⁻⁷, so float64 sums of any number of
 * them, in any order, are exact: tests can compare sums with ===. Norm ≤ 60/128 < 1.
 */
export function exactDelta(
  roundId: number,
  base: string,
  seed: number,
  updateId?: string,
): { bytes: Uint8Array; values: number[]; updateId: string } {
  let x = (seed * 2654435761) >>> 0;
  const next = () => (
    (x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0),
    (x % 21) - 10
  );
  const q = SLICES.map((s) => Int8Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, next));
  const id = updateId ?? sha256(`update-${seed}-${roundId}`).slice(0, 32);
  const d: Delta = {
    roundId,
    baseVersion: base,
    updateId: id,
    clipNorm: 1,
    slices: q.map((values, index) => ({ index, scale: SCALE, values })),
  };
  return {
    bytes: encodeDelta(d),
    values: q.flatMap((v) => Array.from(v, (y) => y * SCALE)),
    updateId: id,
  };
}

export const ROUND_BODY = { slices: SLICES, clipNorm: 1, minReports: 1000, durationSeconds: 3600 };

/** A round ticket from `POST /v1/rounds/:id/tickets` (throws unless it is issued). */
export async function getTicket(
  base: string,
  roundId: number,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await fetch(`${base}/v1/rounds/${roundId}/tickets`, { method: 'POST', headers });
  const body = (await res.json()) as { ticket?: string; error?: { message: string } };
  if (res.status !== 201 || !body.ticket)
    throw new Error(`no ticket for round ${roundId}: ${res.status} ${body.error?.message ?? ''}`);
  return body.ticket;
}

/**
 * Posts a delta with `ticket` (a fresh one from the server when omitted; a replay must pass the
 * ticket of its first post).
 */
export async function postDelta(
  base: string,
  roundId: number,
  bytes: Uint8Array,
  headers: Record<string, string> = {},
  ticket?: string,
) {
  const t = ticket ?? (await getTicket(base, roundId, forwarded(headers)));
  return fetch(`${base}/v1/rounds/${roundId}/updates`, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      authorization: `Ticket ${t}`,
      ...headers,
    },
    body: bytes as BodyInit,
  });
}

/** The X-Forwarded-For of `headers`, if any (the ticket is asked for from the same client). */
function forwarded(headers: Record<string, string>): Record<string, string> {
  const xff = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-forwarded-for');
  return xff ? { 'x-forwarded-for': xff[1] } : {};
}
