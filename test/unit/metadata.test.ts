import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import {
  decodeMetadataShard,
  encodeMetadataShard,
  isSafeLink,
  METADATA_FORMAT,
} from '../../src/core/metadata.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isLocalrecError(e) ? `${e.code}: ${e.message}` : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('metadata shards', () => {
  const items = [
    {
      id: '50',
      title: 'Star Wars (1977)',
      categories: ['Action', 'Sci-Fi'],
      url: '/m/50',
      popularity: 583,
      addedAt: 874965758,
    },
    {
      id: 'é/2',
      title: '<b>not html</b> & "quotes"',
      categories: [],
      image: 'https://img.example/2.jpg',
    },
  ];

  it('round-trips items, text kept verbatim', () => {
    const back = decodeMetadataShard(encodeMetadataShard(7, items));
    expect(back).toEqual({ version: 1, baseIndex: 7, items });
  });

  it('accepts only http(s) links, absolute or relative', () => {
    for (const ok of [
      'https://a.example/x',
      'http://a.example',
      '/x?y=1',
      'rel/path',
      '//cdn.example/i.png',
    ])
      expect(isSafeLink(ok), ok).toBe(true);
    for (const bad of [
      'javascript:alert(1)',
      ' JavaScript:alert(1)',
      'data:text/html,<b>',
      'blob:https://a/x',
      'file:///etc/passwd',
      'vbscript:x',
    ])
      expect(isSafeLink(bad), bad).toBe(false);
    expect(
      codeOf(() => encodeMetadataShard(1, [{ ...items[0]!, url: 'javascript:alert(1)' }])),
    ).toMatch(/^bad-input: .*item 0 \(id 50\): url .* is not an http\(s\) link/);
  });

  it('rejects malformed shards with a clear error', () => {
    const base = { format: METADATA_FORMAT, version: 1, baseIndex: 1, items };
    expect(codeOf(() => decodeMetadataShard(new Uint8Array([0xff, 0xfe])))).toMatch(
      /^bad-format: .*not UTF-8 JSON/,
    );
    expect(codeOf(() => decodeMetadataShard(json([])))).toMatch(/^bad-format: .*not a JSON object/);
    expect(codeOf(() => decodeMetadataShard(json({ ...base, format: 'other' })))).toMatch(
      /^bad-format: .*format is "other"/,
    );
    expect(codeOf(() => decodeMetadataShard(json({ ...base, version: 2 })))).toMatch(
      /^unsupported-version: .*version 2/,
    );
    expect(codeOf(() => decodeMetadataShard(json({ ...base, baseIndex: -1 })))).toMatch(
      /^bad-format: .*baseIndex/,
    );
    expect(
      codeOf(() => decodeMetadataShard(json({ ...base, items: [{ title: 'x', categories: [] }] }))),
    ).toMatch(/^bad-format: .*item 0 has no non-empty string id/);
    expect(
      codeOf(() =>
        decodeMetadataShard(json({ ...base, items: [{ id: 'x', title: 'x', categories: [1] }] })),
      ),
    ).toMatch(/^bad-format: .*categories must be an array of strings/);
    expect(
      codeOf(() =>
        decodeMetadataShard(
          json({
            ...base,
            items: [{ id: 'x', title: 'x', categories: [], image: 'data:image/png,x' }],
          }),
        ),
      ),
    ).toMatch(/^bad-format: .*image .* is not an http\(s\) link/);
    for (const bad of [-1, 'many', Infinity])
      expect(
        codeOf(() =>
          decodeMetadataShard(
            json({ ...base, items: [{ id: 'x', title: 'x', categories: [], popularity: bad }] }),
          ),
        ),
      ).toMatch(/^bad-format: .*popularity must be a finite number >= 0/);
  });
});
