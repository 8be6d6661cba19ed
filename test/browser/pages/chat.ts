// Test page of <hob-chat> on the real engine. Query parameters become the
// element's attributes; ?shadow puts the chat inside another element's
// shadow root. Events the chat fires are recorded in window.events.
import '../../../src/ui/index.js';
import { renderMarkdownHtml, type HobChat } from '../../../src/ui/index.js';

const params = new URLSearchParams(location.search);
const chat = document.createElement('hob-chat') as HobChat;
const events: { type: string; at: number; detail: unknown }[] = [];
for (const type of ['load', 'token', 'message', 'error', 'change']) {
  chat.addEventListener(type, (e) => {
    const d = (e as CustomEvent).detail;
    events.push({ type, at: performance.now(), detail: type === 'error' ? { code: d.code, message: d.message } : type === 'load' ? { name: d.model.name, variant: d.variant } : d });
  });
}
for (const a of ['gpu-layers', 'context-size', 'max-tokens', 'system-prompt', 'preset', 'model']) {
  const v = params.get(a);
  if (v !== null) chat.setAttribute(a, v);
}
const host = document.getElementById('host') as HTMLElement;
if (params.has('shadow')) host.attachShadow({ mode: 'open' }).append(chat);
else host.append(chat);
Object.assign(window, { chat, events, renderMarkdownHtml });
document.title = 'ready';
