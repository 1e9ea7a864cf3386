/**
 * The grounded answer `{ "reason": string, "evidence": [ids] }` (issue #15): the constraint
 * handed to the engine — a llama.cpp GBNF grammar for wllama, a JSON schema for web-llm's
 * `response_format` — and the validator of what comes back. The grammar admits only ids from
 * the given list and bounds every part's length, so any model, even one with random weights,
 * writes parseable JSON that cites only given ids and ends within {@link GroundedSpec} `maxTokens`.
 */
import { LocalrecError } from '../../core/errors.ts';

/** What a grounded answer may contain. */
export interface GroundedOptions {
  /** The ids the evidence may cite (at least one, no duplicates, none empty). */
  ids: readonly string[];
  /** Longest reason, in characters (an escape such as `\n` counts as one). Default 160. */
  maxReasonChars?: number;
  /** Fewest ids cited. Default 1. */
  minEvidence?: number;
  /** Most ids cited. Default min(3, ids.length). */
  maxEvidence?: number;
}

/** The constraint in both engines' forms, and the longest answer it admits. */
export interface GroundedSpec {
  /** llama.cpp GBNF (wllama's `grammar`). */
  gbnf: string;
  /** JSON schema (web-llm's `response_format: { type: 'json_object', schema }`). */
  schema: Record<string, unknown>;
  /**
   * Most tokens a complete answer takes plus the end token: the answer's longest UTF-8 length
   * in bytes + 1, since every token writes at least one byte. As `maxTokens` no answer is cut.
   */
  maxTokens: number;
}

/** A validated grounded answer. */
export interface GroundedAnswer {
  reason: string;
  /** Cited ids, each once, in the order first cited; a subset of the given ids. */
  evidence: string[];
}

const utf8 = new TextEncoder();

/**
 * The GBNF rule `char`: one character of a JSON string — anything but '"', '\\' and control
 * characters, or an escape.
 */
export const GBNF_JSON_CHAR = `char ::= [^"\\\\\\x00-\\x1f\\x7f] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})`;

/** A GBNF string literal matching exactly the bytes of `s`. */
export function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function resolved(o: GroundedOptions): Required<GroundedOptions> {
  const ids = [...o.ids];
  if (ids.length === 0)
    throw new LocalrecError('bad-input', 'a grounded answer needs at least one id to cite');
  if (ids.some((id) => typeof id !== 'string' || id.length === 0))
    throw new LocalrecError('bad-input', 'the ids to cite must be non-empty strings');
  if (new Set(ids).size !== ids.length)
    throw new LocalrecError('bad-input', 'the ids to cite must not repeat');
  const maxReasonChars = o.maxReasonChars ?? 160;
  const minEvidence = o.minEvidence ?? 1;
  const maxEvidence = o.maxEvidence ?? Math.min(3, ids.length);
  const int = (n: number) => Number.isInteger(n) && n >= 0;
  if (!int(maxReasonChars) || maxReasonChars > 2000)
    throw new LocalrecError(
      'bad-input',
      `maxReasonChars must be an integer in 0..2000, got ${maxReasonChars}`,
    );
  if (
    !int(minEvidence) ||
    !int(maxEvidence) ||
    minEvidence > maxEvidence ||
    maxEvidence > ids.length
  )
    throw new LocalrecError(
      'bad-input',
      `evidence bounds must satisfy 0 ≤ minEvidence (${minEvidence}) ≤ maxEvidence (${maxEvidence}) ≤ ids (${ids.length})`,
    );
  return { ids, maxReasonChars, minEvidence, maxEvidence };
}

/** `item (sep item){min-1,max-1}`, or optional when min is 0; '' for max 0. */
function list(item: string, sep: string, min: number, max: number): string {
  if (max === 0) return '';
  const rest = (lo: number, hi: number) => (hi === 0 ? '' : ` (${sep} ${item}){${lo},${hi}}`);
  const one = `${item}${rest(Math.max(0, min - 1), max - 1)}`;
  return min === 0 ? `(${one})?` : one;
}

/**
 * The grammar and schema of a grounded answer citing only `ids`.
 *
 * @throws LocalrecError `bad-input` for no ids, empty or repeated ids, or bounds that cannot hold.
 */
export function groundedSpec(options: GroundedOptions): GroundedSpec {
  const o = resolved(options);
  const idRule = o.ids.map((id) => gbnfLiteral(JSON.stringify(id))).join(' | ');
  const gbnf = [
    `root ::= "{" ws "\\"reason\\":" ws "\\"" char{0,${o.maxReasonChars}} "\\"," ws "\\"evidence\\":" ws "[" evidence "]" ws "}"`,
    GBNF_JSON_CHAR,
    `evidence ::= ${list('id', '"," ws', o.minEvidence, o.maxEvidence)}`.trimEnd(),
    `id ::= ${idRule}`,
    `ws ::= " "?`,
  ].join('\n');
  const schema = {
    type: 'object',
    properties: {
      reason: { type: 'string', maxLength: o.maxReasonChars },
      evidence: {
        type: 'array',
        items: { type: 'string', enum: o.ids },
        minItems: o.minEvidence,
        maxItems: o.maxEvidence,
      },
    },
    required: ['reason', 'evidence'],
    additionalProperties: false,
  };
  // Longest answer in bytes: the fixed text with every optional space, each reason character
  // at its longest (a \uXXXX escape, 6 bytes), the longest ids with their separators.
  const fixed = '{ "reason": "", "evidence": [] }'.length;
  const idBytes = o.ids.map((id) => utf8.encode(JSON.stringify(id)).length).sort((a, b) => b - a);
  const evidenceBytes =
    idBytes.slice(0, o.maxEvidence).reduce((a, b) => a + b, 0) + 2 * Math.max(0, o.maxEvidence - 1);
  return { gbnf, schema, maxTokens: fixed + 6 * o.maxReasonChars + evidenceBytes + 1 };
}

const refuse = (msg: string, cause?: unknown) =>
  new LocalrecError(
    'bad-format',
    `the model's answer ${msg}`,
    cause === undefined ? undefined : { cause },
  );

/**
 * Checks a model's output against the grounded form: JSON with exactly `reason` (a string
 * within the length bound) and `evidence` (ids from `options.ids` only, within the count
 * bounds once repeats are dropped).
 *
 * @throws LocalrecError `bad-format` saying what is wrong; `bad-input` for bad `options` as
 *   {@link groundedSpec}.
 */
export function parseGrounded(text: string, options: GroundedOptions): GroundedAnswer {
  const o = resolved(options);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw refuse(
      `is not JSON (${text.length} characters${text.length ? `, ending ${JSON.stringify(text.slice(-20))}` : ''})`,
      e,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw refuse('is not a JSON object');
  const keys = Object.keys(value).sort();
  if (keys.join() !== 'evidence,reason')
    throw refuse(`has the keys [${keys.join(', ')}], not exactly reason and evidence`);
  const { reason, evidence } = value as { reason: unknown; evidence: unknown };
  if (typeof reason !== 'string') throw refuse('has a reason that is not a string');
  if ([...reason].length > o.maxReasonChars)
    throw refuse(`has a reason of ${[...reason].length} characters, over ${o.maxReasonChars}`);
  if (!Array.isArray(evidence)) throw refuse('has evidence that is not an array');
  const allowed = new Set(o.ids);
  const cited: string[] = [];
  for (const id of evidence) {
    if (typeof id !== 'string' || !allowed.has(id))
      throw refuse(`cites ${JSON.stringify(id)}, which is not among the ${o.ids.length} given ids`);
    if (!cited.includes(id)) cited.push(id);
  }
  if (cited.length < o.minEvidence || cited.length > o.maxEvidence)
    throw refuse(`cites ${cited.length} distinct ids, not ${o.minEvidence} to ${o.maxEvidence}`);
  return { reason, evidence: cited };
}
