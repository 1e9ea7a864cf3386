/**
 * The architecture picture is drawn from its source (docs/architecture.dot, by
 * scripts/make-architecture.mjs): the SVG the README shows must be the one its source draws now.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path));

describe('docs/architecture.svg', () => {
  it('is drawn from the current docs/architecture.dot (npm run docs:architecture)', () => {
    const svg = read('docs/architecture.svg').toString('utf8');
    const stamped = /Drawn from docs\/architecture\.dot \(sha256 ([0-9a-f]{64})\)/.exec(svg)?.[1];
    const source = createHash('sha256').update(read('docs/architecture.dot')).digest('hex');
    expect(stamped, 'the SVG carries its source hash').toBeDefined();
    expect(stamped, 'docs/architecture.dot changed: run npm run docs:architecture').toBe(source);
    expect(svg).toMatch(/<svg[\s>]/);
    expect(svg).toContain('Recommender worker');
  });

  it('is the picture the README and docs/ARCHITECTURE.md show', () => {
    for (const doc of ['README.md', 'docs/ARCHITECTURE.md'])
      expect(read(doc).toString('utf8'), doc).toMatch(/architecture\.svg/);
  });
});
