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
import { loadLlmFiles, webLlmModelFromSection } from './llm-files.ts';
import type { Loader } from './loader.ts';

export interface ManifestLlmSourceOptions {
  /** The `llm` section of the version in use (its load plan's), or null. */
  section: () => LlmSection | null;
  loader: Loader;
  cache: BlobCache;
  /** The sync server's base URL (absolute, no trailing slash). */
  server: string;
  /** Blobs the cache must not evict to make room for the model (the recommender's in use). */
  protect?: () => ReadonlySet<string>;
  /** web-llm's Cache Storage (default globalThis.caches). */
  caches?: CacheStorageLike;
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
 * The {@link LlmModelSource} over the manifest in use.
 *
 * ```ts
 * const source = manifestLlmSource({ section: () => plan.llm, loader, cache, server });
 * const [model] = source.models(); // undefined when the manifest ships no LLM
 * ```
 */
export function manifestLlmSource(o: ManifestLlmSourceOptions): LlmModelSource {
  const current = (model: LlmModel): LlmSection => {
    const section = o.section();
    if (!section || section.id !== model.id || section.engine !== model.engine)
      throw new LocalrecError(
        'not-found',
        `the model ${model.id} is no longer in the manifest in use; reload the LLM`,
      );
    return section;
  };
  return {
    models() {
      const section = o.section();
      return section ? [describe(section, o.server)] : [];
    },
    async cached(model) {
      const section = current(model);
      for (const f of section.files) if (!(await o.cache.has(f.sha256))) return false;
      return true;
    },
    async fetch(model, options) {
      const section = current(model);
      return loadLlmFiles(section, {
        loader: o.loader,
        server: o.server,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(o.protect ? { protect: o.protect() } : {}),
        ...(o.caches ? { caches: o.caches } : {}),
      });
    },
  };
}
