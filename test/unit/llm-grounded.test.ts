/**
 * The grounded answer's constraint and validator (src/client/llm/grounded.ts): the GBNF grammar
 * as llama.cpp reads it (golden text, ids escaped twice — as JSON, then as a GBNF literal), the
 * JSON schema for web-llm, the token bound that keeps the longest admissible answer from being
 * cut, and every way an answer or the options can be wrong. (That llama.cpp honours the grammar
 * is tested in Chromium: test/browser/llm.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { groundedSpec, parseGrounded } from '../../src/client/llm/grounded.ts';
import { refusal } from '../setup/refusal.ts';

describe('groundedSpec', () => {
  it('writes the grammar: fixed keys, a bounded reason, only the given ids', () => {
    expect(groundedSpec({ ids: ['m1', 'm2'], maxReasonChars: 50 }).gbnf).toBe(
      [
        'root ::= "{" ws "\\"reason\\":" ws "\\"" char{0,50} "\\"," ws "\\"evidence\\":" ws "[" evidence "]" ws "}"',
        'char ::= [^"\\\\\\x00-\\x1f\\x7f] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
        'evidence ::= id ("," ws id){0,1}',
        'id ::= "\\"m1\\"" | "\\"m2\\""',
        'ws ::= " "?',
      ].join('\n'),
    );
  });

  it('escapes ids as JSON strings inside GBNF literals', () => {
    const { gbnf } = groundedSpec({ ids: ['a"b', 'c\\d', 'tab\there', 'é'] });
    const idLine = gbnf.split('\n').find((l) => l.startsWith('id ::='))!;
    // JSON "a\"b" → GBNF "\"a\\\"b\""; JSON "c\\d" → "\"c\\\\d\""; JSON "tab\there" keeps
    // its escape (\t is two characters in JSON), é stays itself.
    expect(idLine).toBe(
      'id ::= "\\"a\\\\\\"b\\"" | "\\"c\\\\\\\\d\\"" | "\\"tab\\\\there\\"" | "\\"é\\""',
    );
  });

  it('writes the evidence list for each bound', () => {
    const line = (o: { minEvidence?: number; maxEvidence?: number }) =>
      groundedSpec({ ids: ['a', 'b', 'c'], ...o }).gbnf.split('\n')[2];
    expect(line({})).toBe('evidence ::= id ("," ws id){0,2}');
    expect(line({ minEvidence: 2, maxEvidence: 3 })).toBe('evidence ::= id ("," ws id){1,2}');
    expect(line({ minEvidence: 0, maxEvidence: 1 })).toBe('evidence ::= (id)?');
    expect(line({ minEvidence: 1, maxEvidence: 1 })).toBe('evidence ::= id');
    expect(line({ minEvidence: 0, maxEvidence: 0 })).toBe('evidence ::=');
  });

  it('gives the JSON schema of the same answer', () => {
    expect(groundedSpec({ ids: ['a', 'b'], maxReasonChars: 10, maxEvidence: 2 }).schema).toEqual({
      type: 'object',
      properties: {
        reason: { type: 'string', maxLength: 10 },
        evidence: {
          type: 'array',
          items: { type: 'string', enum: ['a', 'b'] },
          minItems: 1,
          maxItems: 2,
        },
      },
      required: ['reason', 'evidence'],
      additionalProperties: false,
    });
  });

  it('bounds the tokens by the longest admissible answer in bytes, plus the end token', () => {
    const ids = ['short', 'a-much-longer-id', 'mid-id'];
    const spec = groundedSpec({ ids, maxReasonChars: 7, maxEvidence: 2 });
    // Every optional space, each reason character a \uXXXX escape, the two longest ids.
    const longest = `{ "reason": "${'\\u00e9'.repeat(7)}", "evidence": ["a-much-longer-id", "mid-id"] }`;
    expect(
      parseGrounded(longest, { ids, maxReasonChars: 7, maxEvidence: 2 }).evidence,
    ).toHaveLength(2);
    expect(spec.maxTokens).toBe(new TextEncoder().encode(longest).length + 1);
  });

  it('refuses options that cannot make an answer', () => {
    expect(refusal(() => groundedSpec({ ids: [] }))).toEqual({
      code: 'bad-input',
      message: 'a grounded answer needs at least one id to cite',
    });
    expect(refusal(() => groundedSpec({ ids: ['a', 'a'] })).message).toMatch(/must not repeat/);
    expect(refusal(() => groundedSpec({ ids: ['a', ''] })).message).toMatch(/non-empty strings/);
    expect(refusal(() => groundedSpec({ ids: ['a'], maxEvidence: 2 })).message).toMatch(
      /maxEvidence \(2\) ≤ ids \(1\)/,
    );
    expect(
      refusal(() => groundedSpec({ ids: ['a', 'b'], minEvidence: 2, maxEvidence: 1 })).code,
    ).toBe('bad-input');
    expect(refusal(() => groundedSpec({ ids: ['a'], maxReasonChars: 1.5 })).message).toMatch(
      /maxReasonChars must be an integer/,
    );
  });
});

describe('parseGrounded', () => {
  const o = { ids: ['m1', 'm2', 'm3'], maxReasonChars: 20 };

  it('accepts an answer in the form, dropping repeated ids', () => {
    expect(parseGrounded('{"reason":"Because of m1.","evidence":["m2","m1","m2"]}', o)).toEqual({
      reason: 'Because of m1.',
      evidence: ['m2', 'm1'],
    });
    expect(parseGrounded('{ "reason": "ok", "evidence": ["m3"] }', o).evidence).toEqual(['m3']);
  });

  it('refuses what is not the form, saying what is wrong', () => {
    const why = (text: string) => refusal(() => parseGrounded(text, o));
    expect(why('{"reason":"cut')).toEqual({
      code: 'bad-format',
      message: 'the model\'s answer is not JSON (14 characters, ending "{\\"reason\\":\\"cut")',
    });
    expect(why('').message).toBe("the model's answer is not JSON (0 characters)");
    expect(why('["m1"]').message).toMatch(/is not a JSON object/);
    expect(why('{"reason":"x","evidence":["m1"],"extra":1}').message).toMatch(
      /keys \[evidence, extra, reason\], not exactly reason and evidence/,
    );
    expect(why('{"reason":3,"evidence":["m1"]}').message).toMatch(/reason that is not a string/);
    expect(why(`{"reason":"${'x'.repeat(21)}","evidence":["m1"]}`).message).toMatch(
      /a reason of 21 characters, over 20/,
    );
    expect(why('{"reason":"x","evidence":"m1"}').message).toMatch(/evidence that is not an array/);
    expect(why('{"reason":"x","evidence":["m1","m9"]}').message).toMatch(
      /cites "m9", which is not among the 3 given ids/,
    );
    expect(why('{"reason":"x","evidence":[1]}').message).toMatch(/cites 1,/);
    expect(why('{"reason":"x","evidence":[]}').message).toMatch(/cites 0 distinct ids, not 1 to 3/);
  });

  it('counts a reason in characters, not UTF-16 units', () => {
    expect(
      parseGrounded(`{"reason":"${'😀'.repeat(20)}","evidence":["m1"]}`, o).reason,
    ).toHaveLength(40);
  });
});
