/**
 * The parts of manifest.json (written by `localrec export`) the demo page reads, checked at
 * runtime: the page must say clearly what is wrong with a manifest rather than fail later
 * inside the worker.
 */
import { SHA256_HEX, type BlobRef } from '../core/blob.ts';
import { LocalrecError } from '../core/errors.ts';

export type { BlobRef };

/** What the page needs from a format-1 manifest. */
export interface DemoManifest {
  formatVersion: 1;
  modelVersion: string;
  encoder: BlobRef;
  /** Longest history the encoder was trained for. */
  maxLen: number;
  shards: BlobRef[];
  /** Metadata shards (titles, genres, links), empty when the export has no item metadata. */
  metadata: BlobRef[];
}

function bad(what: string): LocalrecError {
  return new LocalrecError('bad-format', `manifest: ${what}; re-run \`localrec export\``);
}

function blobRef(v: unknown, where: string): BlobRef {
  const b = v as Partial<BlobRef> | null;
  if (!b || typeof b !== 'object') throw bad(`${where} is missing`);
  if (typeof b.sha256 !== 'string' || !SHA256_HEX.test(b.sha256))
    throw bad(`${where}.sha256 is not 64 lowercase hex characters`);
  if (typeof b.bytes !== 'number' || !Number.isInteger(b.bytes) || b.bytes < 0)
    throw bad(`${where}.bytes is not a byte count`);
  return { sha256: b.sha256, bytes: b.bytes };
}

function metadataRefs(v: unknown): BlobRef[] {
  if (v == null) return [];
  if (!Array.isArray(v)) throw bad('metadata is not a list of metadata shards');
  return v.map((s, i) => blobRef(s, `metadata[${i}]`));
}

/**
 * Validates a parsed manifest.
 *
 * @throws LocalrecError `unsupported-version` for a formatVersion other than 1, `bad-format`
 *   naming the first field that is missing or malformed.
 */
export function readManifest(json: unknown): DemoManifest {
  const m = json as Record<string, unknown> | null;
  if (!m || typeof m !== 'object') throw bad('not a JSON object');
  if (m['formatVersion'] !== 1) {
    throw new LocalrecError(
      'unsupported-version',
      `manifest formatVersion ${String(m['formatVersion'])} is not one this page reads (1); reload, or update the server`,
    );
  }
  if (typeof m['modelVersion'] !== 'string') throw bad('modelVersion is missing');
  const sasrec = (
    m['models'] as { sasrec?: { encoder?: unknown; config?: { maxLen?: unknown } } } | undefined
  )?.sasrec;
  if (!sasrec) throw bad('models.sasrec is missing');
  const maxLen = sasrec.config?.maxLen;
  if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 1)
    throw bad('models.sasrec.config.maxLen is not a positive integer');
  const shards = m['shards'];
  if (!Array.isArray(shards) || shards.length === 0) throw bad('shards is empty');
  return {
    formatVersion: 1,
    modelVersion: m['modelVersion'],
    encoder: blobRef(sasrec.encoder, 'models.sasrec.encoder'),
    maxLen,
    shards: shards.map((s, i) => blobRef(s, `shards[${i}]`)),
    metadata: metadataRefs(m['metadata']),
  };
}
