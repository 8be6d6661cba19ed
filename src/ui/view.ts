// The chat's markup: the element's skeleton and one message (who, content,
// errors, stats, actions). The user's text is set as text; the model's goes
// through the sanitizing markdown renderer.
import type { ChatEntry } from './conversation.js';
import { renderMarkdown } from './markdown.js';

export const TEMPLATE = `
<div class="chat" part="root">
  <header part="header">
    <span class="title" part="title">No model</span>
    <span class="status" part="status" role="status" aria-live="polite"></span>
    <button type="button" class="settings-button" part="settings-button" aria-haspopup="dialog">Settings</button>
  </header>
  <div class="progress" part="progress" hidden>
    <progress max="1" aria-label="Model loading"></progress>
    <span class="progress-text"></span>
    <button type="button" class="cancel-load">Cancel</button>
  </div>
  <div class="messages" part="messages" role="log" aria-live="polite" aria-label="Conversation" tabindex="0"></div>
  <div class="meta" part="meta"><span class="speed"></span><span class="context"></span></div>
  <form class="composer" part="composer">
    <label class="visually-hidden" for="input">Message</label>
    <textarea id="input" part="input" rows="1" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
    <div class="buttons">
      <button type="submit" class="send primary" part="send">Send</button>
      <button type="button" class="stop" part="stop" hidden>Stop</button>
      <button type="button" class="clear" part="clear">Clear</button>
    </div>
  </form>
  <dialog aria-label="Settings"></dialog>
</div>`;

/** One message of the conversation; `index` is its place in it (edit buttons name it). */
export function renderMessage(m: ChatEntry, index: number, opts: { streaming: boolean; actions: boolean; regenerate: boolean }): HTMLElement {
  const { streaming } = opts;
  const el = document.createElement('article');
  el.className = `msg ${m.role}${streaming ? ' streaming' : ''}`;
  el.setAttribute('part', `message ${m.role}-message`);
  el.dataset.index = String(index);
  el.setAttribute('aria-label', m.role === 'user' ? 'You' : 'Assistant');
  if (streaming) el.setAttribute('aria-busy', 'true');
  const who = document.createElement('div');
  who.className = 'who';
  who.textContent = m.role === 'user' ? 'You' : 'Assistant';
  const content = document.createElement('div');
  content.className = 'content';
  content.setAttribute('part', 'content');
  // The user's text is shown as typed; the model's through the sanitizing markdown renderer.
  if (m.role === 'user') content.textContent = m.content;
  else renderMarkdown(content, m.content);
  el.append(who, content);
  if (m.error) {
    const err = document.createElement('div');
    err.className = 'error';
    err.setAttribute('role', 'alert');
    err.textContent = m.error;
    el.append(err);
  }
  if (m.stats) {
    const s = m.stats;
    const stats = document.createElement('div');
    stats.className = 'stats';
    stats.textContent =
      `${s.completionTokens} tokens · ${s.tokensPerSecond.toFixed(1)} tokens/s · ` +
      `prompt ${s.promptTokens} (${s.cachedTokens} cached)${s.finishReason === 'abort' ? ' · stopped' : s.finishReason === 'length' ? ' · length limit' : ''}`;
    el.append(stats);
  }
  const actions = document.createElement('div');
  actions.className = 'actions';
  if (opts.actions) {
    if (m.role === 'user') actions.append(button('Edit', 'edit', `Edit message ${index + 1}`));
    if (opts.regenerate) actions.append(button('Regenerate', 'regenerate', 'Regenerate the answer'));
  }
  el.append(actions);
  return el;
}

export function button(text: string, className: string, label?: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  return b;
}
