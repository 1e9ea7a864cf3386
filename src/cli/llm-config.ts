/**
 * The owner's LLM config (`localrec export --llm <config.json>`, `localrec publish --llm …`):
 * which model the site ships to its visitors' devices, read from a JSON file the owner writes,
 * its files hashed into the export's content-addressed blobs and listed in the manifest's `llm`
 * section (src/core/llm-manifest.ts). The files never leave the owner's servers for a hub.
 *
 * ```json
 * { "engine": "wllama", "id": "tiny-llama", "contextSize": 2048, "needs": { "memoryMB": 64 },
 *   "files": [ { "role": "weights", "path": "models/tiny-llama.gguf", "bytes": 1208224 } ] }
 * ```
 *
 * `path` is relative to the config file; `name` (default: the path's file name) is what the
 * engine knows the file by (web-llm asks for `mlc-chat-config.json`, `tokenizer.json`,
 * `tensor-cache.json`, `params_shard_0.bin`, … under its model URL); `bytes`, when given, must
 * match the file, so a half-copied model is caught here and not in a visitor's browser. A GGUF
 * is read (src/core/gguf) before it is shipped.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { LocalrecError } from '../core/errors.ts';
import { parseGgufHeader } from '../core/gguf/reader.ts';
import {
  LLM_FILE_ROLES,
  LLM_SECTION_ENGINES,
  parseLlmSection,
  type LlmFileRef,
  type LlmSection,
} from '../core/llm-manifest.ts';

/** One file of the owner's config. */
export interface LlmConfigFile {
  role: LlmFileRef['role'];
  path: string;
  name?: string;
  bytes?: number;
}

/** The owner's config as written (paths relative to the file). */
export interface LlmConfig extends Omit<LlmSection, 'files'> {
  files: LlmConfigFile[];
}

const CHUNK = 8 << 20;

/** sha256 of a file, read in chunks (model weights can be larger than a Buffer). */
function hashFile(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** The first `n` bytes of a file. */
function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Checks a GGUF's header, reading a growing prefix (a large vocabulary makes it MBs long). */
function checkGguf(path: string, size: number, what: string): void {
  for (let n = 1 << 20; ; n *= 4) {
    try {
      if (parseGgufHeader(head(path, Math.min(n, size)), size) !== 'need-more') return;
    } catch (e) {
      throw new LocalrecError(
        'bad-input',
        `${what} is not a usable GGUF model: ${(e as Error).message}`,
      );
    }
  }
}

/**
 * Reads and checks the owner's config at `configPath`: engine, files on disk (present, of the
 * stated size, a GGUF for wllama), the section's schema.
 *
 * @throws LocalrecError `bad-input` for a config that is not valid JSON or not the documented
 *   shape (an unknown engine, a wrong size…), `not-found` for a file it names that is missing.
 */
export function readLlmConfig(configPath: string): { config: LlmConfig; paths: string[] } {
  if (!existsSync(configPath))
    throw new LocalrecError('not-found', `no LLM config at ${configPath}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new LocalrecError(
      'bad-input',
      `${configPath} is not valid JSON: ${(e as Error).message}`,
    );
  }
  const bad = (what: string) => new LocalrecError('bad-input', `${configPath}: ${what}`);
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw bad('must be a JSON object { engine, id, contextSize, needs, files }');
  const c = json as Record<string, unknown>;
  if (!LLM_SECTION_ENGINES.includes(c['engine'] as LlmSection['engine']))
    throw bad(
      `engine ${JSON.stringify(c['engine'])} is not one localrec runs; use ${LLM_SECTION_ENGINES.map((e) => `"${e}"`).join(' or ')}`,
    );
  const files = c['files'];
  if (!Array.isArray(files) || files.length === 0)
    throw bad('files must be a non-empty list of { role, path }');
  const dir = dirname(resolve(configPath));
  const paths = files.map((f: unknown, i) => {
    const o = (f && typeof f === 'object' ? f : {}) as Record<string, unknown>;
    if (!LLM_FILE_ROLES.includes(o['role'] as LlmFileRef['role']))
      throw bad(`files[${i}].role must be one of ${LLM_FILE_ROLES.join(', ')}`);
    if (typeof o['path'] !== 'string' || o['path'] === '')
      throw bad(`files[${i}].path must be the file's path (relative to the config)`);
    const path = resolve(dir, o['path']);
    if (!existsSync(path) || !statSync(path).isFile())
      throw new LocalrecError('not-found', `${configPath}: files[${i}] ${path} does not exist`);
    const size = statSync(path).size;
    if (o['bytes'] !== undefined && o['bytes'] !== size)
      throw bad(
        `files[${i}] ${path} is ${size} bytes, but the config says ${String(o['bytes'])}: is it fully copied?`,
      );
    if (c['engine'] === 'wllama' && o['role'] === 'weights')
      checkGguf(path, size, `${configPath}: files[${i}] ${path}`);
    return path;
  });
  return { config: c as unknown as LlmConfig, paths };
}

/**
 * Copies the config's files into `<out>/blobs/` under their sha256 and returns the manifest's
 * `llm` section for them.
 *
 * ```ts
 * const llm = llmSectionFromConfig('owner/llm.json', 'model/export'); // { engine, id, files, … }
 * ```
 *
 * @throws LocalrecError as {@link readLlmConfig}; `bad-input` when the section it makes is not
 *   one the manifest accepts (the message names the field).
 */
export function llmSectionFromConfig(configPath: string, out: string): LlmSection {
  const { config, paths } = readLlmConfig(configPath);
  const files = config.files.map((f, i) => ({
    role: f.role,
    name: f.name ?? basename(paths[i]!),
    sha256: hashFile(paths[i]!),
    bytes: statSync(paths[i]!).size,
  }));
  let section: LlmSection;
  try {
    section = parseLlmSection({ ...config, files }, `${configPath}: `)!;
  } catch (e) {
    throw new LocalrecError('bad-input', (e as Error).message, { cause: e });
  }
  // Only a config the manifest accepts writes blobs.
  mkdirSync(join(out, 'blobs'), { recursive: true });
  files.forEach((f, i) => {
    const blob = join(out, 'blobs', f.sha256);
    if (existsSync(blob)) return;
    const tmp = `${blob}.tmp-${process.pid}`;
    copyFileSync(paths[i]!, tmp);
    renameSync(tmp, blob);
  });
  return section;
}

/**
 * Sets the `llm` section of an existing export folder's manifest (its other members unchanged)
 * from the owner's config, the files copied into its blobs: `localrec publish --llm` ships a
 * new model without retraining the recommender. The file is replaced atomically.
 *
 * @throws LocalrecError `not-found` when `exportDir` holds no manifest.json; as
 *   {@link llmSectionFromConfig} for the config.
 */
export function attachLlmToExport(exportDir: string, configPath: string): LlmSection {
  const path = join(exportDir, 'manifest.json');
  if (!existsSync(path))
    throw new LocalrecError(
      'not-found',
      `no manifest.json in ${exportDir}; run \`localrec export\` first`,
    );
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const llm = llmSectionFromConfig(configPath, exportDir);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ ...manifest, llm }, null, 2));
  renameSync(tmp, path);
  return llm;
}
