import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeMetadataShard } from '../../src/core/metadata.ts';
import { decodeShard } from '../../src/core/shard.ts';
import type { ItemInfo } from '../../src/core/types.ts';
import { localrec } from './cli-runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'localrec-cli-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('localrec CLI', () => {
  it('trains, exports and evaluates a small demo catalog, each ending with a JSON summary', async () => {
    const model = join(dir, 'model');
    const train = await localrec(
      'train',
      '--data',
      'demo:120:150:3',
      '--out',
      model,
      '--epochs',
      '2',
      '--max-len',
      '16',
      '--dim',
      '16',
      '--workers',
      '1',
      '--ensemble',
      '1',
    );
    expect(train.code).toBe(0);
    expect(train.json).toMatchObject({ dataset: 'demo', items: 120, users: 150, epochs: 2 });
    expect(train.stderr).toMatch(/epoch 2: loss/);
    expect(existsSync(join(model, 'sasrec.ckpt'))).toBe(true);

    const exp = await localrec('export', '--model', model, '--shard-items', '50');
    expect(exp.code).toBe(0);
    expect(exp.json).toMatchObject({ quantization: 'int8', shards: 3, items: 120 });
    const manifest = JSON.parse(readFileSync(join(model, 'export', 'manifest.json'), 'utf8'));
    expect(
      manifest.shards.map((s: { baseIndex: number; count: number }) => [s.baseIndex, s.count]),
    ).toEqual([
      [1, 50],
      [51, 50],
      [101, 20],
    ]);
    // Blobs are named by their content hash and decode as what the manifest says.
    const shard = decodeShard(
      readFileSync(join(model, 'export', 'blobs', manifest.shards[1].sha256)),
    );
    expect(shard).toMatchObject({ dtype: 'int8', dim: 16, count: 50, baseIndex: 51 });

    // Metadata shards cover the same ranges, carry the catalog, and are named by their hash too.
    const meta = decodeMetadataShard(
      readFileSync(join(model, 'export', 'blobs', manifest.metadata[1].sha256)),
    );
    expect(meta.baseIndex).toBe(51);
    expect(meta.items.map((i) => i.id)).toEqual(shard.ids);
    expect(meta.items[0]!.title).not.toBe('');

    // `localrec shards`: another dtype and size, metadata from an item file whose unsafe link is dropped.
    const itemsFile = join(dir, 'items.jsonl');
    writeFileSync(
      itemsFile,
      [
        JSON.stringify({ id: shard.ids[0], title: 'Safe', url: 'https://example.com/a' }),
        JSON.stringify({ id: shard.ids[1], title: 'Hostile', url: 'javascript:alert(1)' }),
      ].join('\n'),
    );
    const sh = await localrec(
      'shards',
      '--model',
      model,
      '--dtype',
      'f16',
      '--shard-items',
      '40',
      '--items',
      itemsFile,
    );
    expect(sh.code).toBe(0);
    expect(sh.json).toMatchObject({
      dtype: 'f16',
      embeddingShards: 3,
      metadataShards: 3,
      droppedLinks: 1,
    });
    expect(sh.stderr).toMatch(/dropped 1 links that are not http\(s\)/);
    const index = JSON.parse(readFileSync(join(model, 'shards', 'shards.json'), 'utf8'));
    const blob = (ref: { sha256: string }) =>
      readFileSync(join(model, 'shards', 'blobs', ref.sha256));
    for (const ref of [...index.shards, ...index.metadata]) {
      expect(createHash('sha256').update(blob(ref)).digest('hex')).toBe(ref.sha256);
    }
    expect(decodeShard(blob(index.shards[2])).dtype).toBe('f16');
    const titled = index.metadata
      .flatMap((r: { sha256: string }) => decodeMetadataShard(blob(r)).items)
      .filter((i: ItemInfo) => i.title === 'Safe' || i.title === 'Hostile');
    expect(titled).toEqual([
      { id: shard.ids[0], title: 'Safe', categories: [], url: 'https://example.com/a' },
      { id: shard.ids[1], title: 'Hostile', categories: [] },
    ]);
    const badDtype = await localrec('shards', '--model', model, '--dtype', 'int3');
    expect(badDtype.code).toBe(1);
    expect(badDtype.stderr).toMatch(/--dtype must be int8, f16 or f32/);

    // A two-tower retriever trained on the same data ships beside SASRec in one manifest.
    const tt = join(dir, 'tt');
    const ttRun = await localrec(
      'two-tower',
      '--data',
      'demo:120:150:3',
      '--out',
      tt,
      '--epochs',
      '1',
      '--dim',
      '16',
      '--hidden',
      '16',
      '--max-len',
      '10',
    );
    expect(ttRun.code).toBe(0);
    const both = await localrec(
      'export',
      '--model',
      model,
      '--two-tower',
      tt,
      '--out',
      join(dir, 'both'),
    );
    expect(both.code).toBe(0);
    const bm = JSON.parse(readFileSync(join(dir, 'both', 'manifest.json'), 'utf8'));
    const ttm = bm.models['two-tower'];
    expect(ttm.config.dim).toBe(16);
    // The encoder's request-context features travel with it (the SDK feeds them).
    expect(ttm.config.context.features).toEqual(['hour', 'weekday', 'gap']);
    for (const ref of [ttm.encoder, ...ttm.shards]) {
      const bytes = readFileSync(join(dir, 'both', 'blobs', ref.sha256));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref.sha256);
    }
    expect(ttm.shards.reduce((a: number, s: { count: number }) => a + s.count, 0)).toBe(120);
    const noTt = await localrec('export', '--model', model, '--two-tower', join(dir, 'nope'));
    expect(noTt.json).toMatchObject({ error: { code: 'not-found' } });

    const ev = await localrec('eval', '--model', model, '--quantization', 'fp32,int8');
    expect(ev.code).toBe(0);
    type Metrics = { valid: { full: { ndcg10: number; users: number } } };
    // The headline is what ships: exported int8, scored through the ONNX encoder and shards.
    const shipped = ev.json['shipped'] as Metrics & { quantization: string; bytes: object };
    expect(shipped.quantization).toBe('int8');
    expect(shipped.valid.full.users).toBe(150);
    expect(shipped.bytes).toMatchObject({ encoderOnnx: expect.any(Number) });
    const inMemory = ev.json['inMemory'] as Record<string, Metrics>;
    expect(Object.keys(inMemory)).toEqual(['fp32', 'int8']);
    expect(inMemory['fp32']!.valid.full.users).toBe(150);
    expect(inMemory['fp32']!.valid.full.ndcg10).toBeGreaterThan(0);
    // The shipped int8 and its in-memory twin differ only by the shard's and ORT's rounding.
    expect(Math.abs(shipped.valid.full.ndcg10 - inMemory['int8']!.valid.full.ndcg10)).toBeLessThan(
      0.05,
    );
  }, 240_000);

  it('trains an ensemble (--ensemble 2): one checkpoint, one encoder, shards twice as wide', async () => {
    const model = join(dir, 'ensemble');
    const common = ['--data', 'demo:60:80:5', '--epochs', '2', '--max-len', '12', '--dim', '8'];
    const train = await localrec(
      'train',
      ...common,
      '--out',
      model,
      '--workers',
      '1',
      '--ensemble',
      '2',
      '--seed',
      '7',
    );
    expect(train.code).toBe(0);
    expect(train.stderr).toMatch(/ensemble member 2 of 2 \(seed 8\)/);
    const members = train.json['members'] as { seed: number; epochs: number }[];
    expect(members.map((m) => [m.seed, m.epochs])).toEqual([
      [7, 2],
      [8, 2],
    ]);
    expect(train.json['epochs']).toBe(4);
    const exp = await localrec('export', '--model', model);
    expect(exp.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(model, 'export', 'manifest.json'), 'utf8'));
    expect(manifest.models.sasrec.config).toMatchObject({ dim: 8, members: 2 });
    const shard = decodeShard(
      readFileSync(join(model, 'export', 'blobs', manifest.shards[0].sha256)),
    );
    expect(shard.dim).toBe(16);
    // Each member's half of a row has its own int8 scale (shard format version 2).
    expect(shard).toMatchObject({ version: 2, segments: 2 });
    expect(shard.scales!.length).toBe(2 * shard.count);
    // What training reported for the ensemble's validation is what `eval` measures in memory.
    const ev = await localrec('eval', '--model', model);
    const inMemory = ev.json['inMemory'] as Record<string, { valid: { full: { ndcg10: number } } }>;
    const got = inMemory['fp32']!.valid.full.ndcg10;
    expect(ev.json['shipped']).toMatchObject({ quantization: 'int8' });
    const trained = (train.json['valid'] as { full: { ndcg10: number } }).full.ndcg10;
    expect(got).toBeCloseTo(trained, 6);
    // A member seed alone gives a different model: the ensemble is not one model twice.
    const single = await localrec(
      'train',
      ...common,
      '--out',
      join(dir, 'single'),
      '--workers',
      '1',
      '--seed',
      '8',
      '--ensemble',
      '1',
    );
    expect(single.json['valid']).not.toEqual(train.json['valid']);
  }, 240_000);

  it('keeps the final weights when no user has a validation item (every user has < 3 events)', async () => {
    const csv = join(dir, 'short.csv');
    const rows = ['user,item,timestamp'];
    for (let u = 0; u < 30; u++) rows.push(`u${u},i${u % 7},1`, `u${u},i${(u + 1) % 7},2`);
    writeFileSync(csv, rows.join('\n'));
    const model = join(dir, 'short-model');
    const train = await localrec(
      'train',
      '--data',
      csv,
      '--out',
      model,
      '--epochs',
      '2',
      '--max-len',
      '4',
      '--dim',
      '8',
      '--workers',
      '1',
      '--ensemble',
      '1',
    );
    expect(train.code).toBe(0);
    expect(train.json).toMatchObject({ items: 7, epochs: 2, bestEpoch: 2, valid: null });
    expect(existsSync(join(model, 'sasrec.ckpt'))).toBe(true);
  }, 60_000);

  it('answers bad input with a clear error, a JSON error line and a non-zero exit', async () => {
    const missing = await localrec('train', '--data', join(dir, 'nope.csv'));
    expect(missing.code).toBe(1);
    expect(missing.json).toMatchObject({ error: { code: 'not-found' } });
    expect(missing.stderr).toMatch(/no such file or folder/);

    const badFlag = await localrec('train', '--data', 'demo', '--lr', 'abc');
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/--lr must be a number/);

    const noCkpt = await localrec('export', '--model', join(dir, 'empty'));
    expect(noCkpt.json).toMatchObject({ error: { code: 'not-found' } });
    expect(noCkpt.stderr).toMatch(/run `localrec train/);

    const unknown = await localrec('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  }, 60_000);
});
