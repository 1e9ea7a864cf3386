/**
 * What a CLI command is and the helpers its `run` reads flags with. Commands import this
 * module, never main.ts, so main.ts can load them lazily without an import cycle.
 */
import { LocalrecError } from '../core/errors.ts';

/** A flag as node:util parseArgs takes it, plus the text `--help` shows. */
export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean;
  description?: string;
}

/** The flags' values as parseArgs returns them. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** One CLI command: its flags, its help, and what it runs. Returns the JSON summary. */
export interface Command {
  summary: string;
  usage: string;
  options: Record<string, CliOption>;
  run: (values: FlagValues, positionals: string[]) => Promise<unknown>;
}

/** Parses a numeric flag with a clear error. */
export function num(
  values: Record<string, unknown>,
  key: string,
  opts: { int?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const v = values[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  const ok =
    Number.isFinite(n) &&
    (!opts.int || Number.isInteger(n)) &&
    (opts.min === undefined || n >= opts.min) &&
    (opts.max === undefined || n <= opts.max);
  if (!ok) {
    const want = `${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}${opts.max !== undefined ? ` <= ${opts.max}` : ''}`;
    throw new LocalrecError('bad-input', `--${key} must be ${want}, got '${String(v)}'`);
  }
  return n;
}

/**
 * A string flag that must be given: `--key is required (what)` otherwise.
 *
 * @example requiredFlag(v, 'model', 'a folder with sasrec.ckpt')
 */
export function requiredFlag(values: Record<string, unknown>, key: string, what: string): string {
  const v = values[key];
  if (typeof v !== 'string') throw new LocalrecError('bad-input', `--${key} is required (${what})`);
  return v;
}

/**
 * A flag that takes one of a few words (`fallback` when absent), with an error listing them.
 *
 * @example choice(v, 'dtype', ['int8', 'f16', 'f32'], 'int8') // 'int8' | 'f16' | 'f32'
 */
export function choice<T extends string>(
  values: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const v = String(values[key] ?? fallback);
  if (!(allowed as readonly string[]).includes(v)) {
    const list = `${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`;
    throw new LocalrecError('bad-input', `--${key} must be ${list}, got '${v}'`);
  }
  return v as T;
}
