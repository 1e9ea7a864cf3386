/**
 * The real `localrec serve` in a child process, for the tests that kill it (crash safety): it
 * resolves once the server printed its JSON summary line (so it listens), and lets a test wait
 * for a line on its stderr. Every child started is kept in `children` so that the test file's
 * afterAll can kill what is left ({@link killAll}).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const bin = join(import.meta.dirname, '../../bin/localrec.js');

/** A running `localrec serve`. */
export interface ServeChild {
  child: ChildProcess;
  /** Its URL, without a trailing slash. */
  base: string;
  /** Resolves with the exit code once it exited (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Resolves once stderr holds `text`; rejects if the server exits first. */
  waitFor(text: string): Promise<void>;
  /** Its stderr so far. */
  stderr(): string;
}

/** Starts `localrec serve <args>` and resolves once it listens; rejects if it exits first. */
export function startServe(
  args: readonly string[],
  children: ChildProcess[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServeChild> {
  const child = spawn('node', [bin, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  children.push(child);
  let err = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stderr!.on('data', (d) => {
    err += d;
    for (const w of waiters.filter((w) => err.includes(w.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line)
        resolve({
          child,
          base: (JSON.parse(line) as { url: string }).url.replace(/\/$/, ''),
          exited,
          stderr: () => err,
          waitFor: (text) =>
            new Promise<void>((ok, fail) => {
              if (err.includes(text)) return ok();
              waiters.push({ text, resolve: ok });
              child.once('exit', () =>
                fail(new Error(`serve exited before printing '${text}':\n${err}`)),
              );
            }),
        });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${err}`)));
  });
}

/** Kills every child still running (a test file's afterAll). */
export function killAll(children: readonly ChildProcess[]): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
