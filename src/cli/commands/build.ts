import { resolve } from 'node:path';
import { buildSite } from '../build-site.ts';
import type { Command } from '../command.ts';

/** `localrec build` (`npm run build`): the demo site and the one-tag embed, with the embed's size. */
export const buildCommand: Command = {
  summary:
    'build the demo site and the one-tag embed (localrec.js) into one folder; reports the embed size and fails over its 60 kB gzip budget',
  usage: 'npm run build [-- --out dist]',
  options: {
    out: { type: 'string', description: 'output folder (emptied first)', default: 'dist' },
  },
  async run(v) {
    const { outDir, embed } = await buildSite({
      outDir: resolve(String(v['out'] ?? 'dist')),
      log: (text) => process.stderr.write(`${text}\n`),
    });
    return { outDir, embed };
  },
};
