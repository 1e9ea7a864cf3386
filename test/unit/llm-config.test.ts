/**
 * The owner's LLM config (src/cli/llm-config.ts): the tiny GGUF the project writes becomes a
 * blob of the export named by its sha256 and listed in the `llm` section; every config mistake
 * (unknown engine, missing file, wrong size, not a GGUF, a field the schema refuses) is a clear
 * error naming the file; and `localrec publish --llm` (the real binary) ships it in a signed
 * manifest the server's store holds, its blob beside it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyManifest } from '../../src/core/manifest.ts';
import { attachLlmToExport, llmSectionFromConfig } from '../../src/cli/llm-config.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';
import { buildTinyLlama } from '../../models/llm/tiny-llama.ts';
import { localrec } from './cli-runner.ts';
import { refusal } from '../setup/refusal.ts';

const root = mkdtempSync(join(tmpdir(), 'localrec-llm-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const gguf = buildTinyLlama();
const ggufSha = createHash('sha256').update(gguf).digest('hex');
mkdirSync(join(root, 'owner', 'models'), { recursive: true });
writeFileSync(join(root, 'owner', 'models', 'tiny.gguf'), gguf);
writeFileSync(join(root, 'owner', 'models', 'page.html'), '<!doctype html><p>oops</p>');

const CONFIG = {
  engine: 'wllama',
  id: 'localrec-tiny-llama',
  contextSize: 2048,
  needs: { memoryMB: 16 },
  files: [{ role: 'weights', path: 'models/tiny.gguf', bytes: gguf.length }],
};

let n = 0;
function config(c: unknown): string {
  const path = join(root, 'owner', `llm-${++n}.json`);
  writeFileSync(path, typeof c === 'string' ? c : JSON.stringify(c));
  return path;
}

describe('the owner’s LLM config', () => {
  it('hashes the GGUF into the export’s blobs and writes the llm section', () => {
    const out = join(root, 'export-1');
    const llm = llmSectionFromConfig(config(CONFIG), out);
    expect(llm).toEqual({
      engine: 'wllama',
      id: 'localrec-tiny-llama',
      contextSize: 2048,
      needs: { memoryMB: 16 },
      files: [{ role: 'weights', name: 'tiny.gguf', sha256: ggufSha, bytes: gguf.length }],
    });
    expect(readFileSync(join(out, 'blobs', ggufSha))).toEqual(Buffer.from(gguf));
  });

  it('refuses each mistake with a clear error naming the config', () => {
    const out = join(root, 'export-bad');
    const file = CONFIG.files[0]!;
    let r = refusal(() => llmSectionFromConfig(config({ ...CONFIG, engine: 'ollama' }), out));
    expect(r).toEqual({
      code: 'bad-input',
      message: expect.stringMatching(
        /llm-\d+\.json: engine "ollama" is not one localrec runs; use "wllama" or "webllm"$/,
      ),
    });
    r = refusal(() =>
      llmSectionFromConfig(
        config({ ...CONFIG, files: [{ ...file, path: 'models/gone.gguf' }] }),
        out,
      ),
    );
    expect(r.code).toBe('not-found');
    expect(r.message).toMatch(/files\[0\] .*models\/gone\.gguf does not exist/);
    r = refusal(() =>
      llmSectionFromConfig(config({ ...CONFIG, files: [{ ...file, bytes: 1234 }] }), out),
    );
    expect(r.code).toBe('bad-input');
    expect(r.message).toMatch(
      new RegExp(
        `tiny\\.gguf is ${gguf.length} bytes, but the config says 1234: is it fully copied\\?`,
      ),
    );
    r = refusal(() =>
      llmSectionFromConfig(
        config({ ...CONFIG, files: [{ role: 'weights', path: 'models/page.html' }] }),
        out,
      ),
    );
    expect(r.code).toBe('bad-input');
    expect(r.message).toMatch(/page\.html is not a usable GGUF model: .*not a valid GGUF file/);
    r = refusal(() => llmSectionFromConfig(config({ ...CONFIG, contextSize: 4 }), out));
    expect(r.message).toMatch(/llm-\d+\.json: llm\.contextSize must be an integer from 16/);
    r = refusal(() =>
      llmSectionFromConfig(config({ ...CONFIG, files: [{ ...file, role: 'brain' }] }), out),
    );
    expect(r.message).toMatch(/files\[0\]\.role must be one of weights, tokenizer/);
    r = refusal(() => llmSectionFromConfig(config('{ engine: wllama }'), out));
    expect(r.message).toMatch(/llm-\d+\.json is not valid JSON/);
    expect(refusal(() => llmSectionFromConfig(join(root, 'nope.json'), out)).code).toBe(
      'not-found',
    );
    // Nothing was written for a refused config.
    expect(existsSync(join(out, 'blobs', ggufSha))).toBe(false);
  });

  it('localrec publish --llm ships it in a signed manifest, its blob in the store', async () => {
    const exportDir = join(root, 'export-2');
    mkdirSync(exportDir);
    const bare = {
      formatVersion: 1,
      modelVersion: '2026-12-04T00:00:00Z-00000000',
      createdAt: '2026-12-04T00:00:00.000Z',
      models: {},
      shards: [],
      metadata: [],
      llm: null,
      federated: null,
      signature: null,
    };
    writeFileSync(join(exportDir, 'manifest.json'), JSON.stringify(bare));
    const keys = join(root, 'keys', 'site');
    expect((await localrec('keygen', '--out', keys)).code).toBe(0);
    const store = join(root, 'store');
    const cfg = config(CONFIG);
    const r = await localrec(
      'publish',
      '--from',
      exportDir,
      '--store',
      `file:${store}`,
      '--key',
      `${keys}.key`,
      '--llm',
      cfg,
    );
    expect(r.stderr).toMatch(/published version 1 .*1 blobs, 1 new/);
    expect(r.code).toBe(0);
    const s = openPublicationStore(`file:${store}`);
    const bytes = (await s.manifests.current())!;
    const { manifest, blobs } = await verifyManifest(
      bytes,
      readFileSync(`${keys}.pub`, 'utf8').trim(),
    );
    expect(manifest.llm?.files).toEqual([
      { role: 'weights', name: 'tiny.gguf', sha256: ggufSha, bytes: gguf.length },
    ]);
    expect(blobs).toEqual([{ sha256: ggufSha, bytes: gguf.length }]);
    expect(await s.blobs.stat(ggufSha)).toMatchObject({ bytes: gguf.length });
    // The export folder's own manifest now names the model; its other members are unchanged.
    const local = JSON.parse(readFileSync(join(exportDir, 'manifest.json'), 'utf8'));
    expect({ ...local, llm: null }).toEqual(bare);
    // A missing export is a clear error too.
    expect(refusal(() => attachLlmToExport(join(root, 'none'), cfg)).message).toMatch(
      /no manifest\.json in .*none; run `localrec export` first/,
    );
    await s.blobs.close();
    await s.manifests.close();
  });
});
