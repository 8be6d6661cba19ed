// The chat's markup: the element's skeleton and one entry (who, reasoning,
// images, content, tool call and result, errors, stats, actions). The user's text,
// the reasoning and tool calls are set as text; the model's answer goes
// through the sanitizing markdown renderer.
import type { ChatEntry } from './conversation.js';
import { isImageDataUrl, type ChatImage } from './images.js';
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
  <div class="attachments" part="attachments" role="list" aria-label="Images to send" hidden></div>
  <p class="attach-error" part="attach-error" role="alert" hidden></p>
  <form class="composer" part="composer">
    <label class="visually-hidden" for="input">Message</label>
    <textarea id="input" part="input" rows="1" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
    <input type="file" class="file-input" accept="image/*" multiple hidden tabindex="-1">
    <div class="buttons">
      <button type="button" class="attach" part="attach" title="Attach an image (you can also paste or drop one)" hidden>Attach image</button>
      <button type="submit" class="send primary" part="send">Send</button>
      <button type="button" class="stop" part="stop" hidden>Stop</button>
      <button type="button" class="clear" part="clear">Clear</button>
    </div>
  </form>
  <dialog aria-label="Settings"></dialog>
</div>`;

export interface MessageOptions {
  /** The entry is the one being generated (an answer streaming, a tool running). */
  streaming: boolean;
  actions: boolean;
  regenerate: boolean;
}

const WHO: Record<ChatEntry['role'], string> = { user: 'You', assistant: 'Assistant', tool: 'Tool' };

/** One entry of the conversation; `index` is its place in it (edit buttons name it). */
export function renderMessage(m: ChatEntry, index: number, opts: MessageOptions): HTMLElement {
  const { streaming } = opts;
  const el = document.createElement('article');
  el.className = `msg ${m.role}${streaming ? ' streaming' : ''}`;
  el.setAttribute('part', `message ${m.role}-message`);
  el.dataset.index = String(index);
  el.setAttribute('aria-label', m.role === 'tool' ? `Tool call ${m.toolCall?.function.name ?? ''}`.trim() : WHO[m.role]);
  if (streaming) el.setAttribute('aria-busy', 'true');
  const who = document.createElement('div');
  who.className = 'who';
  who.textContent = WHO[m.role];
  el.append(who);
  if (m.role === 'tool') {
    el.append(...toolCallParts(m, streaming));
  } else {
    if (m.reasoning) el.append(reasoningBlock(m, streaming && m.reasoningMs === undefined));
    if (m.images?.length) el.append(imageStrip(m.images));
    const content = document.createElement('div');
    content.className = 'content';
    content.setAttribute('part', 'content');
    // The user's text is shown as typed; the model's through the sanitizing markdown renderer.
    if (m.role === 'user') content.textContent = m.content;
    else renderMarkdown(content, m.content);
    el.append(content);
  }
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
    const ending = s.finishReason === 'abort' ? ' · stopped' : s.finishReason === 'length' ? ' · length limit' : s.finishReason === 'tool_calls' ? ' · called tools' : '';
    stats.textContent =
      `${s.completionTokens} tokens · ${s.tokensPerSecond.toFixed(1)} tokens/s · ` + `prompt ${s.promptTokens} (${s.cachedTokens} cached)${ending}`;
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

/** While an answer streams: its reasoning and its content, updated in place
 *  (the reasoning block keeps the state the user gave it). */
export function updateStreaming(article: Element, m: ChatEntry): void {
  const content = article.querySelector('.content');
  if (!content) return;
  if (m.reasoning) {
    const thinking = m.reasoningMs === undefined;
    let block = article.querySelector<HTMLDetailsElement>('details.reasoning');
    if (!block) {
      block = reasoningBlock(m, thinking);
      content.before(block);
    }
    block.querySelector('summary')!.textContent = reasoningLabel(m, thinking);
    block.querySelector('.reasoning-text')!.textContent = m.reasoning;
    // Open while the model thinks, collapsed once the answer starts (unless the user chose).
    if (!thinking && block.dataset.auto === 'open') {
      block.open = false;
      block.dataset.auto = 'closed';
    }
  }
  renderMarkdown(content, m.content);
}

/** A user message's images, as their saved (downscaled) copies; only data:
 *  URLs reach an <img>, so a restored conversation cannot make the page load anything. */
function imageStrip(images: readonly ChatImage[]): HTMLElement {
  const strip = document.createElement('div');
  strip.className = 'images';
  strip.setAttribute('part', 'images');
  for (const image of images) {
    if (!isImageDataUrl(image.url)) continue;
    const img = document.createElement('img');
    img.className = 'thumb';
    img.setAttribute('part', 'image');
    img.src = image.url;
    img.alt = image.name;
    if (image.width && image.height) img.title = `${image.name} (${image.width}x${image.height})`;
    strip.append(img);
  }
  return strip;
}

/** The thought before an answer, as text, in a block of its own. */
function reasoningBlock(m: ChatEntry, thinking: boolean): HTMLDetailsElement {
  const block = document.createElement('details');
  block.className = 'reasoning';
  block.setAttribute('part', 'reasoning');
  const summary = document.createElement('summary');
  summary.textContent = reasoningLabel(m, thinking);
  const text = document.createElement('div');
  text.className = 'reasoning-text';
  text.textContent = m.reasoning ?? '';
  block.append(summary, text);
  if (thinking) {
    block.open = true;
    block.dataset.auto = 'open';
  }
  return block;
}

function reasoningLabel(m: ChatEntry, thinking: boolean): string {
  if (thinking) return 'Thinking…';
  if (m.reasoningMs === undefined) return 'Thought';
  const s = m.reasoningMs / 1000;
  if (s < 0.05) return 'Thought for under 0.1 seconds';
  return `Thought for ${s < 10 ? s.toFixed(1) : Math.round(s)} seconds`;
}

/** A tool entry: the call (function and arguments) and its result, all as text. */
function toolCallParts(m: ChatEntry, running: boolean): HTMLElement[] {
  const call = document.createElement('div');
  call.className = 'call';
  call.setAttribute('part', 'tool-call');
  const name = document.createElement('code');
  name.className = 'name';
  name.textContent = m.toolCall?.function.name ?? '';
  const args = document.createElement('code');
  args.className = 'arguments';
  args.textContent = m.toolCall?.function.arguments ?? '';
  call.append(name, args);
  const result = document.createElement('pre');
  result.className = 'content result';
  result.setAttribute('part', 'tool-result');
  const pending = running && !m.content && !m.error;
  result.textContent = pending ? 'Running…' : m.content;
  result.classList.toggle('running', pending);
  return [call, result];
}

export function button(text: string, className: string, label?: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  return b;
}
