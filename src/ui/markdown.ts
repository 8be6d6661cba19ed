// Model output to safe DOM: markdown through `marked`, with raw HTML escaped
// (a model's "<img onerror=…>" is shown as text, never parsed), then every
// result through DOMPurify, so nothing the model writes can run script or
// load a resource. Images render as links: an <img> in model output could
// send the conversation to a server in its URL.
import DOMPurify from 'dompurify';
import { Marked } from 'marked';

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html: ({ text }) => escapeHtml(text),
    image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
  },
});

const purify = DOMPurify();
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

const PURIFY = {
  FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'svg', 'math'],
  FORBID_ATTR: ['style', 'id', 'class'],
  ALLOW_DATA_ATTR: false,
};

/** The HTML of `text` as markdown, sanitized. */
export function renderMarkdownHtml(text: string): string {
  return purify.sanitize(marked.parse(text) as string, PURIFY);
}

/**
 * Renders `text` into `target`, replacing what it held, and gives every code
 * block a copy button (part="copy").
 */
export function renderMarkdown(target: Element, text: string): void {
  const frag = purify.sanitize(marked.parse(text) as string, { ...PURIFY, RETURN_DOM_FRAGMENT: true });
  for (const pre of frag.querySelectorAll('pre')) {
    const wrap = document.createElement('div');
    wrap.className = 'code';
    wrap.setAttribute('part', 'code');
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.setAttribute('part', 'copy');
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', 'Copy code');
    pre.replaceWith(wrap);
    wrap.append(copy, pre);
  }
  target.replaceChildren(frag);
}
