import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { LocalrecError } from '../../core/errors.ts';
import { SHA256_HEX } from '../../core/blob.ts';
import { parseRange } from '../byte-range.ts';
import { encodedEtag, etagMatches } from '../etag.ts';
import { errorBody } from '../errors.ts';
import { pickEncoding, type Published } from '../published.ts';

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/**
 * Compressed copies of blobs, made in the background on first request and kept while they
 * fit a memory budget. A copy is kept only where compression helps (≤ 90 % of the original);
 * int8 embedding shards mostly do not, metadata shards and ONNX graphs do.
 */
class EncodedBlobs {
  private readonly cache = new Map<string, Buffer | null>();
  private readonly pending = new Set<string>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  get(sha: string, enc: 'br' | 'gzip'): Buffer | null | undefined {
    return this.cache.get(`${sha}.${enc}`);
  }

  fill(sha: string, enc: 'br' | 'gzip', load: () => Promise<Uint8Array | undefined>): void {
    const key = `${sha}.${enc}`;
    if (this.pending.has(key) || this.cache.has(key) || this.bytes >= this.budget) return;
    this.pending.add(key);
    void (async () => {
      try {
        const raw = await load();
        if (!raw) return;
        const out =
          enc === 'br'
            ? await brotliAsync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } })
            : await gzipAsync(raw, { level: 9 });
        const helps = out.length <= raw.length * 0.9;
        if (helps && this.bytes + out.length > this.budget) return;
        this.cache.set(key, helps ? out : null);
        if (helps) this.bytes += out.length;
      } catch {
        // Compression is an optimisation: on any failure the blob is simply sent as is.
      } finally {
        this.pending.delete(key);
      }
    })();
  }
}

/**
 * `GET /v1/blobs/:sha256`: content-addressed, so the bytes behind a name never change. That is
 * what makes `immutable` caching, the hash as a strong ETag, and resuming with Range all safe.
 * Fastify answers HEAD from this route too. Only blobs a stored manifest lists are served.
 */
export function registerBlobRoutes(
  app: FastifyInstance,
  published: Published,
  options: { compressBudgetBytes?: number } = {},
): void {
  const blobs = published.store.blobs;
  const encoded = new EncodedBlobs(options.compressBudgetBytes ?? 64 * 1024 * 1024);
  app.get<{ Params: { sha256: string } }>('/v1/blobs/:sha256', async (req, reply) => {
    const { sha256 } = req.params;
    // Checked before touching the store: this is also what keeps `..` out of a file path.
    if (!SHA256_HEX.test(sha256)) {
      const shown = sha256.length > 80 ? `${sha256.slice(0, 80)}…` : sha256;
      throw new LocalrecError(
        'bad-input',
        `blob name must be a sha256 as 64 lowercase hex characters, got '${shown}'`,
      );
    }
    const snap = await published.current().catch(() => undefined);
    const st = snap?.servable.has(sha256) ? await blobs.stat(sha256) : undefined;
    if (!st) throw new LocalrecError('not-found', `no published blob ${sha256}`);

    const etag = `"${sha256}"`;
    reply
      .header('Cache-Control', 'public, max-age=31536000, immutable')
      .header('Accept-Ranges', 'bytes')
      .header('Vary', 'Accept-Encoding')
      .type('application/octet-stream');
    if (etagMatches(req.headers['if-none-match'], etag))
      return reply.header('ETag', etag).status(304).send();

    // If-Range with any other validator means "the copy I hold part of is stale": send it whole.
    const ifRange = req.headers['if-range'];
    const rangeHeader = ifRange === undefined || ifRange === etag ? req.headers.range : undefined;
    const range = parseRange(rangeHeader, st.bytes);
    if (range === 'unsatisfiable') {
      // 416 rather than the code map's 400: HTTP has a status for exactly this, and clients
      // resuming a download rely on it together with Content-Range.
      const msg = `range '${rangeHeader ?? ''}' is outside this blob of ${st.bytes} bytes`;
      return reply
        .status(416)
        .header('ETag', etag)
        .header('Content-Range', `bytes */${st.bytes}`)
        .type('application/json')
        .send(errorBody('bad-input', msg));
    }
    if (range) {
      // Ranges are of the identity bytes: a resumed download must not depend on the encoder.
      reply
        .status(206)
        .header('ETag', etag)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${st.bytes}`)
        .header('Content-Length', range.end - range.start + 1);
      return reply.send(blobs.stream(sha256, range));
    }
    const enc =
      st.bytes >= 1024 && st.bytes <= 32 * 1024 * 1024
        ? pickEncoding(req.headers['accept-encoding'])
        : undefined;
    if (enc) {
      const copy = encoded.get(sha256, enc);
      if (copy) {
        return reply
          .header('ETag', encodedEtag(etag, enc))
          .header('Content-Encoding', enc)
          .header('Content-Length', copy.length)
          .send(copy);
      }
      if (copy === undefined) encoded.fill(sha256, enc, () => blobs.get(sha256));
    }
    reply.header('ETag', etag).header('Content-Length', st.bytes);
    return reply.send(blobs.stream(sha256));
  });
}
