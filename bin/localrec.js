#!/usr/bin/env node
// The `localrec` command. The installed package runs the CLI compiled to lib/ (scripts/build-package.mjs,
// run by `npm pack`); a checkout of the repository, which has the TypeScript sources beside this file,
// runs them through tsx so that `npm start` and `npm test` need no build step.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../lib/src/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
