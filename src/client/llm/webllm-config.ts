/**
 * web-llm's `AppConfig` for one owner-hosted model (issue #15): never a hub URL, only the
 * absolute URLs the model record names, with the SHA-256 of its files as web-llm's own
 * `integrity` (SRI strings), which it checks after each download.
 *
 * web-llm fetches a model's files relative to `ModelRecord.model` after its `cleanModelUrl`:
 * a URL without `/resolve/<branch>/` gets `resolve/main/` appended (Hugging Face's layout). So
 * the record's URL is written here already ending in `/resolve/<branch>/` — web-llm then uses
 * it as it is, and the server must serve `<baseUrl>resolve/main/mlc-chat-config.json` and the
 * rest (see {@link webLlmFileUrl}). URLs must be absolute: in a worker web-llm resolves a
 * relative one against `location.origin`, dropping the path.
 */
import type { AppConfig, ModelRecord } from '@mlc-ai/web-llm';
import { LocalrecError } from '../../core/errors.ts';
import type { WebLlmModel } from './api.ts';

/** web-llm's rule: a model URL holds `/resolve/<branch>/` or gets `resolve/main/` appended. */
const RESOLVED = /.+\/resolve\/.+\//;

function absolute(url: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LocalrecError(
      'bad-input',
      `${what} must be an absolute URL, got ${JSON.stringify(url)}`,
    );
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new LocalrecError('bad-input', `${what} must be an http(s) URL, got ${u.protocol}`);
  return u;
}

/** The folder URL web-llm reads the model from: `baseUrl` with `/resolve/main/` where needed. */
export function webLlmModelUrl(baseUrl: string): string {
  let url = absolute(baseUrl, 'the web-llm model URL').href;
  if (!url.endsWith('/')) url += '/';
  if (!RESOLVED.test(url)) url += 'resolve/main/';
  return url;
}

/** Where web-llm fetches the model's file `name` (`mlc-chat-config.json`, `tokenizer.json`, …). */
export function webLlmFileUrl(model: Pick<WebLlmModel, 'baseUrl'>, name: string): string {
  return new URL(name, webLlmModelUrl(model.baseUrl)).href;
}

/** `sha256-<base64>` from a hex SHA-256: the SRI form web-llm verifies. */
export function sriFromHex(hex: string): string {
  if (!/^[0-9a-f]{64}$/i.test(hex))
    throw new LocalrecError(
      'bad-input',
      `a SHA-256 must be 64 hex digits, got ${JSON.stringify(hex)}`,
    );
  let bin = '';
  for (let i = 0; i < 64; i += 2) bin += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return `sha256-${btoa(bin)}`;
}

/**
 * The AppConfig that loads `model` and nothing else, from the owner's server.
 *
 * @throws LocalrecError `bad-input` for a relative or non-http URL or a malformed SHA-256.
 */
export function buildWebLlmAppConfig(model: WebLlmModel): AppConfig {
  const record: ModelRecord = {
    model: webLlmModelUrl(model.baseUrl),
    model_id: model.id,
    model_lib: absolute(model.modelLibUrl, 'the web-llm model library URL').href,
    overrides: { context_window_size: model.contextSize },
    vram_required_MB: model.needs.memoryMB,
    required_features: model.needs.shaderF16 ? ['shader-f16'] : [],
  };
  if (model.needs.maxStorageBufferBindingBytes !== undefined)
    record.buffer_size_required_bytes = model.needs.maxStorageBufferBindingBytes;
  const s = model.sha256;
  if (s) {
    const integrity: NonNullable<ModelRecord['integrity']> = { onFailure: 'error' };
    if (s.config) integrity.config = sriFromHex(s.config);
    if (s.modelLib) integrity.model_lib = sriFromHex(s.modelLib);
    if (s.tokenizer)
      integrity.tokenizer = Object.fromEntries(
        Object.entries(s.tokenizer).map(([name, hex]) => [name, sriFromHex(hex)]),
      );
    record.integrity = integrity;
  }
  return { model_list: [record], cacheBackend: 'cache' };
}
