/**
 * `localrec eval`'s flags — which export it scores (--shipped) and which twins go beside it —
 * and what it reports for a model that cannot ship.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalCommand, parseSchemes, parseShipped } from '../../src/cli/commands/eval.ts';
import { loadDataset } from '../../src/cli/data.ts';
import { runTrain } from '../../src/cli/train.ts';

describe('localrec eval flags', () => {
  it('--quantization lists the in-memory twins, or none', () => {
    expect(parseSchemes('fp32,int8', '--quantization')).toEqual(['fp32', 'int8']);
    expect(parseSchemes(' int4 ', '--quantization')).toEqual(['int4']);
    expect(parseSchemes('none', '--quantization')).toEqual([]);
    expect(parseSchemes('', '--quantization')).toEqual([]);
    expect(() => parseSchemes('fp16', '--quantization')).toThrow(
      /--quantization takes fp32, int8, int4 \(comma-separated\) or none; got 'fp16'/,
    );
  });

  it('--shipped names one export quantization, int8 by default', () => {
    expect(parseShipped(undefined)).toBe('int8');
    expect(parseShipped('fp32')).toBe('fp32');
    expect(() => parseShipped('int8,fp32')).toThrow(/--shipped takes one of fp32, int8, int4/);
    expect(() => parseShipped('none')).toThrow(/--shipped takes one of/);
    expect(() => parseShipped('q4')).toThrow(/--shipped takes .* got 'q4'/);
  });
});

describe('localrec eval on a model the export refuses', () => {
  it('reports shipped: null with the reason, and the in-memory twins beside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'localrec-eval-'));
    try {
      const model = join(dir, 'model');
      const ds = loadDataset('demo:40:50:3');
      await runTrain(ds, {
        model: { maxLen: 8, dim: 8, blocks: 1, heads: 1, ffnDim: 8, itemBias: true },
        train: { epochs: 1, maxSeconds: 0, seed: 1, workers: 1 },
        members: 1,
        out: model,
        dataSource: 'demo:40:50:3',
        quiet: true,
      });
      const out = (await evalCommand.run({ model, shipped: 'int8', quantization: 'fp32' }, [])) as {
        shipped: unknown;
        shippedError: { code: string; message: string };
        inMemory: { fp32: { test: { full: { users: number } } } };
      };
      expect(out.shipped).toBeNull();
      expect(out.shippedError).toEqual({
        code: 'bad-input',
        message: expect.stringMatching(
          /trained with --item-bias.*exporting its bias is not supported/,
        ),
      });
      expect(out.inMemory.fp32.test.full.users).toBe(50);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
