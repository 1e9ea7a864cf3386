import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DELTA_MEDIA_TYPE } from '../../core/delta.ts';
import { LocalrecError } from '../../core/errors.ts';
import { ApiError } from '../errors.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { publicRound, type RoundService } from '../rounds.ts';

const ROUND_ID = '^[1-9][0-9]{0,9}$';

/** The media type update posts carry. */
export { DELTA_MEDIA_TYPE };

/**
 * Federated intake: `GET /v1/rounds/current` and `POST /v1/rounds/:id/updates`.
 *
 * An update post is checked in this order, cheapest first, and nothing is stored unless every
 * check passes: rate limit (per client IP, before the body is read), declared length against
 * the round's delta size, media type, the delta's form (magic, version, checksum, fields), its
 * fit to the round (round id, base model, slice count and sizes, clip norms), then it is counted
 * in a transaction. Answers: 202 `{ roundId, updateId, receipt }` — the same again for a replay
 * of the same bytes — or a JSON error.
 */
export function registerRoundRoutes(
  app: FastifyInstance,
  rounds: RoundService | undefined,
  limiter: RateLimiter,
  metrics: ServerMetrics,
): void {
  const need = (): RoundService => {
    if (!rounds) {
      throw new LocalrecError(
        'not-loaded',
        'federated learning is off on this server: start it with --rounds sqlite:<file>',
      );
    }
    return rounds;
  };

  app.get('/v1/rounds/current', async (_req, reply) => {
    const svc = need();
    const r = await svc.store.currentRound();
    if (!r) throw new LocalrecError('not-found', 'no federated round is open now; try again later');
    const entry = await svc.round(r.id);
    return reply.header('Cache-Control', 'no-store').send(publicRound(r, entry!.maxBytes));
  });

  const fail = (code: string) => metrics.updates.inc({ outcome: code });

  app.post<{ Params: { id: string } }>(
    '/v1/rounds/:id/updates',
    {
      schema: {
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: ROUND_ID } },
          required: ['id'],
        },
      },
      // Before the body is read: a flood or an oversized upload costs the server next to nothing.
      onRequest: async (req: FastifyRequest<{ Params: { id: string } }>) => {
        const wait = limiter.take(req.ip);
        if (wait > 0) {
          fail('rate-limited');
          throw new ApiError(
            'rate-limited',
            `too many update posts from ${req.ip}; retry in ${Math.ceil(wait)} s`,
            {
              'Retry-After': String(Math.ceil(wait)),
            },
          );
        }
        const svc = need();
        const id = (req.params as { id?: string }).id ?? '';
        if (!new RegExp(ROUND_ID).test(id)) return;
        const r = await svc.round(Number(id));
        const declared = Number(req.headers['content-length']);
        if (r && Number.isFinite(declared) && declared > r.maxBytes) {
          fail('too-large');
          throw new ApiError(
            'too-large',
            `a delta for round ${id} is ${r.maxBytes} bytes; this body declares ${declared}`,
          );
        }
      },
    },
    async (req, reply) => {
      const svc = need();
      try {
        if (!Buffer.isBuffer(req.body)) {
          throw new ApiError(
            'unsupported-media-type',
            `post the binary delta as ${DELTA_MEDIA_TYPE} (see src/core/delta.ts)`,
          );
        }
        const id = Number(req.params.id);
        const { input } = await svc.check(id, req.body);
        const out = await svc.submit(input);
        switch (out.status) {
          case 'accepted':
          case 'replay':
            metrics.updates.inc({ outcome: out.status });
            return reply
              .status(202)
              .header('Cache-Control', 'no-store')
              .send({ roundId: id, updateId: input.updateId, receipt: out.receipt });
          case 'conflict':
            throw new ApiError(
              'conflict',
              `update id ${input.updateId} was already counted in round ${id} with different contents; use a new id`,
            );
          case 'not-open':
            throw new ApiError(
              'conflict',
              `round ${id} is ${out.state} and takes no more updates; see /v1/rounds/current`,
            );
          case 'not-found':
            throw new LocalrecError('not-found', `no round ${id}`);
        }
      } catch (e) {
        fail((e as { code?: string }).code ?? 'internal');
        throw e;
      }
    },
  );
}
