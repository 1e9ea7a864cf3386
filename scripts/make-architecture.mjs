#!/usr/bin/env node
// Draws docs/architecture.svg from docs/architecture.dot with Graphviz's `dot`
// (`apt-get install graphviz`), stamped with the source's sha256 so a unit test
// (test/unit/docs.test.ts) can tell when the picture is older than its source.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const docs = join(import.meta.dirname, '..', 'docs');
const source = readFileSync(join(docs, 'architecture.dot'));
let svg;
try {
  svg = execFileSync('dot', ['-Tsvg'], { input: source, encoding: 'utf8' });
} catch (e) {
  console.error(`could not run Graphviz's dot (apt-get install graphviz): ${e.message}`);
  process.exit(1);
}
const sha = createHash('sha256').update(source).digest('hex');
const stamp = `<!-- Drawn from docs/architecture.dot (sha256 ${sha}) by npm run docs:architecture; edit that file, not this one. -->\n`;
// Graphviz's own comments carry its version and the graph's name: the stamp goes first.
svg = svg.replace(/^(<\?xml[^>]*>\n)?/, (header) => header + stamp);
writeFileSync(join(docs, 'architecture.svg'), svg);
console.log(JSON.stringify({ svg: 'docs/architecture.svg', bytes: svg.length, source: sha }));
