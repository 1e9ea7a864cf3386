import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { LocalrecError } from '../core/errors.ts';
import { parseRange } from './byte-range.ts';
import { etagMatches } from './etag.ts';
import { errorBody } from './errors.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * `GET /v1/blobs/:sha256`: content-addressed, so the bytes behind a name never change. That is
 * what makes `immutable` caching, the hash as a strong ETag, and resuming with Range all safe.
 * Fastify answers HEAD from this route too.
 */
export function registerBlobRoute(app: FastifyInstance, exportDir: string): void {
  const blobDir = join(exportDir, 'blobs');
  app.get<{ Params: { sha256: string } }>('/v1/blobs/:sha256', async (req, reply) => {
    const { sha256 } = req.params;
    // Checked before touching the filesystem: this is also what keeps `..` out of the path.
    if (!SHA256_HEX.test(sha256)) {
      const shown = sha256.length > 80 ? `${sha256.slice(0, 80)}…` : sha256;
      throw new LocalrecError(
        'bad-input',
        `blob name must be a sha256 as 64 lowercase hex characters, got '${shown}'`,
      );
    }
    const path = join(blobDir, sha256);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) throw new LocalrecError('not-found', `no blob ${sha256} in this export`);

    const etag = `"${sha256}"`;
    reply
      .header('Cache-Control', 'public, max-age=31536000, immutable')
      .header('ETag', etag)
      .header('Accept-Ranges', 'bytes')
      .type('application/octet-stream');
    if (etagMatches(req.headers['if-none-match'], etag)) return reply.status(304).send();

    // If-Range with any other validator means "the copy I hold part of is stale": send it whole.
    const ifRange = req.headers['if-range'];
    const rangeHeader = ifRange === undefined || ifRange === etag ? req.headers.range : undefined;
    const range = parseRange(rangeHeader, st.size);
    if (range === 'unsatisfiable') {
      // 416 rather than the code map's 400: HTTP has a status for exactly this, and clients
      // resuming a download rely on it together with Content-Range.
      const msg = `range '${rangeHeader ?? ''}' is outside this blob of ${st.size} bytes`;
      return reply
        .status(416)
        .header('Content-Range', `bytes */${st.size}`)
        .type('application/json')
        .send(errorBody('bad-input', msg));
    }
    if (range) {
      reply
        .status(206)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${st.size}`)
        .header('Content-Length', range.end - range.start + 1);
      return reply.send(createReadStream(path, { start: range.start, end: range.end }));
    }
    reply.header('Content-Length', st.size);
    return reply.send(createReadStream(path));
  });
}
