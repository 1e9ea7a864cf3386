/** The embed tag's data-* attributes: what is accepted, and one message naming every problem. */
import { describe, expect, it } from 'vitest';
import { parseEmbedConfig, type EmbedAttribute } from '../../src/embed/config.ts';

const KEY = Buffer.alloc(32, 3).toString('base64');
const PAGE = 'https://shop.example/products/42';

function parse(attrs: Partial<Record<EmbedAttribute, string>>) {
  return parseEmbedConfig((name) => attrs[name] ?? null, PAGE);
}

describe('parseEmbedConfig', () => {
  it('reads the tag of the issue, with defaults for the rest', () => {
    const r = parse({
      server: 'https://recs.example/',
      'public-key': KEY,
      target: '#recs',
      k: '8',
    });
    expect(r).toEqual({
      ok: true,
      config: {
        server: 'https://recs.example',
        publicKey: KEY,
        target: '#recs',
        k: 8,
        title: undefined,
        slot: undefined,
        itemId: undefined,
        consent: undefined,
      },
    });
  });

  it('defaults k to 8, takes no target as "API only", resolves a relative server against the page', () => {
    const r = parse({ server: '/recs', 'public-key': ` ${KEY} ` });
    expect(r.ok && r.config).toMatchObject({
      server: 'https://shop.example/recs',
      publicKey: KEY,
      target: null,
      k: 8,
    });
  });

  it('reads title (as given, "" for none), slot, item and consent', () => {
    const r = parse({
      server: 'https://recs.example',
      'public-key': KEY,
      title: '',
      slot: 'product-page',
      item: '42',
      consent: 'personalization, federated',
    });
    expect(r.ok && r.config).toMatchObject({
      title: '',
      slot: 'product-page',
      itemId: '42',
      consent: { personalization: true, federated: true },
    });
    const none = parse({ server: 'https://recs.example', 'public-key': KEY, consent: 'none' });
    expect(none.ok && none.config.consent).toEqual({ personalization: false, federated: false });
    const one = parse({
      server: 'https://recs.example',
      'public-key': KEY,
      consent: 'Personalization',
    });
    expect(one.ok && one.config.consent).toEqual({ personalization: true });
  });

  it('names every problem at once', () => {
    const r = parse({ target: '  ', k: '0', consent: 'everything' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(5);
    expect(r.errors.join('\n')).toMatch(/data-server is missing/);
    expect(r.errors.join('\n')).toMatch(/data-public-key is missing/);
    expect(r.errors.join('\n')).toMatch(/data-target is empty/);
    expect(r.errors.join('\n')).toMatch(/data-k '0' must be a whole number from 1 to 50/);
    expect(r.errors.join('\n')).toMatch(/data-consent: unknown flag 'everything'/);
  });

  it.each([
    ['k', '51'],
    ['k', '2.5'],
    ['k', 'eight'],
    ['k', '-1'],
    ['server', 'javascript:alert(1)'],
    ['server', 'http://[bad'],
    ['public-key', 'not-a-key'],
    ['public-key', Buffer.alloc(16, 1).toString('base64')],
    ['consent', ''],
  ] as const)('rejects data-%s="%s"', (name, value) => {
    const r = parse({ server: 'https://recs.example', 'public-key': KEY, [name]: value });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join(' ')).toContain(`data-${name}`);
  });
});
