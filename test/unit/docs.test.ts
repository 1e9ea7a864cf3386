/**
 * The pictures in docs/ are drawn from their sources (docs/*.dot, by
 * scripts/make-architecture.mjs): each SVG the README shows must be the one its source draws now.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path));

const PICTURES = [
  { name: 'architecture', shows: 'Recommender worker', in: ['README.md', 'docs/ARCHITECTURE.md'] },
  { name: 'federated-loop', shows: 'trainer worker', in: ['README.md', 'docs/ARCHITECTURE.md'] },
];

describe.each(PICTURES)('docs/$name.svg', (p) => {
  it(`is drawn from the current docs/${p.name}.dot (npm run docs:architecture)`, () => {
    const svg = read(`docs/${p.name}.svg`).toString('utf8');
    const stamped = new RegExp(`Drawn from docs/${p.name}\\.dot \\(sha256 ([0-9a-f]{64})\\)`).exec(
      svg,
    )?.[1];
    const source = createHash('sha256').update(read(`docs/${p.name}.dot`)).digest('hex');
    expect(stamped, 'the SVG carries its source hash').toBeDefined();
    expect(stamped, `docs/${p.name}.dot changed: run npm run docs:architecture`).toBe(source);
    expect(svg).toMatch(/<svg[\s>]/);
    expect(svg).toContain(p.shows);
  });

  it(`is a picture ${p.in.join(' and ')} show`, () => {
    for (const doc of p.in)
      expect(read(doc).toString('utf8'), doc).toContain(`${p.name}.svg`);
  });
});
