/**
 * globalSetup of the `browser` vitest project for the SDK tests (runs in Node before the
 * browser starts): trains a small SASRec on a synthetic catalog whose items have genres,
 * exports it (int8, three shards so loading is progressive), signs and publishes it, and serves
 * it with the real server (src/server) on 127.0.0.1 with CORS for the test page.
 *
 * Four servers, one signing key:
 * - `a`: version 1 only;
 * - `b`: version 1, then version 2 with a two-tower model (its encoder and shards are the
 *   SASRec ones under another name: the loading path is what is tested, not the model);
 * - `c`: version 1, then a version 2 whose last embedding shard is corrupted on disk after
 *   publishing (the server serves whatever the file holds), to prove a bad update never
 *   replaces a good version;
 * - `d`: version 1 with the tiny llama GGUF (models/llm/tiny-llama.ts) as its on-device LLM,
 *   attached from an owner's config by `localrec publish --llm`'s code (src/cli/llm-config.ts).
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { ItemInfo } from '../../src/core/types.ts';
import { buildTinyLlama } from '../../models/llm/tiny-llama.ts';
import { attachLlmToExport } from '../../src/cli/llm-config.ts';
import { createServer, listen, type LocalrecServer } from '../../src/server/app.ts';
import { newSigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';
import { trainTinyModel } from './tiny-model.ts';

/** What the SDK tests receive. */
export interface RecommenderFixture {
  /** Base URLs (`http://127.0.0.1:<port>`) of the servers described above. */
  servers: { a: string; b: string; c: string; d: string };
  /** base64 raw Ed25519 public key the manifests are signed with. */
  publicKey: string;
  /** A key that signed nothing here (for the wrong-key test). */
  otherPublicKey: string;
  /** The catalog as exported (id, title, categories, popularity, addedAt), in index order. */
  items: ItemInfo[];
  modelVersions: { v1: string; v2: string };
  /** sha256 of every embedding shard of version 1, in order. */
  shardShas: string[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    recommenderFixture: RecommenderFixture;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'localrec-sdk-test-'));
  const v1Dir = join(root, 'export-v1');
  const { manifest, items, summary } = await trainTinyModel(root, {
    catalogSeed: 23,
    trainSeed: 3,
    epochs: 12,
    exportDir: v1Dir,
  });

  // Version 2: the same blobs plus a two-tower entry (the shape `localrec export` is to write).
  const v2Dir = join(root, 'export-v2');
  cpSync(v1Dir, v2Dir, { recursive: true });
  const v2 = {
    ...manifest,
    modelVersion: `${manifest.modelVersion}-v2`,
    models: {
      ...manifest.models,
      'two-tower': {
        encoder: manifest.models.sasrec.encoder,
        config: {
          maxLen: manifest.models.sasrec.config.maxLen,
          dim: manifest.models.sasrec.config.dim,
        },
        shards: manifest.shards,
      },
    },
  };
  writeFileSync(join(v2Dir, 'manifest.json'), JSON.stringify(v2, null, 2));
  // Version 2 of server c: its last shard differs from version 1's in one value (so it is a
  // blob of its own), and is corrupted in the store after publishing.
  const badDir = join(root, 'export-bad');
  cpSync(v1Dir, badDir, { recursive: true });
  const lastRef = manifest.shards[manifest.shards.length - 1];
  const changed = readFileSync(join(v1Dir, 'blobs', lastRef.sha256));
  changed[changed.length - 1]! ^= 0x01;
  const changedSha = createHash('sha256').update(changed).digest('hex');
  writeFileSync(join(badDir, 'blobs', changedSha), changed);
  writeFileSync(
    join(badDir, 'manifest.json'),
    JSON.stringify(
      {
        ...manifest,
        modelVersion: `${manifest.modelVersion}-bad`,
        shards: [...manifest.shards.slice(0, -1), { ...lastRef, sha256: changedSha }],
      },
      null,
      2,
    ),
  );

  // Version 1 of server d: the same export with the tiny GGUF as its LLM.
  const llmDir = join(root, 'export-llm');
  cpSync(v1Dir, llmDir, { recursive: true });
  writeFileSync(join(root, 'tiny-llama.gguf'), buildTinyLlama());
  writeFileSync(
    join(root, 'llm.json'),
    JSON.stringify({
      engine: 'wllama',
      id: 'localrec-tiny-llama',
      contextSize: 4096,
      needs: { memoryMB: 16 },
      files: [{ role: 'weights', path: 'tiny-llama.gguf' }],
    }),
  );
  attachLlmToExport(llmDir, join(root, 'llm.json'));

  const key = await newSigningKey();
  const other = await newSigningKey();
  const stores = {
    a: join(root, 'store-a'),
    b: join(root, 'store-b'),
    c: join(root, 'store-c'),
    d: join(root, 'store-d'),
  };
  for (const [name, dir] of Object.entries(stores))
    await publishExport(name === 'd' ? llmDir : v1Dir, openPublicationStore(`file:${dir}`), key);
  await publishExport(v2Dir, openPublicationStore(`file:${stores.b}`), key);
  await publishExport(badDir, openPublicationStore(`file:${stores.c}`), key);
  const onDisk = join(stores.c, 'blobs', changedSha);
  const corrupt = readFileSync(onDisk);
  corrupt[corrupt.length - 1]! ^= 0xff;
  writeFileSync(onDisk, corrupt);

  const servers: LocalrecServer[] = [];
  const urls: Record<string, string> = {};
  for (const [name, dir] of Object.entries(stores)) {
    const app = createServer({ store: `file:${dir}`, corsOrigins: ['*'] });
    servers.push(app);
    urls[name] = (await listen(app, { host: '127.0.0.1', port: 0, log: () => {} })).replace(
      /\/$/,
      '',
    );
  }
  const fixture: RecommenderFixture = {
    servers: urls as RecommenderFixture['servers'],
    publicKey: key.publicKey,
    otherPublicKey: other.publicKey,
    items,
    modelVersions: { v1: manifest.modelVersion, v2: v2.modelVersion },
    shardShas: manifest.shards.map((s: { sha256: string }) => s.sha256),
  };
  project.provide('recommenderFixture', fixture);
  console.log(
    `[recommender-server] ${summary.items} items, ${summary.epochs} epochs in ${summary.trainSeconds} s ` +
      `(valid NDCG@10 ${summary.valid?.full.ndcg10.toFixed(3) ?? 'n/a'}), ${manifest.shards.length} shards, ` +
      `servers ${Object.values(urls).join(' ')}, setup ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(root, { recursive: true, force: true });
  };
}
