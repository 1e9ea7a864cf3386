import { resolve } from 'node:path';
import { generateKeyFiles } from '../../server/keys.ts';
import type { Command } from '../command.ts';

export const keygenCommand: Command = {
  summary: 'make an Ed25519 signing key pair for `localrec publish` (private key mode 0600)',
  usage: 'localrec keygen [--out .localrec/keys/localrec] [--force]',
  options: {
    out: {
      type: 'string',
      default: '.localrec/keys/localrec',
      description:
        'writes <out>.key (private, PKCS#8 PEM, 0600) and <out>.pub (base64 raw public key)',
    },
    force: {
      type: 'boolean',
      description: 'replace an existing key (pinned clients must be updated)',
    },
  },
  async run(v) {
    const r = await generateKeyFiles(resolve(String(v['out'])), { force: v['force'] === true });
    process.stderr.write(
      `wrote ${r.privateKeyFile} (keep it on this machine, never in the store or the web root)\n` +
        `pin this public key in the embed config: ${r.publicKey}\n`,
    );
    return r;
  },
};
