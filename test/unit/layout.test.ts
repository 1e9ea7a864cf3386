/**
 * The layout rules the code keeps (docs/ARCHITECTURE.md, ../shared/design/STYLE.md), checked on
 * the source files themselves: imports point inward and never go round in a cycle, a source
 * file over 400 lines says why, and no folder of the SDK crowds past ten files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CODE = /\.(ts|js|mjs)$/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : CODE.test(name) ? [path] : [];
  });
}

/** Where each layer may import from (besides itself), as in docs/ARCHITECTURE.md. */
const ALLOWED: Record<string, string[]> = {
  'src/core': [],
  models: ['src/core'],
  // The federated trainer (src/client/trainer, in its own worker) runs the same model code as
  // central training: models/federated/local-update.ts, models/sasrec.
  'src/client': ['src/core', 'models'],
  'src/server': ['src/core'],
  'src/cli': ['src/core', 'src/server', 'models'],
  'src/embed': ['src/core', 'src/client', 'workers'],
  'src/demo': ['src/core', 'src/client', 'src/embed'],
  workers: ['src/client', 'src/core'],
};

const layerOf = (file: string): string | undefined => {
  const rel = relative(ROOT, file).split('/');
  const top = rel[0] === 'src' ? `src/${rel[1]}` : rel[0]!;
  return top in ALLOWED ? top : undefined;
};

const files = Object.keys(ALLOWED).flatMap((layer) => walk(join(ROOT, layer)));

// Static, dynamic and side-effect imports and `export … from`. A worker started from a file
// (`new Worker(new URL(…, import.meta.url))`) is another realm, not an import of that file.
const SPECIFIER = /(?:from\s*|import\s*\(\s*|import\s+)(['"])(\.{1,2}\/[^'"?]+)/g;

/** The repo files `file` imports by relative path (`.js` names resolve to their `.ts` source). */
function importsOf(file: string): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
    let target = resolve(dirname(file), m[2]!);
    if (!existsSync(target) && target.endsWith('.js')) target = `${target.slice(0, -3)}.ts`;
    if (existsSync(target) && statSync(target).isFile()) out.push(target);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Strongly connected components with more than one file, or a file importing itself. */
function cycles(): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(relative(ROOT, w));
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('layout', () => {
  it('reads the source tree', () => {
    expect(files.length).toBeGreaterThan(150);
    expect([...graph.values()].flat().length).toBeGreaterThan(500);
  });

  it('has no import cycle in src/, models/ or workers/ (dynamic imports included)', () => {
    expect(cycles()).toEqual([]);
  });

  it('imports point inward: each layer imports only the layers below it', () => {
    const wrong: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file)!;
      for (const t of targets) {
        const to = layerOf(t);
        if (to !== undefined && to !== from && !ALLOWED[from]!.includes(to))
          wrong.push(`${relative(ROOT, file)} → ${relative(ROOT, t)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('a file in src/ over 400 lines says why (a line "Over 400 lines: …")', () => {
    const long = walk(join(ROOT, 'src'))
      .map((f) => ({ f, text: readFileSync(f, 'utf8') }))
      .map(({ f, text }) => ({ f, text, lines: text.split('\n').length - 1 }))
      .filter(({ text, lines }) => lines > 400 && !/Over 400 lines: \S/.test(text))
      .map(({ f, lines }) => `${relative(ROOT, f)} (${lines} lines)`);
    expect(long).toEqual([]);
  });

  it('no folder of src/client holds more than ten files', () => {
    const crowded: string[] = [];
    const visit = (dir: string): void => {
      const entries = readdirSync(dir, { withFileTypes: true });
      const count = entries.filter((e) => e.isFile()).length;
      if (count > 10) crowded.push(`${relative(ROOT, dir)} (${count} files)`);
      for (const e of entries) if (e.isDirectory()) visit(join(dir, e.name));
    };
    visit(join(ROOT, 'src/client'));
    expect(crowded).toEqual([]);
  });
});
