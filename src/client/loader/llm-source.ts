/**
 * The manifest's LLM as the recommender's {@link LlmModelSource} (../assistant/llm-session.ts):
 * what model the version in use offers, whether its files are on this device, and their
 * download — verified blob by blob (./llm-files.ts) only when the session loads the model.
 *
 * Before the download, `models()` describes the model by where its verified files will come
 * from (a wllama GGUF by its blob URL, a web-llm model by its sync-server folder), so the
 * capability gate can choose an engine; `fetch()` then returns the model the engine loads (the
 * GGUF as verified bytes; web-llm's files verified and pre-cached), never the bare URL.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { LlmSection } from '../../core/llm-manifest.ts';
import type { LlmModelSource } from '../assistant/llm-session.ts';
import type { LlmModel } from '../llm/api.ts';
import type { BlobCache, CacheStorageLike } from './cache.ts';
import { forgetWebLlmFiles, loadLlmFiles, webLlmModelFromSection } from './llm-files.ts';
import type { Loader } from './loader.ts';
import type { LoadPlan } from './plan.ts';

export interface ManifestLlmSourceOptions {
  loader: Loader;
  cache: BlobCache;
  /** The sync server's base URL (absolute, no trailing slash). */
  server: string;
  /** web-llm's Cache Storage (default globalThis.caches). */
  caches?: CacheStorageLike;
}

/** An {@link LlmModelSource} that can also delete what it put outside the SDK's cache. */
export interface ManifestLlmSource extends LlmModelSource {
  /** Deletes web-llm's copies of the model's files (`forget()` deletes the SDK's cache). */
  forget(): Promise<void>;
}

/** The model `section` describes, before its files are read. */
function describe(section: LlmSection, server: string): LlmModel {
  if (section.engine === 'webllm') return webLlmModelFromSection(section, server);
  return {
    engine: 'wllama',
    id: section.id,
    gguf: { url: `${server}/v1/blobs/${section.files[0]!.sha256}` },
    contextSize: section.contextSize,
    needs: section.needs,
  };
}

/**
 * The {@link LlmModelSource} over the version in use (`plan()`: its load plan, undefined before
 * one is loaded). Its files are downloaded protecting that version's blobs from eviction.
 *
 * ```ts
 * const source = manifestLlmSource(() => manager.active?.plan, { loader, cache, server });
 * const [model] = source.models(); // undefined when the manifest ships no LLM
 * ```
 */
export function manifestLlmSource(
  plan: () => LoadPlan | undefined,
  o: ManifestLlmSourceOptions,
): ManifestLlmSource {
  const current = (model: LlmModel): LlmSection => {
    const section = plan()?.llm;
    if (!section || section.id !== model.id || section.engine !== model.engine)
      throw new LocalrecError(
        'not-found',
        `the model ${model.id} is no longer in the manifest in use; reload the LLM`,
      );
    return section;
  };
  const storage = () => o.caches ?? (globalThis as { caches?: CacheStorageLike }).caches;
  return {
    models() {
      const section = plan()?.llm;
      return section ? [describe(section, o.server)] : [];
    },
    async cached(model) {
      const section = current(model);
      for (const f of section.files) if (!(await o.cache.has(f.sha256))) return false;
      return true;
    },
    async downloadBytes(model) {
      let bytes = 0;
      for (const f of current(model).files) if (!(await o.cache.has(f.sha256))) bytes += f.bytes;
      return bytes;
    },
    async fetch(model, options) {
      const section = current(model);
      const caches = storage();
      return loadLlmFiles(section, {
        loader: o.loader,
        server: o.server,
        protect: new Set(plan()?.blobs.map((b) => b.sha256)),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(caches ? { caches } : {}),
      });
    },
    async forget() {
      const caches = storage();
      if (caches) await forgetWebLlmFiles(caches);
    },
  };
}
