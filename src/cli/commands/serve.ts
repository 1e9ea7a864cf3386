import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { createServer, listen } from '../../server/app.ts';
import { num, type CliOption, type Command } from '../main.ts';

export const serveOptions = {
  host: {
    type: 'string',
    default: '127.0.0.1',
    description: 'address to listen on (0.0.0.0 for all)',
  },
  port: { type: 'string', default: '8080', description: 'port' },
} satisfies Record<string, CliOption>;

/** The demo site's build output, served at `/`. */
export const DIST_DIR = resolve(import.meta.dirname, '../../../dist');

/** Starts the server on an export folder and resolves once it listens; returns its URL. */
export async function startServer(exportDir: string, v: Record<string, unknown>): Promise<string> {
  if (!existsSync(join(exportDir, 'manifest.json'))) {
    throw new LocalrecError(
      'not-found',
      `no manifest.json in ${exportDir}; run \`localrec export\` first`,
    );
  }
  const host = String(v['host'] ?? '127.0.0.1');
  const port = num(v, 'port', { int: true, min: 0, max: 65535 }) ?? 8080;
  const app = createServer({
    exportDir,
    staticDir: existsSync(join(DIST_DIR, 'index.html')) ? DIST_DIR : undefined,
  });
  const url = await listen(app, { host, port, log: () => undefined });
  const stop = async () => {
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return url;
}

export const serveCommand: Command = {
  summary: 'serve an export folder (manifest + blobs) and the demo site',
  usage: 'localrec serve --models <export dir> [--host 127.0.0.1] [--port 8080]',
  options: {
    models: { type: 'string', description: 'export folder (manifest.json + blobs/)' },
    ...serveOptions,
  },
  async run(v) {
    const dir = v['models'];
    if (typeof dir !== 'string')
      throw new LocalrecError('bad-input', '--models is required (an export folder)');
    const url = await startServer(dir, v);
    process.stderr.write(`localrec serving ${dir} at ${url}\n`);
    return { url, models: dir };
  },
};
