import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyServerOptions } from 'fastify';
import { LocalrecError } from '../../core/errors.ts';
import { createServer, DEFAULT_MAX_BODY_BYTES, listen } from '../../server/app.ts';
import { staticRoot } from '../package-root.ts';
import { num, type CliOption, type Command } from '../command.ts';
import type { LocalrecServer } from '../../server/app.ts';
import type { OnRoundClosing } from '../../server/rounds.ts';
import { federatedServing } from '../federated/serve-federated.ts';
import { federatedFlags } from './federated-flags.ts';

/** Flags every command that starts a server takes (`serve`, `demo`). */
export const serveOptions = {
  host: {
    type: 'string',
    description: 'address to listen on, 0.0.0.0 for all (default 127.0.0.1; env LOCALREC_HOST)',
  },
  port: { type: 'string', description: 'port (default 8080; env LOCALREC_PORT)' },
} satisfies Record<string, CliOption>;

/** Flags of `serve` only. */
const serverFlags = {
  store: {
    type: 'string',
    description: 'blob + manifest store URL, e.g. file:/srv/localrec (env LOCALREC_STORE)',
  },
  models: { type: 'string', description: 'shorthand for --store file:<dir> on an export folder' },
  rounds: {
    type: 'string',
    description:
      'round store URL, e.g. sqlite:/srv/localrec/rounds.db; omit to turn federated intake off (env LOCALREC_ROUNDS)',
  },
  'cors-origins': {
    type: 'string',
    description:
      'comma-separated origins allowed to call the API, or * (env LOCALREC_CORS_ORIGINS)',
  },
  'admin-token': {
    type: 'string',
    description:
      'bearer token for /v1/admin/*; prefer the env LOCALREC_ADMIN_TOKEN (flags show in ps)',
  },
  'log-level': {
    type: 'string',
    description: 'fatal, error, warn, info, debug (default info; env LOCALREC_LOG_LEVEL)',
  },
  'rate-limit': {
    type: 'string',
    description:
      'update posts per second per client IP, 0 for none (default 10, burst 2×; env LOCALREC_RATE_LIMIT)',
  },
  'max-body-bytes': {
    type: 'string',
    description: `largest request body (default ${DEFAULT_MAX_BODY_BYTES})`,
  },
  'tickets-per-network': {
    type: 'string',
    description:
      'round tickets one client network (an IPv4 address or IPv6 /64) may take per round; one ticket is one report (default 4)',
  },
  'max-queued-updates': {
    type: 'string',
    description:
      'update posts and ticket requests the intake holds at once; past it, 503 with Retry-After (default 256; each waiting update holds its body)',
  },
  'trust-proxy': {
    type: 'string',
    description:
      'comma-separated addresses or CIDRs of your reverse proxies (e.g. 127.0.0.1,10.0.0.0/8): X-Forwarded-For is believed only from them, and the rate limit and round tickets count the client address it gives',
  },
} satisfies Record<string, CliOption>;

/** Flags of the learning loop (`serve --federated`). */
const loopFlags = {
  federated: {
    type: 'boolean',
    description:
      'run the learning loop: open rounds, aggregate each closed one with DP, publish the next signed version',
  },
  key: {
    type: 'string',
    description:
      'with --federated: the private key new versions are signed with (default .localrec/keys/localrec.key; env LOCALREC_KEY)',
  },
  'work-dir': {
    type: 'string',
    description:
      'with --federated: scratch folder for exports and optimizer state (default <store>/federated-work)',
  },
  ...federatedFlags,
} satisfies Record<string, CliOption>;

/** The demo site's build output (`dist/` in a checkout); what is served at `/` is staticRoot(). */
export { DIST_DIR } from '../package-root.ts';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A flag, else its environment variable, else undefined. */
function flagOrEnv(v: Record<string, unknown>, key: string, env: string): string | undefined {
  const x = v[key];
  if (typeof x === 'string') return x;
  const e = process.env[env];
  return e === undefined || e === '' ? undefined : e;
}

/**
 * The intake's limits from `--tickets-per-network` and `--max-queued-updates` (defaults 4 and
 * 256, as the server's own).
 *
 * @throws LocalrecError `bad-input` for a value that is not an integer ≥ 1.
 */
export function intakeLimits(v: Record<string, unknown>): {
  tickets: { perNetwork: number };
  maxQueuedUpdates: number;
} {
  return {
    tickets: { perNetwork: num(v, 'tickets-per-network', { int: true, min: 1 }) ?? 4 },
    maxQueuedUpdates: num(v, 'max-queued-updates', { int: true, min: 1 }) ?? 256,
  };
}

/** What {@link startServer} serves. */
export interface ServeTarget {
  /** Store URL (or a bare folder path). */
  store: string;
  rounds?: string;
  /** Log level when neither --log-level nor LOCALREC_LOG_LEVEL says. */
  defaultLogLevel?: string;
  /** The federated loop's closing hook. */
  onRoundClosing?: OnRoundClosing;
  /** Called once the server listens. */
  onListening?: (app: LocalrecServer) => Promise<void>;
}

/**
 * Starts the server and resolves once it listens; returns its URL. SIGTERM/SIGINT close it
 * gracefully: no new connections, in-flight requests answered, queued updates committed, stores
 * closed, then exit 0 (a second signal, or 10 s, exits at once with 1).
 */
export async function startServer(
  target: ServeTarget,
  v: Record<string, unknown>,
): Promise<string> {
  const host = flagOrEnv(v, 'host', 'LOCALREC_HOST') ?? '127.0.0.1';
  const port = num({ port: flagOrEnv(v, 'port', 'LOCALREC_PORT') ?? '8080' }, 'port', {
    int: true,
    min: 0,
    max: 65535,
  })!;
  const level = flagOrEnv(v, 'log-level', 'LOCALREC_LOG_LEVEL') ?? target.defaultLogLevel ?? 'info';
  if (!LEVELS.includes(level))
    throw new LocalrecError('bad-input', `--log-level must be one of ${LEVELS.join(', ')}`);
  const rate = num(
    { 'rate-limit': flagOrEnv(v, 'rate-limit', 'LOCALREC_RATE_LIMIT') ?? '10' },
    'rate-limit',
    { min: 0 },
  )!;
  const cors = flagOrEnv(v, 'cors-origins', 'LOCALREC_CORS_ORIGINS');
  // pino's JSON lines go to stderr: stdout carries only the command's JSON summary.
  const logger: FastifyServerOptions['logger'] = { level, stream: process.stderr };
  const app = createServer({
    store: target.store,
    rounds: target.rounds,
    staticDir: staticRoot(),
    logger,
    adminToken: flagOrEnv(v, 'admin-token', 'LOCALREC_ADMIN_TOKEN'),
    corsOrigins: cors
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    rateLimit: { perSecond: rate },
    maxBodyBytes: num(v, 'max-body-bytes', { int: true, min: 1024 }) ?? DEFAULT_MAX_BODY_BYTES,
    trustProxy: v['trust-proxy'] as string | undefined,
    ...intakeLimits(v),
    ...(target.onRoundClosing && { onRoundClosing: target.onRoundClosing }),
  });
  const url = await listen(app, { host, port, log: () => undefined });
  await target.onListening?.(app);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    setTimeout(() => process.exit(1), 10_000).unref();
    app.close().then(
      () => process.exit(0),
      (e: unknown) => {
        app.log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return url;
}

export const serveCommand: Command = {
  summary: 'run the sync server: signed manifest, blobs, federated rounds (and the demo site)',
  usage:
    'localrec serve --store file:<dir> [--rounds sqlite:<file>] [--host 127.0.0.1] [--port 8080]\n' +
    '       localrec serve --models <export dir>',
  options: { ...serverFlags, ...serveOptions, ...loopFlags },
  async run(v) {
    const models = v['models'];
    let store = flagOrEnv(v, 'store', 'LOCALREC_STORE');
    if (typeof models === 'string') {
      if (!existsSync(join(models, 'manifest.json')))
        throw new LocalrecError(
          'not-found',
          `no manifest.json in ${models}; run \`localrec export\` first`,
        );
      store = `file:${resolve(models)}`;
    }
    if (store === undefined)
      throw new LocalrecError(
        'bad-input',
        '--store is required (e.g. file:/srv/localrec), or --models <export dir>',
      );
    let rounds = flagOrEnv(v, 'rounds', 'LOCALREC_ROUNDS');
    if (!v['federated']) {
      const url = await startServer({ store, rounds }, v);
      process.stderr.write(`localrec serving ${store} at ${url}\n`);
      return { url, store, rounds: rounds ?? null };
    }
    const loop = await federatedServing(v, store, rounds);
    rounds = loop.rounds;
    let summary: Record<string, unknown> = {};
    const url = await startServer(
      {
        store,
        rounds,
        onRoundClosing: loop.onRoundClosing,
        onListening: async (app) => {
          summary = await loop.start(app);
        },
      },
      v,
    );
    process.stderr.write(`localrec serving ${store} at ${url}, learning from federated rounds\n`);
    return { url, store, rounds, ...summary };
  },
};
