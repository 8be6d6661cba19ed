/// <reference types="vite/client" />
// The demo PWA: one <hob-chat>, conversations and settings kept in IndexedDB
// (idb-keyval; a message's images as the downscaled copies the chat saves),
// each conversation's cache in a saved session named after it (so a reload
// does not evaluate the conversation again; Settings lists them with delete
// buttons), the service worker for offline use and, on hosts that cannot
// send COOP/COEP, for cross-origin isolation.
import { createStore, del, entries, get, set } from 'idb-keyval';

import '../src/ui/index.js';
import type { ChatEntry, ChatSettings } from '../src/ui/index.js';

interface Conversation {
  id: string;
  title: string;
  updatedAtMs: number;
  messages: ChatEntry[];
}

const db = createStore('hob-chat-demo', 'kv');
const chat = document.getElementById('chat') as HTMLElementTagNameMap['hob-chat'];
const picker = document.getElementById('conversation') as HTMLSelectElement;
const offline = document.getElementById('offline') as HTMLElement;
let current: Conversation;

const newConversation = (): Conversation => ({ id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, title: 'New chat', updatedAtMs: Date.now(), messages: [] });

async function conversations(): Promise<Conversation[]> {
  const all = (await entries<string, Conversation>(db)).filter(([k]) => String(k).startsWith('conv:')).map(([, v]) => v);
  return all.sort((a, b) => b.updatedAtMs - a.updatedAtMs);
}

async function fillPicker(): Promise<void> {
  const list = await conversations();
  if (!list.some((c) => c.id === current.id)) list.unshift(current);
  picker.replaceChildren(...list.map((c) => new Option(c.title, c.id, false, c.id === current.id)));
}

async function open(c: Conversation): Promise<void> {
  current = c;
  chat.setAttribute('session', c.id);
  chat.messages = c.messages;
  await fillPicker();
}

async function save(messages: ChatEntry[]): Promise<void> {
  current.messages = messages;
  current.updatedAtMs = Date.now();
  const first = messages.find((m) => m.role === 'user');
  // A message of images alone has no text to name the chat by.
  current.title = (first?.content.trim() || (first?.images?.length ? 'Image' : '')).slice(0, 40) || 'New chat';
  if (messages.length) await set(`conv:${current.id}`, current, db);
  await fillPicker();
}

chat.addEventListener('change', (e) => void save((e as CustomEvent<{ messages: ChatEntry[] }>).detail.messages));
chat.addEventListener('settings', (e) => void set('settings', (e as CustomEvent<ChatSettings>).detail, db));
picker.addEventListener('change', async () => {
  const c = await get<Conversation>(`conv:${picker.value}`, db);
  if (c && !chat.busy) await open(c);
});
document.getElementById('new-chat')?.addEventListener('click', () => {
  if (!chat.busy) void open(newConversation());
});
document.getElementById('delete-chat')?.addEventListener('click', async () => {
  if (chat.busy) return;
  await del(`conv:${current.id}`, db);
  await chat.currentEngine?.deleteSession(current.id).catch(() => false);
  const rest = await conversations();
  await open(rest[0] ?? newConversation());
});

const showOnline = () => (offline.textContent = navigator.onLine ? '' : 'Offline: stored models only');
addEventListener('online', showOnline);
addEventListener('offline', showOnline);
showOnline();

async function start(): Promise<void> {
  const settings = await get<ChatSettings>('settings', db);
  if (settings) chat.settings = settings;
  const [latest] = await conversations();
  await open(latest ?? newConversation());
  document.documentElement.dataset.ready = 'true';
}

async function registerServiceWorker(): Promise<void> {
  if (!('serviceWorker' in navigator) || !import.meta.env.PROD) return;
  await navigator.serviceWorker.register('./sw.js');
  // A host that sent no COOP/COEP: once the worker controls the page it adds
  // them, and one reload makes the page cross-origin isolated (threads).
  if (!crossOriginIsolated) {
    const reloadOnce = () => {
      if (sessionStorage.getItem('hob-coi-reload')) return;
      sessionStorage.setItem('hob-coi-reload', '1');
      location.reload();
    };
    if (navigator.serviceWorker.controller) reloadOnce();
    else navigator.serviceWorker.addEventListener('controllerchange', reloadOnce, { once: true });
  }
}

void start();
void registerServiceWorker().catch((e) => console.warn('service worker not registered:', e));
