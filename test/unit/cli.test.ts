import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeShard } from '../../src/core/shard.ts';

const run = promisify(execFile);
const bin = join(import.meta.dirname, '../../bin/localrec.js');
const dir = mkdtempSync(join(tmpdir(), 'localrec-cli-'));

/** Runs the real `localrec` binary; returns its exit code and the JSON on its last stdout line. */
async function localrec(
  ...args: string[]
): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [bin, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, json: JSON.parse(stdout.trim().split('\n').at(-1)!), stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    const last = err.stdout.trim().split('\n').at(-1) ?? '';
    return {
      code: err.code,
      json: last.startsWith('{') ? JSON.parse(last) : {},
      stderr: err.stderr,
    };
  }
}

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

    const ev = await localrec('eval', '--model', model, '--quantization', 'fp32,int8');
    expect(ev.code).toBe(0);
    const fp32 = ev.json['fp32'] as { valid: { full: { ndcg10: number; users: number } } };
    expect(fp32.valid.full.users).toBe(150);
    expect(fp32.valid.full.ndcg10).toBeGreaterThan(0);
  }, 120_000);

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
