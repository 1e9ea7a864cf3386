/**
 * The TSDoc examples of the package's public exports stay true: every exported function and
 * class shows a ```ts example, and every example type-checks against the source as a user's
 * file would — importing `localrec`, `localrec/embed`, `localrec/server` or `localrec/core`,
 * under the repo's compiler options. One in-memory program for all the examples, so a renamed
 * option or a changed signature fails here with the export's name, not in a reader's editor.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * The entry points from package.json's `exports` map: `./lib/src/x/index.d.ts` is built from
 * `src/x/index.ts`, so the test follows the map rather than a second list kept by hand.
 */
function entryPoints(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, string | { types?: string }>;
  };
  const entries = new Map<string, string>();
  for (const [key, target] of Object.entries(pkg.exports)) {
    const types = typeof target === 'string' ? undefined : target.types;
    const source = types?.match(/^\.\/lib\/(.+)\.d\.ts$/)?.[1];
    if (source === undefined) continue; // a plain file (the script tag, package.json)
    entries.set(key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`, join(ROOT, `${source}.ts`));
  }
  return entries;
}

const ENTRIES = entryPoints();

const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
const OPTIONS: ts.CompilerOptions = {
  ...ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT).options,
  noEmit: true,
  skipLibCheck: true,
  // The package names resolve to the source entries (before the package's self-reference,
  // which would find the built lib/).
  paths: Object.fromEntries([...ENTRIES].map(([name, file]) => [name, [file]])),
};

/** Where the examples live in the in-memory program: inside the repo, so its types resolve. */
const EXAMPLE_DIR = join(ROOT, 'test/unit/__doc-examples__');

interface Example {
  /** `localrec/core: verifyManifest` */
  owner: string;
  file: string;
  code: string;
}

/** The text of the TSDoc comment right above `node` (the one TypeScript attaches), unstarred. */
function docText(node: ts.Node): string | undefined {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const doc = docs[docs.length - 1];
  if (doc === undefined) return undefined;
  return doc
    .getText()
    .replace(/^\/\*\*|\*\/$/g, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n');
}

const FENCE = /```ts\n([\s\S]*?)```/g;
const HAS_EXAMPLE = /```ts\n[\s\S]*?```/;

type Kind = 'function' | 'class' | 'constant' | 'type';

function kindOf(symbol: ts.Symbol): Kind {
  if (symbol.flags & ts.SymbolFlags.Function) return 'function';
  if (symbol.flags & ts.SymbolFlags.Class) return 'class';
  if (symbol.flags & ts.SymbolFlags.Variable) return 'constant';
  return 'type';
}

interface Export {
  owner: string;
  kind: Kind;
  /** Every TSDoc comment of its declarations (overloads, merged declarations). */
  docs: string[];
  /** `src/core/manifest.ts`, for the messages. */
  declaredIn: string;
}

/**
 * The names an entry exports for types only (`export type { … }`, `type X` specifiers,
 * `export type * from …`): a user cannot call those, whatever they are in their own file.
 */
function typeOnlyNames(source: ts.SourceFile, checker: ts.TypeChecker): Set<string> {
  const names = new Set<string>();
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement)) continue;
    const clause = statement.exportClause;
    if (clause !== undefined && ts.isNamedExports(clause)) {
      for (const element of clause.elements)
        if (statement.isTypeOnly || element.isTypeOnly) names.add(element.name.text);
    } else if (statement.isTypeOnly && clause === undefined && statement.moduleSpecifier) {
      const target = checker.getSymbolAtLocation(statement.moduleSpecifier);
      for (const s of target ? checker.getExportsOfModule(target) : []) names.add(s.name);
    }
  }
  return names;
}

/** The entries' program; the examples' program reuses its parsed files. */
const ENTRY_PROGRAM = ts.createProgram([...ENTRIES.values()], OPTIONS);

function publicExports(): Export[] {
  const program = ENTRY_PROGRAM;
  const checker = program.getTypeChecker();
  const out: Export[] = [];
  for (const [name, file] of ENTRIES) {
    const source = program.getSourceFile(file);
    if (source === undefined) throw new Error(`${name}: ${file} is not in the program`);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    if (moduleSymbol === undefined) throw new Error(`${name}: ${file} is not a module`);
    const typeOnly = typeOnlyNames(source, checker);
    // The entry's own comment (`@packageDocumentation`, on its first statement): its example
    // is the first a reader sees, so it is checked like the others.
    const first = source.statements[0];
    const packageDoc = first ? docText(first) : undefined;
    if (packageDoc?.includes('@packageDocumentation'))
      out.push({
        owner: `${name} (package)`,
        kind: 'type',
        docs: [packageDoc],
        declaredIn: relative(ROOT, file),
      });
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol =
        exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declarations = symbol.declarations ?? [];
      out.push({
        owner: `${name}: ${exported.name}`,
        kind: typeOnly.has(exported.name) ? 'type' : kindOf(symbol),
        docs: declarations.map(docText).filter((d): d is string => d !== undefined),
        declaredIn: declarations[0]
          ? relative(ROOT, declarations[0].getSourceFile().fileName)
          : '?',
      });
    }
  }
  return out;
}

const EXPORTS = publicExports();

/**
 * Each example once (an export re-exported by two entries shares its declaration and its
 * comment), as its own module: `export {}` makes one without imports a module too, so its
 * top-level await and its names stay its own.
 */
function examplesOf(exports: Export[]): Example[] {
  const seen = new Set<string>();
  const examples: Example[] = [];
  for (const e of exports) {
    for (const doc of e.docs) {
      for (const [, code] of doc.matchAll(FENCE)) {
        const key = `${e.declaredIn}\n${code}`;
        if (code === undefined || seen.has(key)) continue;
        seen.add(key);
        const file = join(EXAMPLE_DIR, `example-${examples.length}.ts`);
        examples.push({ owner: e.owner, file, code: `${code}\nexport {};\n` });
      }
    }
  }
  return examples;
}

const EXAMPLES = examplesOf(EXPORTS);

/** Type-checks all the examples in one program; a line per compiler error, naming its export. */
function checkExamples(examples: Example[]): string[] {
  const byFile = new Map(examples.map((e) => [e.file, e]));
  const host = ts.createCompilerHost(OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => byFile.has(f) || fileExists.call(host, f);
  host.readFile = (f) => byFile.get(f)?.code ?? readFile.call(host, f);
  host.getSourceFile = (f, version, ...rest) => {
    const example = byFile.get(f);
    return example
      ? ts.createSourceFile(f, example.code, version, true)
      : getSourceFile.call(host, f, version, ...rest);
  };
  const program = ts.createProgram({
    rootNames: [...byFile.keys()],
    options: OPTIONS,
    host,
    oldProgram: ENTRY_PROGRAM,
  });
  const lib = join(ROOT, 'lib/');
  const built = program.getSourceFiles().filter((s) => s.fileName.startsWith(lib));
  if (built.length > 0) throw new Error(`examples resolved to lib/: ${built[0]!.fileName}`);
  const problems: string[] = [];
  for (const example of examples) {
    const source = program.getSourceFile(example.file)!;
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    for (const d of diagnostics) {
      const at =
        d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      const where = at ? ` line ${at.line + 1}` : '';
      const line = at ? `\n    ${example.code.split('\n')[at.line]?.trim()}` : '';
      problems.push(
        `${example.owner} example${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}${line}`,
      );
    }
    if (/\bas\s+any\b|:\s*any\b|<any>/.test(example.code))
      problems.push(`${example.owner} example: uses \`any\`; declare the value it needs instead`);
  }
  return problems;
}

describe('TSDoc examples of the public exports', () => {
  it('finds the entry points and their exports', () => {
    expect([...ENTRIES.keys()].sort()).toEqual([
      'localrec',
      'localrec/core',
      'localrec/embed',
      'localrec/server',
    ]);
    for (const file of ENTRIES.values()) expect(existsSync(file), file).toBe(true);
    expect(EXPORTS.filter((e) => e.kind === 'function').length).toBeGreaterThan(40);
    expect(EXPORTS.filter((e) => e.kind === 'class').length).toBeGreaterThan(0);
  });

  it('every export has a TSDoc comment', () => {
    const undocumented = EXPORTS.filter((e) => e.docs.every((d) => d.trim() === ''));
    expect(undocumented.map((e) => `${e.owner} (${e.declaredIn})`)).toEqual([]);
  });

  it('every exported function and class shows a ```ts example (constants may not)', () => {
    const missing = EXPORTS.filter(
      (e) =>
        (e.kind === 'function' || e.kind === 'class') && !e.docs.some((d) => HAS_EXAMPLE.test(d)),
    );
    expect(missing.map((e) => `${e.owner} (${e.declaredIn})`)).toEqual([]);
  });

  it('every example comes before the block tags (after `@throws`, it would render inside it)', () => {
    const late = EXPORTS.filter((e) =>
      e.docs.some((d) => {
        const firstTag = d.search(/^@\w/m);
        return firstTag >= 0 && d.slice(firstTag).includes('```ts');
      }),
    );
    expect(late.map((e) => `${e.owner} (${e.declaredIn})`)).toEqual([]);
  });

  it('every example imports the package as a user would', () => {
    const wrong = EXAMPLES.filter((e) => !/from 'localrec(\/\w+)?';/.test(e.code)).map(
      (e) => e.owner,
    );
    expect(wrong).toEqual([]);
    const relativeImport = EXAMPLES.filter((e) => /from '\.{1,2}\//.test(e.code));
    expect(relativeImport.map((e) => e.owner)).toEqual([]);
  });

  it('every example type-checks against the source (strict, DOM + WebWorker + node)', () => {
    expect(EXAMPLES.length).toBeGreaterThan(40);
    expect(checkExamples(EXAMPLES)).toEqual([]);
  });
});
