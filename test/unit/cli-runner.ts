/** Runs the real `localrec` binary for the CLI tests. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = join(import.meta.dirname, '../../bin/localrec.js');

/** What one run of the binary left: exit code, output, and its last stdout line when that is JSON. */
export interface CliRun {
  code: number;
  stdout: string;
  /** As JSON.parse gives it: tests read the summary's fields freely. */
  json: ReturnType<typeof JSON.parse>;
  stderr: string;
}

function lastJson(out: string): CliRun['json'] {
  const last = out.trim().split('\n').at(-1) ?? '';
  return last.startsWith('{') ? JSON.parse(last) : {};
}

/** Runs `localrec ...args`; a non-zero exit is returned as `code`, not thrown. */
export async function localrec(...args: string[]): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run('node', [bin, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, json: lastJson(stdout), stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, json: lastJson(err.stdout), stderr: err.stderr };
  }
}
