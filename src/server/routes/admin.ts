import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LocalrecError } from '../../core/errors.ts';
import { ApiError } from '../errors.ts';
import type { Published } from '../published.ts';
import { toRoundSpec, type RoundSpecInput } from '../round-spec.ts';
import { adminRound, type RoundService } from '../rounds.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Owner-only endpoints, behind `Authorization: Bearer <admin token>` (off when the server has
 * no token). Publishing is not here: `localrec publish` writes the store directly, so the
 * signing key never has to be on, or be sent to, the serving machine.
 *
 * - `POST /v1/admin/rounds`: open a round (JSON: baseModelVersion (default: the current
 *   manifest's), slices, clipNorm, minReports, deadline | durationSeconds)
 * - `GET /v1/admin/rounds`, `GET /v1/admin/rounds/:id`: rounds with their report counts
 * - `POST /v1/admin/rounds/:id/close`: close a round now
 */
export function registerAdminRoutes(
  app: FastifyInstance,
  opts: {
    token: string | undefined;
    rounds: RoundService | undefined;
    published: Published;
    maxBodyBytes: number;
  },
): void {
  const want = opts.token ? digest(opts.token) : undefined;
  const auth = async (req: FastifyRequest) => {
    if (!want)
      throw new ApiError(
        'unauthorized',
        'the admin API is off: start the server with --admin-token (or LOCALREC_ADMIN_TOKEN)',
      );
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    // Compared as digests, in constant time: the token's length and prefix leak nothing.
    if (!m || !timingSafeEqual(digest(m[1]!), want))
      throw new ApiError(
        'unauthorized',
        'missing or wrong admin token (Authorization: Bearer <token>)',
        {
          'WWW-Authenticate': 'Bearer',
        },
      );
  };
  const rounds = (): RoundService => {
    if (!opts.rounds)
      throw new LocalrecError(
        'not-loaded',
        'federated learning is off on this server: start it with --rounds sqlite:<file>',
      );
    return opts.rounds;
  };
  const idParams = {
    type: 'object',
    properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' } },
    required: ['id'],
  } as const;

  app.post<{ Body: Omit<RoundSpecInput, 'baseModelVersion'> & { baseModelVersion?: string } }>(
    '/v1/admin/rounds',
    {
      onRequest: auth,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['slices', 'clipNorm', 'minReports'],
          properties: {
            baseModelVersion: { type: 'string', minLength: 1, maxLength: 255 },
            slices: {
              type: 'array',
              minItems: 1,
              maxItems: 4096,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['name', 'shape'],
                properties: {
                  name: { type: 'string', minLength: 1, maxLength: 128 },
                  shape: {
                    type: 'array',
                    minItems: 1,
                    maxItems: 8,
                    items: { type: 'integer', minimum: 1 },
                  },
                },
              },
            },
            clipNorm: { type: 'number', exclusiveMinimum: 0 },
            minReports: { type: 'integer', minimum: 1 },
            deadline: { type: 'string', minLength: 1, maxLength: 64 },
            durationSeconds: { type: 'number', exclusiveMinimum: 0 },
          },
        },
      },
    },
    async (req, reply) => {
      const svc = rounds();
      const base = req.body.baseModelVersion ?? (await opts.published.current()).modelVersion;
      const spec = toRoundSpec(
        { ...req.body, baseModelVersion: base },
        Date.now(),
        opts.maxBodyBytes,
      );
      const r = await svc.store.openRound(spec, Date.now()).catch((e: unknown) => {
        throw e instanceof LocalrecError && /still open/.test(e.message)
          ? new ApiError('conflict', e.message)
          : e;
      });
      req.log.info({ round: r.id }, 'round opened');
      return reply.status(201).send(adminRound(r));
    },
  );

  app.get('/v1/admin/rounds', { onRequest: auth }, async () => ({
    rounds: (await rounds().store.listRounds()).map(adminRound),
  }));

  app.get<{ Params: { id: string } }>(
    '/v1/admin/rounds/:id',
    { onRequest: auth, schema: { params: idParams } },
    async (req) => {
      const r = await rounds().store.getRound(Number(req.params.id));
      if (!r) throw new LocalrecError('not-found', `no round ${req.params.id}`);
      return adminRound(r);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/admin/rounds/:id/close',
    { onRequest: auth, schema: { params: idParams } },
    async (req) => adminRound(await rounds().closeRound(Number(req.params.id))),
  );
}
