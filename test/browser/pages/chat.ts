// Test page of <hob-chat>: ?fake uses a scripted engine; otherwise the real
// one. ?shadow puts the chat inside another element's shadow root.
import '../../../src/ui/index.js';
import type { HobChat } from '../../../src/ui/index.js';
import { createFakeEngine } from '../ui/fake-engine.js';

const params = new URLSearchParams(location.search);
const chat = document.createElement('hob-chat') as HobChat;
if (params.has('fake')) chat.createEngine = createFakeEngine;
for (const a of ['gpu-layers', 'context-size', 'max-tokens', 'system-prompt', 'preset']) {
  const v = params.get(a);
  if (v !== null) chat.setAttribute(a, v);
}
const host = document.getElementById('host') as HTMLElement;
if (params.has('shadow')) host.attachShadow({ mode: 'open' }).append(chat);
else host.append(chat);
const model = params.get('model');
if (model) chat.setAttribute('model', model);
(window as unknown as { chat: HobChat }).chat = chat;
document.title = 'ready';
