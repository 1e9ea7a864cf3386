import { parseArgs } from 'node:util';
import { isLocalrecError } from '../core/errors.ts';
import type { CliOption, Command, FlagValues } from './command.ts';

const commands: Record<string, () => Promise<Command>> = {
  train: async () => (await import('./commands/train.ts')).trainCommand,
  eval: async () => (await import('./commands/eval.ts')).evalCommand,
  export: async () => (await import('./commands/export.ts')).exportCommand,
  shards: async () => (await import('./commands/shards.ts')).shardsCommand,
  serve: async () => (await import('./commands/serve.ts')).serveCommand,
  keygen: async () => (await import('./commands/keygen.ts')).keygenCommand,
  publish: async () => (await import('./commands/publish.ts')).publishCommand,
  gc: async () => (await import('./commands/gc.ts')).gcCommand,
  round: async () => (await import('./commands/round.ts')).roundCommand,
  'dp-epsilon': async () => (await import('./commands/dp-epsilon.ts')).dpEpsilonCommand,
  demo: async () => (await import('./commands/demo.ts')).demoCommand,
  build: async () => (await import('./commands/build.ts')).buildCommand,
  'bench-accuracy': async () => (await import('./commands/bench-accuracy.ts')).benchAccuracyCommand,
  'two-tower': async () => (await import('./commands/two-tower.ts')).twoTowerCommand,
  fedsim: async () => (await import('./commands/fedsim.ts')).fedsimCommand,
};

function mainHelp(): string {
  return `localrec — a private, on-device recommender

usage: localrec <command> [options]    (localrec <command> --help for its options)

commands:
  demo            train on the built-in demo catalog (or --data) if needed, export, and serve the demo site
  build           build the demo site and the one-tag embed (localrec.js); JSON size report on the last line
  train           train SASRec on an event file; writes a checkpoint
  two-tower       train, evaluate (incl. cold items) and export the two-tower retriever
  eval            evaluate a checkpoint (full ranking and sampled-100, validation and test)
  export          quantize a checkpoint and write the ONNX encoder, item shards and manifest
  shards          write item embeddings + metadata as sha256-named shards (int8, f16 or f32)
  serve           the sync server: signed manifest, blobs, federated rounds (and the demo site)
  keygen          make the Ed25519 key pair publish signs with
  publish         store an export's blobs and a new signed manifest version
  gc              delete old manifest versions and blobs no kept version uses
  round           open, close, show or list federated rounds
  bench-accuracy  train + evaluate the default config on MovieLens 100K; JSON on the last line
  dp-epsilon      ε at δ for T steps of the subsampled Gaussian mechanism; JSON on the last line
  fedsim          simulate federated learning with the real client and server code; plot + JSON
`;
}

function helpFor(name: string, c: Command): string {
  const lines = Object.entries(c.options).map(([k, o]) => {
    const flag = `--${k}${o.type === 'string' ? ' <value>' : ''}`;
    const def = o.default !== undefined ? ` (default ${String(o.default)})` : '';
    const desc = o.description ?? '';
    return `  ${flag.padEnd(28)} ${desc}${def}`;
  });
  return `localrec ${name} — ${c.summary}\n\nusage: ${c.usage}\n\noptions:\n${lines.join('\n')}\n  --help                       show this help\n`;
}

/**
 * Runs the CLI. Every command prints human progress on stderr and a JSON summary as its
 * last stdout line. Returns the process exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? 0 : 1;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(
      `localrec: unknown command '${name}'. Commands: ${Object.keys(commands).join(', ')}\n`,
    );
    return 2;
  }
  const cmd = await load();
  try {
    const options: Record<string, CliOption> = {
      ...cmd.options,
      help: { type: 'boolean', short: 'h' },
    };
    // parseArgs does not know our `description` field; strip it.
    const clean = Object.fromEntries(
      Object.entries(options).map(([k, { description: _d, ...o }]) => [k, o]),
    );
    const { values, positionals } = parseArgs({
      args: rest,
      options: clean,
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(helpFor(name, cmd));
      return 0;
    }
    const summary = await cmd.run(values as FlagValues, positionals);
    if (summary !== undefined) process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } catch (e) {
    if (isLocalrecError(e)) {
      process.stderr.write(`localrec ${name}: ${e.message}\n`);
      process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`);
      return 1;
    }
    if (
      e instanceof TypeError &&
      'code' in e &&
      String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`localrec ${name}: ${e.message}\n\n${helpFor(name, cmd)}`);
      return 2;
    }
    throw e;
  }
}
