/**
 * A second observer for the privacy test: the server records every request it answers
 * (method, url, headers, body), and a tiny side server on 127.0.0.1 hands the record to the
 * tests (`GET {logUrl}/log`). The Playwright capture in the browser and this log must agree —
 * a request the browser capture missed (from a worker, a service worker, a beacon) still shows
 * up here.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** One request as the server saw it. */
export interface LoggedRequest {
  seq: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The body as base64 (binary posts), or '' when there was none. */
  body: string;
  status: number;
}

export interface RequestLog {
  /** Base URL of the side server (`http://127.0.0.1:<port>`). */
  url: string;
  close(): Promise<void>;
}

function bodyBase64(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (Buffer.isBuffer(body)) return body.toString('base64');
  if (typeof body === 'string') return Buffer.from(body).toString('base64');
  return Buffer.from(JSON.stringify(body)).toString('base64');
}

/** Records every request `server` answers (call before it listens) and serves the record. */
export async function attachRequestLog(server: FastifyInstance): Promise<RequestLog> {
  const entries: LoggedRequest[] = [];
  server.addHook('onResponse', async (req, reply) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    entries.push({
      seq: entries.length,
      method: req.method,
      url: req.url,
      headers,
      body: bodyBase64(req.body),
      status: reply.statusCode,
    });
  });
  const side: Server = createHttpServer((req, res) => {
    if (req.url === '/log') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(entries));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => side.listen(0, '127.0.0.1', ok));
  const { port } = side.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => side.close(() => ok())),
  };
}
