// hob run --session FILE: the conversation and the engine's cache kept in
// one file, as llama.cpp's --prompt-cache keeps a prompt's: loaded at the
// start when it exists and matches the model and context, saved again after
// each reply (written to a temporary file and renamed, so an interrupted
// save leaves the previous one). A file that does not match is reported and
// replaced by the next save; the conversation then starts over.
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

import type { ChatMessage, HobEngine } from '../../shared/types.js';
import { describeError } from './model.js';

/** What the file keeps besides the cache (its meta text). */
interface Saved {
  messages: ChatMessage[];
}

/** The folder and name a session file is saved under (createEngine's sessionDir). */
export function sessionLocation(file: string): { dir: string; name: string } {
  const path = resolve(file);
  return { dir: dirname(path), name: basename(path) };
}

function isMessages(v: unknown): v is ChatMessage[] {
  return Array.isArray(v) && v.every((m) => m && typeof m === 'object' && typeof (m as ChatMessage).role === 'string');
}

/** The conversation of the file, its cache restored into the engine; undefined when there is none or it does not fit. */
export async function resumeSession(engine: HobEngine, file: string, log: (line: string) => void): Promise<ChatMessage[] | undefined> {
  const { name } = sessionLocation(file);
  if (!existsSync(resolve(file))) return undefined;
  try {
    const r = await engine.restoreSession(name);
    const saved = JSON.parse(r.meta ?? '{}') as Partial<Saved>;
    if (!isMessages(saved.messages)) throw new Error('it holds no conversation');
    const turns = saved.messages.filter((m) => m.role === 'user').length;
    log(`hob: resumed ${turns} turn${turns === 1 ? '' : 's'} (${r.nTokens} tokens of cache) from ${file}`);
    return saved.messages;
  } catch (e) {
    await engine.resetContext().catch(() => {});
    log(`hob: not resuming ${file}: ${describeError(e)}; it will hold this conversation instead`);
    return undefined;
  }
}

/** Saves the conversation and the engine's cache to the file. */
export async function saveSession(engine: HobEngine, file: string, messages: ChatMessage[], log: (line: string) => void): Promise<void> {
  try {
    await engine.saveSession(sessionLocation(file).name, { meta: JSON.stringify({ messages } satisfies Saved) });
  } catch (e) {
    log(`hob: could not save the session to ${file}: ${describeError(e)}`);
  }
}
