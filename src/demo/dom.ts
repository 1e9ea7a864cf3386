/**
 * A tiny element builder. Every piece of text goes through `textContent`: item titles and
 * genres come from the catalog file and must never be parsed as HTML.
 */

/** Options of {@link h}. */
export interface ElementOptions {
  class?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string>;
  onClick?: () => void;
}

/** Creates `<tag>` with text, attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElementOptions = {},
  children: Node[] = [],
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (options.class) el.className = options.class;
  if (options.text !== undefined) el.textContent = options.text;
  if (options.title !== undefined) el.title = options.title;
  for (const [k, v] of Object.entries(options.attrs ?? {})) el.setAttribute(k, v);
  if (options.onClick) el.addEventListener('click', options.onClick);
  for (const c of children) el.appendChild(c);
  return el;
}

/** Looks up an element the page's HTML must contain. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el as T;
}

/** Replaces an element's children in one DOM operation. */
export function replaceChildren(parent: Element, children: Node[]): void {
  parent.replaceChildren(...children);
}
