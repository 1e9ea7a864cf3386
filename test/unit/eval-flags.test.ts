/** `localrec eval`'s flags: which export it scores (--shipped) and which twins go beside it. */
import { describe, expect, it } from 'vitest';
import { parseSchemes, parseShipped } from '../../src/cli/commands/eval.ts';

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
