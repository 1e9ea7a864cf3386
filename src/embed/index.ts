/**
 * `localrec/embed`: the embed's parts for a site that bundles its own code — the widget and
 * `window.localrec` — over a recommender from `createRecommender()` (`localrec`). The script
 * tag (`localrec.js`, src/embed/main.ts) is the same parts wired to its `data-*` attributes.
 *
 * ```ts
 * import { createRecommender } from 'localrec';
 * import { mountWidget } from 'localrec/embed';
 *
 * const recs = await createRecommender({
 *   server: 'https://recs.example',
 *   publicKey: 'BASE64_PUBLIC_KEY',
 *   consent: { personalization: true },
 * });
 * const widget = mountWidget(document.querySelector('#recs')!, recs, { k: 8 });
 * await widget.ready;
 * ```
 *
 * @packageDocumentation
 */
export { mountWidget, type Widget, type WidgetOptions, type WidgetRecommender } from './widget.ts';
export {
  createLocalrecGlobal,
  installGlobal,
  type GlobalBackend,
  type GlobalHandle,
  type LocalrecCommand,
  type LocalrecEventName,
  type LocalrecEvents,
  type LocalrecGlobal,
} from './global.ts';
export {
  createEmbedController,
  type EmbedCallbacks,
  type EmbedController,
  type EmbedEnvironment,
} from './embed.ts';
export {
  DEFAULT_EMBED_K,
  EMBED_ATTRIBUTES,
  MAX_EMBED_K,
  parseEmbedConfig,
  type EmbedAttribute,
  type EmbedConfig,
  type EmbedConfigResult,
} from './config.ts';
