/**
 * The embed's controller: what one or more `<script src=".../localrec.js" data-…>` tags on a page
 * turn into. The first tag decides the server and the key and starts the one recommender; each
 * tag with a `data-target` mounts one widget there; `window.localrec` is the API for the page.
 *
 * It never breaks the host page: a bad attribute, a missing target, an unreachable server or a
 * wrong key is one `[localrec]` line on the console and nothing rendered; nothing is thrown.
 */
import type { Recommender, RecommenderChange, RecommenderWarning } from '../client/api.ts';
import { parseEmbedConfig, type EmbedConfig } from './config.ts';
import { createLocalrecGlobal, installGlobal, type GlobalHandle } from './global.ts';
import { logError, logWarning } from './log.ts';
import { mountWidget, type Widget } from './widget.ts';

/** The callbacks the controller hands the recommender factory. */
export interface EmbedCallbacks {
  onChange: (change: RecommenderChange) => void;
  onWarning: (warning: RecommenderWarning) => void;
}

/** Where the embed runs, and how it gets a recommender (tests pass a fake one). */
export interface EmbedEnvironment {
  win: object;
  doc: Document;
  createRecommender: (config: EmbedConfig, callbacks: EmbedCallbacks) => Promise<Recommender>;
  /** How long a card must be half visible before a `view` is tracked (default: the widget's). */
  dwellMs?: number;
}

/** One page's embed: shared by every copy of the script the page loads. */
export interface EmbedController {
  /** Reads a tag's attributes and does what it asks (mount a widget, or nothing but the API). */
  addTag(script: HTMLScriptElement | null): void;
  readonly handle: GlobalHandle;
  /** The widgets mounted so far. */
  readonly widgets: ReadonlySet<Widget>;
}

/** Where the controller is kept on `window`, so a second copy of the script finds it. */
const CONTROLLER = Symbol.for('localrec.embed');

function tagLabel(script: HTMLScriptElement): string {
  const src = script.getAttribute('src');
  return src ? `<script src="${src.slice(0, 200)}">` : 'the localrec <script> tag';
}

function whenDomReady(doc: Document, run: () => void): void {
  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', run, { once: true });
  else run();
}

/**
 * Creates a page's controller and exposes `window.localrec`. The script tag keeps one per page
 * on `window`, so a second copy of the script adds its tag to the same one (`bootEmbed()`).
 *
 * ```ts
 * import { createRecommender } from 'localrec';
 * import { createEmbedController } from 'localrec/embed';
 *
 * const embed = createEmbedController({
 *   win: window,
 *   doc: document,
 *   createRecommender: ({ server, publicKey, consent }, callbacks) =>
 *     createRecommender({ server, publicKey, consent, ...callbacks }),
 * });
 * // Tags as for localrec.js: the first starts the recommender, each data-target mounts a widget.
 * const tags = document.querySelectorAll<HTMLScriptElement>('script[data-server]');
 * for (const tag of tags) embed.addTag(tag);
 * ```
 */
export function createEmbedController(env: EmbedEnvironment): EmbedController {
  let settle: { resolve: (r: Recommender) => void; reject: (e: unknown) => void } | undefined;
  const recommender = new Promise<Recommender>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let first: EmbedConfig | null = null;
  let decided = false;
  const widgets = new Set<Widget>();
  const mounted = new WeakSet<Element>();

  const refreshWidgets = async (): Promise<void> => {
    await Promise.all([...widgets].map((w) => w.refresh()));
  };
  const handle = createLocalrecGlobal({ recommender, refreshWidgets });
  installGlobal(env.win, handle.api);

  const fail = (error: Error): void => {
    decided = true;
    handle.emit('error', error);
    settle?.reject(error);
  };

  const start = (config: EmbedConfig): void => {
    decided = true;
    first = config;
    let starting: Promise<Recommender>;
    try {
      starting = env.createRecommender(config, {
        onChange: (change) => {
          handle.emit('change', change);
          // A new model version: show its list (other changes come from calls that refresh).
          if (change.kind === 'model') void refreshWidgets();
        },
        onWarning: (warning) => {
          logWarning(warning.message);
          handle.emit('warning', warning);
        },
      });
    } catch (e) {
      starting = Promise.reject(e);
    }
    starting.then(
      (r) => {
        settle?.resolve(r);
        handle.emit('ready');
      },
      (e: unknown) => {
        logError(`could not load recommendations from ${config.server}:`, e);
        handle.emit('error', e);
        settle?.reject(e);
      },
    );
  };

  const mountInto = (config: EmbedConfig, selector: string): void => {
    let target: Element | null;
    try {
      target = env.doc.querySelector(selector);
    } catch {
      logError(`data-target '${selector}' is not a valid CSS selector; nothing is rendered`);
      return;
    }
    if (!target) {
      logError(`data-target '${selector}' matches no element on this page; nothing is rendered`);
      return;
    }
    if (mounted.has(target)) {
      logWarning(`'${selector}' already has a localrec widget; it is not mounted twice`);
      return;
    }
    mounted.add(target);
    const el = target;
    recommender.then(
      (r) => {
        try {
          widgets.add(
            mountWidget(el, r, {
              k: config.k,
              title: config.title,
              slot: config.slot,
              itemId: config.itemId,
              dwellMs: env.dwellMs,
              onError: (e) => logWarning('widget:', e),
            }),
          );
        } catch (e) {
          logError(`could not render into '${selector}':`, e);
        }
      },
      () => {
        // Already logged where the start failed; the page is left as it was.
      },
    );
  };

  const addTag = (script: HTMLScriptElement | null): void => {
    try {
      if (!script) {
        const error = new Error(
          'localrec.js must be loaded by a classic <script src="…/localrec.js" data-…> tag',
        );
        logError(error.message);
        if (!decided) fail(error);
        return;
      }
      const result = parseEmbedConfig(
        (name) => script.getAttribute(`data-${name}`),
        env.doc.baseURI,
      );
      if (!result.ok) {
        const message = `${tagLabel(script)} is misconfigured, nothing is rendered: ${result.errors.join('; ')}`;
        logError(message);
        if (!decided) fail(new Error(message));
        return;
      }
      const config = result.config;
      if (!decided) start(config);
      else if (!first) {
        logError(`${tagLabel(script)} is ignored: the page's first localrec tag failed`);
        return;
      } else if (config.server !== first.server || config.publicKey !== first.publicKey) {
        logError(
          `${tagLabel(script)} is ignored: one page has one localrec server and key, and an earlier tag set ${first.server}`,
        );
        return;
      } else if (config.consent) {
        void handle.api.setConsent(config.consent);
      }
      const selector = config.target;
      if (selector !== null) whenDomReady(env.doc, () => mountInto(config, selector));
    } catch (e) {
      logError('could not start:', e);
    }
  };

  return { addTag, handle, widgets };
}

/**
 * What the script does when it runs: hands its tag to the page's controller, creating that on
 * the first run. A second copy of the script (two tags, or one loaded twice) adds its tag to
 * the same controller, so there is one recommender and at most one widget per target element.
 */
export function bootEmbed(script: HTMLScriptElement | null, env: EmbedEnvironment): void {
  try {
    const win = env.win as Record<symbol, unknown>;
    let controller = win[CONTROLLER] as EmbedController | undefined;
    if (!controller) {
      controller = createEmbedController(env);
      Object.defineProperty(win, CONTROLLER, { value: controller, configurable: true });
    }
    controller.addTag(script);
  } catch (e) {
    logError('could not start:', e);
  }
}
