/**
 * `localrec/server`: the sync server as a library (Node) — the Fastify app `localrec serve`
 * runs, the stores it reads by URL, publishing an export under a signing key, and garbage
 * collection of old versions.
 *
 * ```ts
 * import { createServer, listen, openPublicationStore, publishExport, readSigningKey } from 'localrec/server';
 *
 * const key = await readSigningKey('site.key');
 * await publishExport('model/export', openPublicationStore('file:/srv/localrec'), key);
 * const app = createServer({ store: 'file:/srv/localrec', rounds: 'sqlite:/srv/localrec/rounds.db' });
 * await listen(app, { host: '0.0.0.0', port: 8080 });
 * ```
 *
 * @packageDocumentation
 */
export {
  createServer,
  DEFAULT_MAX_BODY_BYTES,
  listen,
  type ListenOptions,
  type LocalrecServer,
  type ServerOptions,
} from './app.ts';
export {
  openPublicationStore,
  openRoundStore,
  splitStoreUrl,
  type PublicationStore,
  type RoundStoreOptions,
} from './store/registry.ts';
export type { BlobRange, BlobStore } from './store/blob-store.ts';
export type { ManifestStore } from './store/manifest-store.ts';
export type {
  CloseReason,
  CountedUpdate,
  EncodedUpdate,
  Round,
  RoundSpec,
  RoundState,
  RoundStore,
  SliceSpec,
  TicketInput,
  TicketOutcome,
  TicketProblem,
  UpdateInput,
  UpdateOutcome,
} from './store/round-store.ts';
export { publishExport, publishIfNew, type PublishSummary } from './publish.ts';
export {
  ensureSigningKey,
  generateKeyFiles,
  newSigningKey,
  rawPublicKey,
  readSigningKey,
  signingKeyOf,
  signManifest,
  type SigningKey,
} from './keys.ts';
export { collectGarbage, type GcSummary } from './gc.ts';
export type { OnRoundClosing } from './rounds.ts';
export type { RateLimitOptions } from './rate-limit.ts';
export { httpStatusForCode, type ApiErrorCode, type ErrorBody } from './errors.ts';
export { isLocalrecError, LocalrecError, type LocalrecErrorCode } from '../core/errors.ts';
