/**
 * The manifest's `llm` section (src/core/llm-manifest.ts): what a wllama and a web-llm model
 * look like, each way a section is refused (with the field named), that parseManifest checks
 * it, that its files are blobs the publisher copies and the server serves, and that it is
 * signed with the rest: changing a shard's hash breaks the signature.
 */
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { llmBytes, llmFile, parseLlmSection } from '../../src/core/llm-manifest.ts';
import { manifestBlobs, parseManifest, verifyManifest } from '../../src/core/manifest.ts';
import { newSigningKey, signManifest } from '../../src/server/keys.ts';

const h = (c: string) => c.repeat(64);

const WLLAMA = {
  engine: 'wllama',
  id: 'tiny-llama',
  contextSize: 2048,
  needs: { memoryMB: 16 },
  files: [{ role: 'weights', name: 'tiny-llama.gguf', sha256: h('a'), bytes: 1000 }],
};

const WEBLLM = {
  engine: 'webllm',
  id: 'Tiny-q4f16_1-MLC',
  contextSize: 1024,
  needs: { memoryMB: 900, shaderF16: true, maxStorageBufferBindingBytes: 134217728 },
  files: [
    { role: 'config', name: 'mlc-chat-config.json', sha256: h('1'), bytes: 10 },
    { role: 'tokenizer', name: 'tokenizer.json', sha256: h('2'), bytes: 20 },
    { role: 'tensor-cache', name: 'tensor-cache.json', sha256: h('3'), bytes: 30 },
    { role: 'weights', name: 'params_shard_0.bin', sha256: h('4'), bytes: 40 },
    { role: 'weights', name: 'params_shard_1.bin', sha256: h('5'), bytes: 50 },
    { role: 'model-lib', name: 'tiny-webgpu.wasm', sha256: h('6'), bytes: 60 },
  ],
};

function refusal(v: unknown): string {
  try {
    parseLlmSection(v);
  } catch (e) {
    if (isLocalrecError(e) && e.code === 'bad-format') return e.message;
    throw e;
  }
  throw new Error('it was accepted');
}

const withFiles = (base: typeof WLLAMA | typeof WEBLLM, files: unknown[]) => ({ ...base, files });

describe('the llm section', () => {
  it('null (or absent) means no model', () => {
    expect(parseLlmSection(null)).toBeNull();
    expect(parseLlmSection(undefined)).toBeNull();
  });

  it('reads a wllama and a web-llm model, keeping only the schema’s fields', () => {
    expect(parseLlmSection({ ...WLLAMA, extra: 1 })).toEqual(WLLAMA);
    const w = parseLlmSection(WEBLLM)!;
    expect(w).toEqual(WEBLLM);
    expect(llmFile(w, 'weights')?.name).toBe('params_shard_0.bin');
    expect(llmFile(w, 'model-lib')?.sha256).toBe(h('6'));
    expect(llmBytes(w)).toBe(210);
  });

  it('refuses a wrong engine, id, context size or needs, naming the field', () => {
    expect(refusal('gguf')).toMatch(/^manifest: llm must be null or an object/);
    expect(refusal({ ...WLLAMA, engine: 'onnx' })).toBe(
      'manifest: llm.engine is "onnx"; it must be one of wllama, webllm',
    );
    expect(refusal({ ...WLLAMA, id: ' ' })).toMatch(/llm\.id must be a model name/);
    expect(refusal({ ...WLLAMA, contextSize: 8 })).toMatch(/llm\.contextSize must be an integer/);
    expect(refusal({ ...WLLAMA, contextSize: 20.5 })).toMatch(/llm\.contextSize/);
    expect(refusal({ ...WLLAMA, needs: {} })).toMatch(/llm\.needs\.memoryMB must be a positive/);
    expect(refusal({ ...WLLAMA, needs: { memoryMB: 1, shaderF16: 'yes' } })).toMatch(
      /needs\.shaderF16 must be true or false/,
    );
    expect(refusal({ ...WLLAMA, needs: { memoryMB: 1, maxBufferSizeBytes: -1 } })).toMatch(
      /needs\.maxBufferSizeBytes must be a positive integer/,
    );
  });

  it('refuses malformed files: hash, size, role, name, duplicates', () => {
    const f = WLLAMA.files[0]!;
    expect(refusal(withFiles(WLLAMA, []))).toMatch(/llm\.files must be a non-empty list/);
    expect(refusal(withFiles(WLLAMA, [{ ...f, sha256: 'A'.repeat(64) }]))).toMatch(
      /llm\.files\[0\]\.sha256 is not 64 lowercase hex/,
    );
    expect(refusal(withFiles(WLLAMA, [{ ...f, bytes: 0 }]))).toMatch(/files\[0\]\.bytes must be/);
    expect(refusal(withFiles(WLLAMA, [{ ...f, role: 'weight' }]))).toMatch(
      /files\[0\]\.role is "weight"; it must be one of weights, tokenizer/,
    );
    for (const name of ['../etc/passwd', 'a/b.gguf', '.hidden.gguf', 'a b.gguf', '', 'x..gguf'])
      expect(refusal(withFiles(WLLAMA, [{ ...f, name }]))).toMatch(/must be a plain file name/);
    expect(refusal(withFiles(WLLAMA, [{ ...f, name: 'model.bin' }]))).toMatch(
      /files\[0\]\.name must end in \.gguf/,
    );
    const files = WEBLLM.files.map((x) =>
      x.name === 'params_shard_1.bin' ? { ...x, name: 'tokenizer.json' } : x,
    );
    expect(refusal(withFiles(WEBLLM, files))).toMatch(
      /files\[4\]\.name "tokenizer\.json" is listed twice/,
    );
  });

  it('holds each engine to the files it needs', () => {
    const f = WLLAMA.files[0]!;
    expect(refusal(withFiles(WLLAMA, [f, { ...f, name: 'b.gguf', sha256: h('b') }]))).toBe(
      "manifest: llm.files has 2 'weights' files; a wllama model needs exactly 1",
    );
    expect(refusal(withFiles(WLLAMA, [{ ...f, role: 'tokenizer' }]))).toMatch(
      /role 'tokenizer' is not a file a wllama model has/,
    );
    expect(
      refusal(
        withFiles(
          WEBLLM,
          WEBLLM.files.filter((x) => x.role !== 'tokenizer'),
        ),
      ),
    ).toBe("manifest: llm.files has 0 'tokenizer' files; a webllm model needs at least 1");
    expect(
      refusal(
        withFiles(
          WEBLLM,
          WEBLLM.files.filter((x) => x.role !== 'model-lib'),
        ),
      ),
    ).toMatch(/0 'model-lib' files; a webllm model needs exactly 1/);
    const renamed = WEBLLM.files.map((x) =>
      x.role === 'config' ? { ...x, name: 'config.json' } : x,
    );
    expect(refusal(withFiles(WEBLLM, renamed))).toMatch(
      /name "config\.json" does not fit its role 'config'/,
    );
  });
});

describe('the llm section in the manifest', () => {
  const manifest = (llm: unknown) => ({
    formatVersion: 1 as const,
    modelVersion: 'm1',
    createdAt: '2026-12-04T00:00:00.000Z',
    version: 1,
    models: {},
    shards: [],
    metadata: [],
    llm,
    federated: null,
    signature: null,
  });

  it('parseManifest checks it; its files are blobs of the manifest', () => {
    expect(() => parseManifest(JSON.stringify(manifest({ ...WLLAMA, engine: 'x' })))).toThrow(
      /manifest: llm\.engine is "x"/,
    );
    const m = parseManifest(JSON.stringify(manifest(WEBLLM)));
    expect(manifestBlobs(m).map((b) => b.sha256)).toEqual(WEBLLM.files.map((f) => f.sha256));
    expect(parseManifest(JSON.stringify(manifest(null))).llm).toBeNull();
  });

  it('is covered by the signature', async () => {
    const key = await newSigningKey();
    const signed = signManifest(
      manifest(WLLAMA) as unknown as Parameters<typeof signManifest>[0],
      key,
    );
    const ok = await verifyManifest(JSON.stringify(signed), key.publicKey);
    expect(ok.manifest.llm).toEqual(WLLAMA);
    const tampered = structuredClone(signed) as unknown as { llm: typeof WLLAMA };
    tampered.llm.files[0]!.sha256 = h('f');
    await expect(verifyManifest(JSON.stringify(tampered), key.publicKey)).rejects.toMatchObject({
      code: 'integrity',
    });
  });
});
