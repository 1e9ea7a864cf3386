/**
 * Who wrote a sentence the page shows, in words: "written on your device by <model>" when the
 * on-device LLM wrote it, else the name of the fixed path (the templates, the keyword parser) —
 * from the SDK's own `source`, so the label never claims a model that did not run.
 */
/**
 * The label for an answer's `source` (`'template'` or `{ engine, model }`; anything else reads as
 * the fixed path); `fallbackName` names the non-LLM path (default `'template'`).
 *
 * ```ts
 * answerLabel({ engine: 'wllama', model: 'tiny' }); // 'written on your device by tiny'
 * answerLabel('template', 'keyword parser'); // 'keyword parser'
 * ```
 */
export function answerLabel(source: unknown, fallbackName = 'template'): string {
  const model = (source as { model?: unknown } | null)?.model;
  return typeof source === 'object' && typeof model === 'string' && model
    ? `written on your device by ${model}`
    : fallbackName;
}
