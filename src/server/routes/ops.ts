import type { FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../metrics.ts';
import type { Published } from '../published.ts';
import type { RoundService } from '../rounds.ts';

/** `GET /healthz` (503 while nothing is published) and `GET /metrics` (Prometheus text). */
export function registerOpsRoutes(
  app: FastifyInstance,
  published: Published,
  rounds: RoundService | undefined,
  metrics: ServerMetrics,
): void {
  app.get('/healthz', async (_req, reply) => {
    const m = await published.current();
    const round = rounds ? await rounds.store.currentRound() : undefined;
    return reply.header('Cache-Control', 'no-store').send({
      ok: true,
      modelVersion: m.modelVersion,
      manifestVersion: m.version,
      signed: m.signed,
      openRound: round?.id ?? null,
    });
  });

  app.get('/metrics', async (_req, reply) =>
    reply
      .header('Cache-Control', 'no-store')
      .type('text/plain; version=0.0.4; charset=utf-8')
      .send(metrics.render()),
  );
}
