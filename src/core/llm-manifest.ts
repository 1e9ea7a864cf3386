/**
 * The signed manifest's `llm` section (issue #15): the owner's on-device language model, every
 * file of it a content-addressed blob on the sync server, listed here by role with its sha256
 * and size, so the browser verifies each one before use exactly as it does the recommender's
 * blobs. `llm: null` means the site ships no model (explanations use the templates).
 *
 * ```json
 * { "engine": "wllama", "id": "tiny-llama", "contextSize": 2048, "needs": { "memoryMB": 64 },
 *   "files": [ { "role": "weights", "name": "tiny-llama.gguf", "sha256": "…", "bytes": 123 } ] }
 * ```
 *
 * - `wllama` (llama.cpp in WebAssembly): exactly one file, the GGUF (`weights`, `*.gguf`).
 * - `webllm` (MLC on WebGPU): `config` (`mlc-chat-config.json`), `tensor-cache` (`tensor-cache.json`),
 *   one or more `weights` (the parameter shards) and `tokenizer` files under the names web-llm
 *   asks for below its model URL's `resolve/main/`, and one `model-lib` (the compiled `.wasm`).
 *
 * It is signed with the rest of the manifest (its canonical bytes include this section), and
 * {@link parseManifest} checks it, so a malformed section is refused before anything is fetched.
 * Pure: runs in Node, a worker and the browser.
 */
import { SHA256_HEX, type BlobRef } from './blob.ts';
import { LocalrecError } from './errors.ts';

/** The engines a manifest may name (src/client/llm/api.ts LlmEngineKind). */
export const LLM_SECTION_ENGINES = ['wllama', 'webllm'] as const;
/** An engine a manifest may name: `wllama` (GGUF on the CPU) or `webllm` (MLC on WebGPU). */
export type LlmSectionEngine = (typeof LLM_SECTION_ENGINES)[number];

/** What a file is to its engine. */
export const LLM_FILE_ROLES = [
  'weights',
  'tokenizer',
  'config',
  'tensor-cache',
  'model-lib',
] as const;
/** What a file is to its engine: weights, tokenizer, config, tensor-cache or model-lib. */
export type LlmFileRole = (typeof LLM_FILE_ROLES)[number];

/** One file of the model: a blob, its role, and the file name its engine knows it by. */
export interface LlmFileRef extends BlobRef {
  role: LlmFileRole;
  /** A plain file name (no folders): what web-llm requests under `resolve/main/`. */
  name: string;
}

/** What the model needs from the device, as the owner states it (src/client/llm/api.ts LlmNeeds). */
export interface LlmSectionNeeds {
  /** Memory the loaded model takes (weights, KV cache at its context size, scratch), MB. */
  memoryMB: number;
  shaderF16?: boolean;
  maxBufferSizeBytes?: number;
  maxStorageBufferBindingBytes?: number;
}

/** The manifest's `llm` member when the site ships a model. */
export interface LlmSection {
  engine: LlmSectionEngine;
  /** The model's name (web-llm's `model_id`; "written on your device by <id>"). */
  id: string;
  /** Tokens of context to allocate. */
  contextSize: number;
  needs: LlmSectionNeeds;
  files: LlmFileRef[];
}

/** Largest context a manifest may ask for (llama.cpp and web-llm allocate it up front). */
export const MAX_LLM_CONTEXT = 1 << 20;

/** A file name a URL path segment can carry unchanged: no folders, no `..`, no escapes. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** How many files of each role an engine's model has: [min, max]. */
const ROLE_COUNTS: Record<LlmSectionEngine, Partial<Record<LlmFileRole, [number, number]>>> = {
  wllama: { weights: [1, 1] },
  webllm: {
    config: [1, 1],
    'tensor-cache': [1, 1],
    weights: [1, Infinity],
    tokenizer: [1, Infinity],
    'model-lib': [1, 1],
  },
};

/** Names a file of a role must have, where the engine fixes it. */
const FIXED_NAMES: Partial<Record<LlmFileRole, RegExp>> = {
  config: /^mlc-chat-config\.json$/,
  'tensor-cache': /^tensor-cache\.json$/,
  'model-lib': /\.wasm$/,
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a manifest's `llm` member: null, or a well-formed {@link LlmSection}.
 *
 * ```ts
 * import { parseLlmSection, type Manifest } from 'localrec/core';
 *
 * declare const manifest: Manifest; // from verifyManifest()
 * const llm = parseLlmSection(manifest.llm); // null when the site ships no model
 * if (llm) console.log(`${llm.id} on ${llm.engine}: ${llm.files.length} files`);
 * ```
 *
 * @param prefix - the start of every message (`manifest: ` for a manifest, a file name for a config).
 * @throws LocalrecError `bad-format` naming the first field that is wrong and why.
 */
export function parseLlmSection(v: unknown, prefix = 'manifest: '): LlmSection | null {
  if (v === null || v === undefined) return null;
  const bad = (what: string) => new LocalrecError('bad-format', `${prefix}llm${what}`);
  if (!isObject(v))
    throw bad(' must be null or an object { engine, id, contextSize, needs, files }');
  const engine = v['engine'];
  if (!LLM_SECTION_ENGINES.includes(engine as LlmSectionEngine))
    throw bad(
      `.engine is ${JSON.stringify(engine)}; it must be one of ${LLM_SECTION_ENGINES.join(', ')}`,
    );
  const e = engine as LlmSectionEngine;
  const id = v['id'];
  if (typeof id !== 'string' || id.trim() === '' || id.length > 200 || /[\u0000-\u001f]/.test(id))
    throw bad('.id must be a model name of 1 to 200 printable characters');
  const contextSize = v['contextSize'];
  if (
    !Number.isSafeInteger(contextSize) ||
    (contextSize as number) < 16 ||
    (contextSize as number) > MAX_LLM_CONTEXT
  )
    throw bad(`.contextSize must be an integer from 16 to ${MAX_LLM_CONTEXT} (tokens)`);
  const needs = parseNeeds(v['needs'], bad);
  const files = v['files'];
  if (!Array.isArray(files) || files.length === 0) throw bad('.files must be a non-empty list');
  const refs = files.map((f, i) => parseFile(f, i, bad));
  const names = new Set<string>();
  for (const [i, f] of refs.entries()) {
    if (names.has(f.name)) throw bad(`.files[${i}].name ${JSON.stringify(f.name)} is listed twice`);
    names.add(f.name);
  }
  const counts = ROLE_COUNTS[e];
  for (const [i, f] of refs.entries())
    if (!counts[f.role])
      throw bad(
        `.files[${i}].role '${f.role}' is not a file a ${e} model has (it takes ${Object.keys(counts).join(', ')})`,
      );
  for (const [role, [min, max]] of Object.entries(counts) as [LlmFileRole, [number, number]][]) {
    const n = refs.filter((f) => f.role === role).length;
    if (n < min || n > max)
      throw bad(
        `.files has ${n} '${role}' file${n === 1 ? '' : 's'}; a ${e} model needs ${min === max ? `exactly ${min}` : `at least ${min}`}`,
      );
  }
  if (e === 'wllama' && !refs[0]!.name.endsWith('.gguf'))
    throw bad(`.files[0].name must end in .gguf: the wllama engine runs a GGUF file`);
  return { engine: e, id, contextSize: contextSize as number, needs, files: refs };
}

function parseNeeds(v: unknown, bad: (what: string) => LocalrecError): LlmSectionNeeds {
  if (!isObject(v)) throw bad('.needs must be an object { memoryMB, … }');
  const memoryMB = v['memoryMB'];
  if (typeof memoryMB !== 'number' || !Number.isFinite(memoryMB) || memoryMB <= 0)
    throw bad('.needs.memoryMB must be a positive number (MB the loaded model takes)');
  const needs: LlmSectionNeeds = { memoryMB };
  if (v['shaderF16'] !== undefined) {
    if (typeof v['shaderF16'] !== 'boolean') throw bad('.needs.shaderF16 must be true or false');
    needs.shaderF16 = v['shaderF16'];
  }
  for (const k of ['maxBufferSizeBytes', 'maxStorageBufferBindingBytes'] as const) {
    const n = v[k];
    if (n === undefined) continue;
    if (!Number.isSafeInteger(n) || (n as number) <= 0)
      throw bad(`.needs.${k} must be a positive integer (bytes)`);
    needs[k] = n as number;
  }
  return needs;
}

function parseFile(v: unknown, i: number, bad: (what: string) => LocalrecError): LlmFileRef {
  const at = `.files[${i}]`;
  if (!isObject(v)) throw bad(`${at} must be an object { role, name, sha256, bytes }`);
  const role = v['role'];
  if (!LLM_FILE_ROLES.includes(role as LlmFileRole))
    throw bad(
      `${at}.role is ${JSON.stringify(role)}; it must be one of ${LLM_FILE_ROLES.join(', ')}`,
    );
  const name = v['name'];
  if (typeof name !== 'string' || !FILE_NAME.test(name) || name.includes('..'))
    throw bad(
      `${at}.name ${JSON.stringify(name)} must be a plain file name (letters, digits, . _ -; no folders)`,
    );
  const fixed = FIXED_NAMES[role as LlmFileRole];
  if (fixed && !fixed.test(name))
    throw bad(
      `${at}.name ${JSON.stringify(name)} does not fit its role '${String(role)}' (${fixed.source})`,
    );
  const sha256 = v['sha256'];
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256))
    throw bad(`${at}.sha256 is not 64 lowercase hex characters`);
  const bytes = v['bytes'];
  if (!Number.isSafeInteger(bytes) || (bytes as number) <= 0)
    throw bad(`${at}.bytes must be the file's positive byte count`);
  return { role: role as LlmFileRole, name, sha256, bytes: bytes as number };
}

/**
 * The file of `section` with `role` (the first, for roles with several).
 *
 * ```ts
 * import { llmFile, type LlmSection } from 'localrec/core';
 *
 * declare const llm: LlmSection;
 * const gguf = llmFile(llm, 'weights'); // { role, name, sha256, bytes }
 * ```
 */
export function llmFile(section: LlmSection, role: LlmFileRole): LlmFileRef | undefined {
  return section.files.find((f) => f.role === role);
}

/**
 * Total bytes of the model's files: what a download button shows before fetching.
 *
 * ```ts
 * import { llmBytes, type LlmSection } from 'localrec/core';
 *
 * declare const llm: LlmSection;
 * const label = `Download the model (${(llmBytes(llm) / 1e6).toFixed(0)} MB)`;
 * ```
 */
export function llmBytes(section: LlmSection): number {
  return section.files.reduce((a, f) => a + f.bytes, 0);
}
