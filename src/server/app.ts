import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyCors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { LocalrecError } from '../core/errors.ts';
import { handleError, handleNotFound } from './errors.ts';
import { ServerMetrics } from './metrics.ts';
import { Published } from './published.ts';
import { RateLimiter, type RateLimitOptions } from './rate-limit.ts';
import { RoundService, type OnRoundClosing } from './rounds.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerBlobRoutes } from './routes/blobs.ts';
import { registerLlmRoutes } from './routes/llm.ts';
import { registerManifestRoute } from './routes/manifest.ts';
import { registerOpsRoutes } from './routes/ops.ts';
import { DELTA_MEDIA_TYPE, registerRoundRoutes } from './routes/rounds.ts';
import { openPublicationStore, openRoundStore, type PublicationStore } from './store/registry.ts';
import type { RoundStore } from './store/round-store.ts';
import { ThreadedRoundStore } from './store/sqlite-thread.ts';
import { trustedProxies } from './trust-proxy.ts';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /**
   * Where blobs and manifests are: a store URL (`file:/srv/localrec`, `memory:`) or an opened
   * store. A folder written by `localrec export` is a valid `file:` store.
   */
  store?: string | PublicationStore;
  /** Shorthand for `store: 'file:<exportDir>'`; the folder must exist. */
  exportDir?: string;
  /** Round store URL (`sqlite:/srv/localrec/rounds.db`) or an opened one; omit to turn federated intake off. */
  rounds?: string | RoundStore;
  /** The demo site (vite build output, usually `dist/`), served at `/`. Omit for an API-only server. */
  staticDir?: string;
  /** Fastify's logger option (pino; `true` for JSON request logs). Default: off. */
  logger?: FastifyServerOptions['logger'];
  /** Bearer token for `/v1/admin/*`; without one the admin API answers 401. */
  adminToken?: string;
  /** Origins allowed to call the API from a browser (`*` for any); default: same origin only. */
  corsOrigins?: string[];
  /**
   * Ticket requests and update posts per client network (an IPv4 address, an IPv6 /64);
   * default 10/s, burst 20. `{ perSecond: 0 }` turns it off.
   */
  rateLimit?: RateLimitOptions;
  /**
   * Round tickets: how many one client network may take per round (default 4), and how long
   * one is good for (default 3600 s, never past the round's deadline). Every update post needs
   * one; one ticket is one report.
   */
  tickets?: { perNetwork?: number; ttlSeconds?: number };
  /**
   * Most update posts and ticket requests in the intake at once (being checked or waiting for
   * their commit); past it the answer is 503 with Retry-After. Default 256.
   */
  maxQueuedUpdates?: number;
  /** Largest request body accepted, in bytes (default 16 MiB); also caps a round's delta size. */
  maxBodyBytes?: number;
  /**
   * The proxies in front of the server whose `X-Forwarded-For` is believed: addresses or CIDR
   * blocks (`'10.0.0.0/8,127.0.0.1'` or a list; also `loopback`, `linklocal`, `uniquelocal`).
   * The rate limit and round tickets then count the client address they report. Default: none
   * (the socket's peer is the client). There is no "trust any": `true` is refused.
   */
  trustProxy?: string | readonly string[];
  /** Called when a round reaches `closing`, before it is marked `closed`. */
  onRoundClosing?: OnRoundClosing;
}

/** What {@link createServer} adds to the Fastify instance. */
export interface LocalrecServer extends FastifyInstance {
  localrec: { published: Published; rounds: RoundService | undefined; metrics: ServerMetrics };
}

/** The largest request body {@link createServer} accepts unless `maxBodyBytes` says (16 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Builds the localrec sync server (not yet listening; see {@link listen}), the v1 API of
 * ARCHITECTURE.md:
 *
 * - `GET /v1/manifest`: the current signed manifest, `no-cache` + strong ETag (304s)
 * - `GET /v1/blobs/:sha256`: immutable content (long cache, ETag, Range, br/gzip where it helps)
 * - `GET /v1/rounds/current`, `POST /v1/rounds/:id/tickets`, `POST /v1/rounds/:id/updates`:
 *   federated intake (a round ticket per report; routes/rounds.ts)
 * - `/v1/admin/*`: rounds, for the owner (token)
 * - `GET /healthz`, `GET /metrics`
 * - the demo site from `staticDir` at `/`
 *
 * Every error is JSON `{ error: { code, message } }` with the status from `httpStatusForCode`.
 * Closing the instance (`app.close()`) finishes in-flight requests, commits queued updates and
 * closes the stores.
 *
 * ```ts
 * import { createServer, listen } from 'localrec/server';
 *
 * const app = createServer({
 *   store: 'file:/srv/localrec', // where `localrec publish` wrote
 *   rounds: 'sqlite:/srv/localrec/rounds.db', // leave out to turn federated intake off
 *   corsOrigins: ['https://shop.example'], // the site embedding the SDK, if on another origin
 * });
 * await listen(app, { host: '0.0.0.0', port: 8080 });
 * process.once('SIGTERM', () => void app.close());
 * ```
 */
export function createServer(options: ServerOptions): LocalrecServer {
  let store: PublicationStore;
  if (options.exportDir !== undefined) {
    const dir = resolve(options.exportDir);
    if (!isDir(dir)) {
      throw new LocalrecError(
        'not-found',
        `export folder ${dir} does not exist; run \`localrec export\` first`,
      );
    }
    store = openPublicationStore(`file:${dir}`);
  } else if (options.store !== undefined) {
    store = typeof options.store === 'string' ? openPublicationStore(options.store) : options.store;
  } else {
    throw new LocalrecError('bad-input', 'createServer needs a store (URL) or an exportDir');
  }
  // SQLite's commits block the thread that makes them: the server's round store gets its own.
  const roundStore =
    typeof options.rounds === 'string'
      ? openRoundStore(options.rounds, { thread: true })
      : options.rounds;
  const trustProxy = trustedProxies(options.trustProxy);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: maxBodyBytes,
    trustProxy: trustProxy ?? false,
    // Request ids make a log line findable; they need not be unique beyond one process.
    requestIdHeader: false,
    // Errors Fastify raises before routing (a malformed URL, a bad Content-Type header) get the
    // same JSON shape as every other error.
    frameworkErrors: (err, req, reply) => handleError(err, req, reply),
  }) as unknown as LocalrecServer;
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  app.addContentTypeParser(DELTA_MEDIA_TYPE, { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );

  const metrics = new ServerMetrics();
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.duration.observe({ route }, reply.elapsedTime / 1000);
  });

  if (options.corsOrigins && options.corsOrigins.length > 0) {
    const any = options.corsOrigins.includes('*');
    app.register(fastifyCors, {
      origin: any ? '*' : options.corsOrigins,
      methods: ['GET', 'HEAD', 'POST'],
      exposedHeaders: ['ETag', 'Content-Range', 'Accept-Ranges', 'Retry-After'],
      maxAge: 600,
    });
  }

  const published = new Published(store, (msg) => app.log.error(msg));
  const rounds = roundStore
    ? new RoundService({
        store: roundStore,
        metrics,
        onClosing: options.onRoundClosing,
        maxQueue: options.maxQueuedUpdates,
        ticketsPerNetwork: options.tickets?.perNetwork,
        ticketSeconds: options.tickets?.ttlSeconds,
        log: (msg, err) => app.log.error({ err }, msg),
      })
    : undefined;
  const limiter = new RateLimiter(options.rateLimit ?? { perSecond: 10, burst: 20 });
  app.localrec = { published, rounds, metrics };

  registerManifestRoute(app, published);
  registerBlobRoutes(app, published);
  registerLlmRoutes(app, published);
  registerRoundRoutes(app, rounds, limiter, metrics);
  registerAdminRoutes(app, { token: options.adminToken, rounds, published, maxBodyBytes });
  registerOpsRoutes(app, published, rounds, metrics);

  app.addHook('onReady', async () => {
    // A round store that cannot open (a newer schema, a bad path) stops the server starting.
    if (roundStore instanceof ThreadedRoundStore) await roundStore.ready();
    rounds?.start();
  });
  // Graceful close: answers sent while closing ask the client to drop the connection, and idle
  // keep-alive connections are closed as they appear, so close() does not wait out the
  // keep-alive timeout after the last in-flight request.
  let closing = false;
  let reaper: NodeJS.Timeout | undefined;
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('Connection', 'close');
  });
  app.addHook('preClose', async () => {
    closing = true;
    reaper = setInterval(() => app.server.closeIdleConnections(), 50);
    reaper.unref();
  });
  app.addHook('onClose', async () => {
    clearInterval(reaper);
    // Runs after the HTTP server has stopped and in-flight requests have been answered.
    await rounds?.stop();
    await roundStore?.close();
    await store.blobs.close();
    await store.manifests.close();
  });

  if (options.staticDir !== undefined) {
    const root = resolve(options.staticDir);
    if (!isDir(root)) {
      throw new LocalrecError(
        'not-found',
        `static folder ${root} does not exist; run \`npm run build\` first`,
      );
    }
    app.register(fastifyStatic, {
      root,
      prefix: '/',
      index: 'index.html',
      // Serves the `x.br` / `x.gz` the build writes next to `x` (vite.config.ts) to clients
      // that accept them: ONNX Runtime's .wasm drops from ~28 MB to ~5 MB on the wire.
      preCompressed: true,
      setHeaders: (reply, path) => {
        // Vite puts a content hash in every file name under assets/, so those never change;
        // index.html and public/ files keep their names and must be revalidated.
        const immutable = /[\\/]assets[\\/]/.test(path);
        reply.header(
          'Cache-Control',
          immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
    // @fastify/static answers `/` with 404 when preCompressed is on and the client sends
    // Accept-Encoding (its directory-index fallback skips the uncompressed file), so the
    // index gets its own route.
    app.get('/', (_req, reply) => reply.sendFile('index.html'));
  }
  return app;
}

/** Options of {@link listen}. */
export interface ListenOptions {
  /** Default `127.0.0.1`: the demo is local unless asked otherwise. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Where the URL line goes. Default: stderr, where the CLI prints its human progress. */
  log?: (line: string) => void;
}

/**
 * Starts listening, logs `localrec serving on <url>`, and returns that URL (one a browser can
 * open: `localhost` for a wildcard host).
 *
 * ```ts
 * import { createServer, listen } from 'localrec/server';
 *
 * const app = createServer({ store: 'memory:' });
 * const url = await listen(app, { port: 0, log: () => {} }); // a free port, quietly: for a test
 * const health = await fetch(new URL('healthz', url));
 * await app.close();
 * ```
 */
export async function listen(app: FastifyInstance, options: ListenOptions = {}): Promise<string> {
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 8080 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (options.port ?? 8080);
  // A wildcard bind is not an address a browser can open; show localhost instead.
  const shown =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown}:${port}/`;
  (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(
    `localrec serving on ${url}`,
  );
  return url;
}

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}
