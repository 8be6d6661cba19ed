// Test page of a shared engine (createEngine's `shared`): window.start opens
// it; the host events are recorded in window.hosts; window.stream runs a
// streaming completion and reports its text and chunk count, or the error's
// code; window.startLong begins an endless one (window.longResult awaits it).
import '../../../src/ui/index.js';
import { createEngine } from '../../../src/api/index.js';
import type { HobEngine, HostEvent } from '../../../src/shared/types.js';
import type { HobChat } from '../../../src/ui/index.js';

let engine: HobEngine | undefined;
const hosts: HostEvent[] = [];
type Outcome = { text: string; chunks: number; code?: string; name?: string };

async function start(model: string): Promise<void> {
  engine = await createEngine({ model, shared: true, contextSize: 256, contextShift: {} });
  engine.on('host', (e) => hosts.push(e));
}

async function stream(prompt: string, max_tokens: number): Promise<Outcome> {
  const out: Outcome = { text: '', chunks: 0 };
  try {
    const it = await engine!.completions.create({ prompt, max_tokens, temperature: 0, ignore_eos: true, stream: true });
    for await (const c of it) {
      out.text += c.choices[0].text;
      out.chunks++;
    }
  } catch (e) {
    Object.assign(out, { code: (e as { code?: string }).code, name: (e as Error).name });
  }
  return out;
}

let long: Promise<Outcome> | undefined;
let longChunks = 0;
function startLong(): void {
  long = (async () => {
    const out: Outcome = { text: '', chunks: 0 };
    try {
      const it = await engine!.completions.create({ prompt: 'Once upon a time', max_tokens: 100_000, ignore_eos: true, stream: true });
      for await (const c of it) {
        out.text += c.choices[0].text;
        out.chunks = ++longChunks;
      }
    } catch (e) {
      Object.assign(out, { code: (e as { code?: string }).code, name: (e as Error).name });
    }
    return out;
  })();
}

/** A <hob-chat shared> (one engine for every tab). */
function addChat(model: string, session: string): HobChat {
  const chat = document.createElement('hob-chat') as HobChat;
  chat.setAttribute('shared', '');
  chat.setAttribute('max-tokens', '6');
  chat.setAttribute('context-size', '256');
  chat.setAttribute('session', session);
  chat.setAttribute('model', model);
  document.getElementById('host')!.append(chat);
  return chat;
}

Object.assign(window, {
  start, stream, startLong, hosts, addChat,
  longResult: () => long,
  longChunks: () => longChunks,
  unload: () => engine?.unload(),
});
document.title = 'ready';
