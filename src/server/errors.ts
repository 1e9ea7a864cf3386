import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isLocalrecError, type LocalrecErrorCode } from '../core/errors.ts';

/**
 * Codes only the HTTP API answers with, on top of LocalrecError's: they describe the request's
 * relation to the server (too big, too fast, not allowed, clashing), not the data in it.
 */
export type ApiOnlyCode =
  | 'too-large'
  | 'rate-limited'
  | 'unauthorized'
  | 'forbidden'
  | 'conflict'
  | 'unsupported-media-type'
  | 'overloaded';
/** Every `code` an error response can carry. */
export type ApiErrorCode = LocalrecErrorCode | ApiOnlyCode;

/** An error that only makes sense as an HTTP answer (see {@link ApiOnlyCode}). */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly headers: Record<string, string>;
  constructor(code: ApiErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.headers = headers;
  }
}

/**
 * The one place an error code becomes an HTTP status. A `Record` over the code union means a
 * new code is a compile error here until someone decides its status.
 *
 * ```ts
 * import { httpStatusForCode, isLocalrecError } from 'localrec/server';
 *
 * // A route of your own beside the localrec app, answering with the same statuses:
 * const statusOf = (e: unknown) => (isLocalrecError(e) ? httpStatusForCode[e.code] : 500);
 * ```
 */
export const httpStatusForCode: Record<ApiErrorCode, number> = {
  'too-large': 413,
  'rate-limited': 429,
  unauthorized: 401,
  // Understood and refused, and asking again will not help (a network's round tickets used up).
  forbidden: 403,
  conflict: 409,
  'unsupported-media-type': 415,
  // The intake's queue is full: try again after Retry-After.
  overloaded: 503,
  'bad-input': 400,
  'bad-format': 400,
  'unsupported-version': 400,
  integrity: 422,
  'not-found': 404,
  // The server itself has nothing loaded to serve (no export yet): a temporary condition.
  'not-loaded': 503,
  'device-unavailable': 503,
  // Only the browser raises it (no LLM engine fits the device); never expected over HTTP.
  'llm-unavailable': 503,
  // Only the browser's storage raises it; 507 Insufficient Storage should one ever reach HTTP.
  quota: 507,
  internal: 500,
};

/** The JSON body of every error response: `{ error: { code, message } }`. */
export interface ErrorBody {
  error: { code: ApiErrorCode; message: string };
}

/** Builds the error body; kept tiny so every route answers errors in the same shape. */
export function errorBody(code: ApiErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Maps an HTTP status from Fastify's own errors (body parser, schema validation) to a code. */
function codeForStatus(status: number): ApiErrorCode {
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 413) return 'too-large';
  if (status === 415) return 'unsupported-media-type';
  if (status === 429) return 'rate-limited';
  if (status >= 400 && status < 500) return 'bad-input';
  return 'internal';
}

/**
 * Fastify error handler: LocalrecErrors keep their code and message; Fastify's own 4xx errors
 * (bad JSON, too large, validation) become `bad-input`; anything else is logged and answered
 * with a generic 500 so internals (paths, stack traces) never reach the client.
 */
export function handleError(
  err: FastifyError | Error,
  req: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (err instanceof ApiError) {
    return reply
      .status(httpStatusForCode[err.code])
      .headers(err.headers)
      .send(errorBody(err.code, err.message));
  }
  if (isLocalrecError(err)) {
    const status = httpStatusForCode[err.code];
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.status(status).send(errorBody(err.code, err.message));
  }
  const status = (err as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return reply.status(status).send(errorBody(codeForStatus(status), err.message));
  }
  req.log.error({ err }, 'unhandled error');
  return reply.status(500).send(errorBody('internal', 'internal server error; see the server log'));
}

/** Not-found handler: unknown routes get the same JSON error shape as everything else. */
export function handleNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = (req.url.split('?')[0] ?? '').slice(0, 200);
  return reply.status(404).send(errorBody('not-found', `no route for ${req.method} ${path}`));
}
