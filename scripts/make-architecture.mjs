#!/usr/bin/env node
// Draws the pictures in docs/ from their Graphviz sources with `dot` (`apt-get install
// graphviz`): docs/architecture.svg (where the code runs) and docs/federated-loop.svg (the
// learning loop), each stamped with its source's sha256 so a unit test (test/unit/docs.test.ts)
// can tell when a picture is older than its source.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const docs = join(import.meta.dirname, '..', 'docs');
const drawn = [];
for (const name of ['architecture', 'federated-loop']) {
  const source = readFileSync(join(docs, `${name}.dot`));
  let svg;
  try {
    svg = execFileSync('dot', ['-Tsvg'], { input: source, encoding: 'utf8' });
  } catch (e) {
    console.error(`could not run Graphviz's dot (apt-get install graphviz): ${e.message}`);
    process.exit(1);
  }
  const sha = createHash('sha256').update(source).digest('hex');
  const stamp = `<!-- Drawn from docs/${name}.dot (sha256 ${sha}) by npm run docs:architecture; edit that file, not this one. -->\n`;
  // Graphviz's own comments carry its version and the graph's name: the stamp goes first.
  svg = svg.replace(/^(<\?xml[^>]*>\n)?/, (header) => header + stamp);
  writeFileSync(join(docs, `${name}.svg`), svg);
  drawn.push({ svg: `docs/${name}.svg`, bytes: svg.length, source: sha });
}
console.log(JSON.stringify({ drawn }));
