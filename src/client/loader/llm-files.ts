/**
 * The owner's LLM, from the signed manifest to an {@link LlmModel} the llm worker loads (issue
 * #15 item 2): each file of the manifest's `llm` section (src/core/llm-manifest.ts) is a
 * content-addressed blob read through the SDK's {@link Loader} — from the visitor's cache or
 * `GET /v1/blobs/<sha256>` on the sync server, its size and sha256 checked before use, fetched
 * once more on a mismatch and then refused with an `integrity` error, and kept in the same
 * {@link BlobCache} as the recommender's blobs under the kind `llm` (so `forget()` deletes it and
 * eviction can reclaim it). No hub URL is ever contacted.
 *
 * - wllama: the verified GGUF goes to the worker as a Blob (`gguf: { blob }`), so the engine
 *   downloads nothing itself.
 * - web-llm: web-llm fetches by URL and verifies only its config, tokenizer and model library
 *   (`integrity`), not the weight shards. So every file — shards included — is verified here and
 *   its bytes written into web-llm's own Cache Storage scopes (`webllm/config`, `webllm/model`,
 *   `webllm/wasm`) under the exact URLs its appConfig names; web-llm then finds each file cached
 *   and fetches none, reading only bytes we checked. The URLs are the sync server's
 *   `/v1/llm/<config sha256>/resolve/main/<name>` (src/server/routes/llm.ts, which serves the
 *   same blobs should web-llm ever miss its cache) and `/v1/blobs/<sha256>` for the library;
 *   the config's hash in the path keeps one model's cached files from standing in for another's.
 *   The cost: web-llm's files are held twice on disk (our cache and web-llm's);
 *   {@link forgetWebLlmFiles} deletes web-llm's copy.
 */
import { LocalrecError } from '../../core/errors.ts';
import {
  llmBytes,
  llmFile,
  parseLlmSection,
  type LlmFileRef,
  type LlmSection,
} from '../../core/llm-manifest.ts';
import type { VerifiedManifest } from '../../core/manifest.ts';
import type { LlmModel, LlmProgress, WebLlmModel } from '../llm/api.ts';
import { webLlmFileUrl } from '../llm/webllm-config.ts';
import type { CacheStorageLike } from './cache.ts';
import type { Loader } from './loader.ts';

/** The blob kind the LLM's files are cached under. */
export const LLM_BLOB_KIND = 'llm';

/** web-llm's Cache Storage scopes (its `cacheBackend: 'cache'`), by what it keeps there. */
export const WEBLLM_CACHE_SCOPES = ['webllm/config', 'webllm/model', 'webllm/wasm'] as const;

const scopeOf = (f: LlmFileRef): (typeof WEBLLM_CACHE_SCOPES)[number] =>
  f.role === 'config' ? 'webllm/config' : f.role === 'model-lib' ? 'webllm/wasm' : 'webllm/model';

export interface LlmFilesOptions {
  /** The SDK's loader: verified, cached reads of the manifest's blobs. */
  loader: Loader;
  /** The sync server's base URL (absolute, no trailing slash: loader.ts serverBase). */
  server: string;
  /** Bytes read so far, from the cache or the network (phase `download`). */
  onProgress?: (p: LlmProgress) => void;
  /** Stops between files; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Blobs the cache must not evict to make room for these (the recommender's in use). */
  protect?: ReadonlySet<string>;
  /** web-llm's Cache Storage (default globalThis.caches; tests pass a fake). */
  caches?: CacheStorageLike;
}

/** Where web-llm finds a manifest's model on the sync server. */
export function webLlmModelFromSection(section: LlmSection, server: string): WebLlmModel {
  const config = llmFile(section, 'config');
  const lib = llmFile(section, 'model-lib');
  if (section.engine !== 'webllm' || !config || !lib)
    throw new LocalrecError('bad-input', `the manifest's llm section is not a web-llm model`);
  return {
    engine: 'webllm',
    id: section.id,
    baseUrl: `${server}/v1/llm/${config.sha256}`,
    modelLibUrl: `${server}/v1/blobs/${lib.sha256}`,
    sha256: {
      config: config.sha256,
      modelLib: lib.sha256,
      tokenizer: Object.fromEntries(
        section.files.filter((f) => f.role === 'tokenizer').map((f) => [f.name, f.sha256]),
      ),
    },
    contextSize: section.contextSize,
    needs: section.needs,
  };
}

/** The URL web-llm asks for `file` of `model` (the key it looks up in its cache). */
function webLlmUrl(model: WebLlmModel, file: LlmFileRef): string {
  return file.role === 'model-lib' ? model.modelLibUrl : webLlmFileUrl(model, file.name);
}

/**
 * The manifest's LLM as a model the llm worker loads, every file verified; null when the
 * manifest ships none (`llm: null`).
 *
 * ```ts
 * const model = await loadLlmFromManifest(verified, { loader, server, onProgress: console.log });
 * if (model) await llmWorker.load({ choice: 'auto', models: [model] });
 * ```
 *
 * @throws LocalrecError `integrity` when a file fails its check twice (the message names it),
 *   `not-found` when it is neither cached nor downloadable, `bad-format` for a malformed section.
 */
export async function loadLlmFromManifest(
  verified: VerifiedManifest,
  o: LlmFilesOptions,
): Promise<LlmModel | null> {
  const section = parseLlmSection(verified.manifest.llm);
  return section ? loadLlmFiles(section, o) : null;
}

/**
 * {@link loadLlmFromManifest} for a section already read from a verified manifest (a load
 * plan's `llm`).
 *
 * @throws LocalrecError as {@link loadLlmFromManifest}.
 */
export async function loadLlmFiles(section: LlmSection, o: LlmFilesOptions): Promise<LlmModel> {
  const total = llmBytes(section);
  let loaded = 0;
  let cached = 0;
  const report = (name: string) => {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    o.onProgress?.({
      phase: 'download',
      progress: total > 0 ? Math.max(0, Math.min(1, loaded / total)) : 1,
      text:
        cached === loaded
          ? `reading the model from this device: ${mb(loaded)} of ${mb(total)} MB (${name})`
          : `downloading the model: ${mb(loaded)} of ${mb(total)} MB (${name})`,
      loadedBytes: loaded,
      totalBytes: total,
    });
  };
  const read = async (f: LlmFileRef): Promise<Uint8Array> => {
    o.signal?.throwIfAborted();
    const bytes = await o.loader.blob(
      f,
      `LLM file ${f.name}`,
      (n, fromCache) => {
        loaded += n;
        if (fromCache) cached += n;
        report(f.name);
      },
      o.protect,
      LLM_BLOB_KIND,
    );
    o.signal?.throwIfAborted();
    return bytes;
  };
  if (section.engine === 'wllama') {
    const gguf = await read(llmFile(section, 'weights')!);
    return {
      engine: 'wllama',
      id: section.id,
      gguf: { blob: new Blob([gguf as Uint8Array<ArrayBuffer>]) },
      contextSize: section.contextSize,
      needs: section.needs,
    };
  }
  const model = webLlmModelFromSection(section, o.server);
  const storage = o.caches ?? (globalThis as { caches?: CacheStorageLike }).caches;
  if (!storage)
    throw new LocalrecError(
      'device-unavailable',
      'the web-llm engine needs Cache Storage, which this page does not have',
    );
  // One file at a time: a model of a GB is never held in memory whole.
  for (const f of section.files) {
    const bytes = await read(f);
    const cache = await storage.open(scopeOf(f));
    await cache.put(
      webLlmUrl(model, f),
      new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': `${f.bytes}` },
      }),
    );
  }
  return model;
}

/**
 * Deletes web-llm's copies of the manifest model's files (its Cache Storage scopes), as
 * `forget()` deletes the SDK's.
 *
 * ```ts
 * await forgetWebLlmFiles(caches);
 * ```
 */
export async function forgetWebLlmFiles(storage: CacheStorageLike): Promise<void> {
  for (const scope of WEBLLM_CACHE_SCOPES) await storage.delete(scope);
}
