import type { FastifyInstance } from 'fastify';
import { encodedEtag, etagMatches } from '../etag.ts';
import { compress, pickEncoding, type Published } from '../published.ts';

/**
 * `GET /v1/manifest`: the current (signed) manifest, `no-cache` + strong ETag, so clients
 * revalidate on every load but download it only when it changed. Manifests over 1 KB are sent
 * compressed to clients that accept it (compressed once per version).
 */
export function registerManifestRoute(app: FastifyInstance, published: Published): void {
  app.get('/v1/manifest', async (req, reply) => {
    const m = await published.current();
    reply
      .header('Cache-Control', 'no-cache')
      .header('Vary', 'Accept-Encoding')
      .type('application/json; charset=utf-8');
    if (etagMatches(req.headers['if-none-match'], m.etag))
      return reply.header('ETag', m.etag).status(304).send();
    const enc = m.bytes.length > 1024 ? pickEncoding(req.headers['accept-encoding']) : undefined;
    if (enc) {
      const body = (m.encoded[enc] ??= compress(m.bytes, enc));
      return reply
        .header('ETag', encodedEtag(m.etag, enc))
        .header('Content-Encoding', enc)
        .send(body);
    }
    return reply
      .header('ETag', m.etag)
      .send(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
  });
}
