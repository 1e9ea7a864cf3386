import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { LocalrecError } from '../core/errors.ts';
import { registerBlobRoute } from './blob-route.ts';
import { etagMatches } from './etag.ts';
import { handleError, handleNotFound } from './errors.ts';
import { ManifestFile } from './manifest-file.ts';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** A folder written by `localrec export`: `manifest.json` and `blobs/<sha256>`. */
  exportDir: string;
  /** The demo site (vite build output, usually `dist/`), served at `/`. Omit for an API-only server. */
  staticDir?: string;
  /** Fastify's logger option (`true` for JSON request logs). Default: off. */
  logger?: FastifyServerOptions['logger'];
}

/**
 * Builds the localrec HTTP server (not yet listening; see {@link listen}):
 *
 * - `GET /v1/manifest`: the current manifest, `no-cache` + strong ETag, so clients revalidate
 *   on every load but only download it when it changed.
 * - `GET /v1/blobs/:sha256`: immutable content (long cache, ETag, Range).
 * - `GET /healthz`: `{ ok: true, modelVersion }`, 503 while nothing is exported.
 * - the demo site from `staticDir` at `/`.
 *
 * Every error is JSON `{ error: { code, message } }`, with the status from `httpStatusForCode`.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  const exportDir = resolve(options.exportDir);
  if (!isDir(exportDir)) {
    throw new LocalrecError(
      'not-found',
      `export folder ${exportDir} does not exist; run \`localrec export\` first`,
    );
  }
  const app = Fastify({ logger: options.logger ?? false });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);

  const manifest = new ManifestFile(exportDir);
  app.get('/v1/manifest', async (req, reply) => {
    const m = await manifest.current();
    reply.header('Cache-Control', 'no-cache').header('ETag', m.etag);
    if (etagMatches(req.headers['if-none-match'], m.etag)) return reply.status(304).send();
    return reply.type('application/json; charset=utf-8').send(m.bytes);
  });

  registerBlobRoute(app, exportDir);

  app.get('/healthz', async (_req, reply) => {
    const m = await manifest.current();
    return reply
      .header('Cache-Control', 'no-store')
      .send({ ok: true, modelVersion: m.modelVersion });
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

/** Starts listening, logs `localrec serving on <url>`, and returns that URL. */
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
