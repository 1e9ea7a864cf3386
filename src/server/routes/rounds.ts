import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DELTA_MEDIA_TYPE } from '../../core/delta.ts';
import { LocalrecError } from '../../core/errors.ts';
import { clientNetwork } from '../client-network.ts';
import { ApiError } from '../errors.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { publicRound, TICKET_PATTERN, type RoundService } from '../rounds.ts';
import type { TicketProblem, UpdateOutcome } from '../store/round-store.ts';

const ROUND_ID = '^[1-9][0-9]{0,9}$';
const TICKET_HEADER = /^Ticket ([A-Za-z0-9_-]+)$/;

/** The media type update posts carry. */
export { DELTA_MEDIA_TYPE };

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: ROUND_ID } },
  required: ['id'],
} as const;

/**
 * Federated intake: `GET /v1/rounds/current`, `POST /v1/rounds/:id/tickets` and
 * `POST /v1/rounds/:id/updates`.
 *
 * A ticket request (no body) is rate-limited per client network (an IPv4 address or an IPv6
 * /64) and answered 201 `{ roundId, ticket, expiresAt }`: one report in that round. A network
 * gets a bounded number of tickets per round (403 past it); that bounds reports per network,
 * not per person.
 *
 * An update post carries `Authorization: Ticket <ticket>` and is checked in this order,
 * cheapest first, and nothing is stored unless every check passes: rate limit (per client
 * network, before the body is read), a ticket header, declared length against the round's delta
 * size, a place in the bounded intake (503 + Retry-After when full), media type, the delta's
 * form (magic, version, checksum, fields), its fit to the round (round id, base model, slice
 * count and sizes, clip norms, not all zero), then in the commit's transaction: the ticket (issued
 * for this round, unused, unexpired), values not already counted under another update id, and
 * the count. Answers: 202 `{ roundId, updateId, receipt }` — the same again for a replay of the
 * same bytes with the same ticket — or a JSON error.
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
  const fail = (code: string) => metrics.updates.inc({ outcome: code });
  /** The per-network rate limit, shared by ticket requests and update posts. */
  const limit = (req: FastifyRequest) => {
    const network = clientNetwork(req.ip);
    const wait = limiter.take(network);
    if (wait > 0) {
      fail('rate-limited');
      throw new ApiError(
        'rate-limited',
        `too many requests from your network (${network}); retry in ${Math.ceil(wait)} s`,
        { 'Retry-After': String(Math.ceil(wait)) },
      );
    }
  };
  /** A place in the bounded intake, given back once the answer has gone (or the client left). */
  const admit = (svc: RoundService, reply: FastifyReply) => {
    const release = svc.admit();
    reply.raw.once('close', release);
  };

  app.get('/v1/rounds/current', async (_req, reply) => {
    const svc = need();
    const r = await svc.store.currentRound();
    if (!r) throw new LocalrecError('not-found', 'no federated round is open now; try again later');
    const entry = await svc.round(r.id);
    return reply.header('Cache-Control', 'no-store').send(publicRound(r, entry!.maxBytes));
  });

  app.post<{ Params: { id: string } }>(
    '/v1/rounds/:id/tickets',
    {
      schema: { params: idParams },
      bodyLimit: 1024,
      onRequest: async (req, reply) => {
        limit(req);
        admit(need(), reply);
      },
    },
    async (req, reply) => {
      const id = Number(req.params.id);
      const t = await need().issueTicket(id, clientNetwork(req.ip));
      return reply
        .status(201)
        .header('Cache-Control', 'no-store')
        .send({ roundId: id, ticket: t.ticket, expiresAt: new Date(t.expiresAt).toISOString() });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/rounds/:id/updates',
    {
      schema: { params: idParams },
      // Before the body is read: a flood or an oversized upload costs the server next to nothing.
      onRequest: async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        limit(req);
        const svc = need();
        const id = (req.params as { id?: string }).id ?? '';
        const ticket = TICKET_HEADER.exec(req.headers.authorization ?? '')?.[1];
        if (ticket === undefined || !TICKET_PATTERN.test(ticket)) {
          fail('no-ticket');
          throw new ApiError(
            'unauthorized',
            `an update post needs a round ticket: POST /v1/rounds/${id}/tickets, then send it as Authorization: Ticket <ticket>`,
            { 'WWW-Authenticate': 'Ticket' },
          );
        }
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
        admit(svc, reply);
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
        const ticket = TICKET_HEADER.exec(req.headers.authorization ?? '')![1]!;
        const { updateId, outcome: out } = await svc.post(id, req.body, { ticket });
        if (out.status === 'accepted' || out.status === 'replay') {
          metrics.updates.inc({ outcome: out.status });
          return reply
            .status(202)
            .header('Cache-Control', 'no-store')
            .send({ roundId: id, updateId, receipt: out.receipt });
        }
        throw refusal(out, id, updateId);
      } catch (e) {
        fail((e as { code?: string }).code ?? 'internal');
        throw e;
      }
    },
  );
}

const TICKET_PROBLEMS: Record<TicketProblem, string> = {
  unknown: 'this server issued no such ticket',
  foreign: 'this ticket is for another round',
  expired: 'this ticket has expired',
  used: 'this ticket was used for another update (one report per ticket)',
};

/** The error answering an update the store did not count. */
function refusal(
  out: Exclude<UpdateOutcome, { status: 'accepted' | 'replay' }>,
  id: number,
  updateId: string,
): Error {
  switch (out.status) {
    case 'conflict':
      return new ApiError(
        'conflict',
        `update id ${updateId} was already counted in round ${id} with different contents; use a new id`,
      );
    case 'same-values':
      return new ApiError(
        'conflict',
        `round ${id} has already counted an update with exactly these values under another update id; the same values count once`,
      );
    case 'other-ticket':
      return new ApiError(
        'conflict',
        `update ${updateId} was counted in round ${id} under another ticket; a retry must present the ticket it was first posted with`,
      );
    case 'ticket':
      return out.problem === 'used'
        ? new ApiError('conflict', `${TICKET_PROBLEMS.used}; get a new one for a new update`)
        : new ApiError(
            'unauthorized',
            `${TICKET_PROBLEMS[out.problem]}: get one with POST /v1/rounds/${id}/tickets`,
            { 'WWW-Authenticate': 'Ticket' },
          );
    case 'not-open':
      return new ApiError(
        'conflict',
        `round ${id} is ${out.state} and takes no more updates; see /v1/rounds/current`,
      );
    case 'not-found':
      return new LocalrecError('not-found', `no round ${id}`);
  }
}
