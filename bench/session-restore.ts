// Time to first token after a reload, with a saved session restored vs the
// conversation evaluated again, in Node (the same wasm engine as the
// browser; sessions are files there, IndexedDB in the browser). A reload is
// a second engine on the same model; the model's load is not counted. A
// benchmark, not a test: it prints numbers and asserts nothing.
//
//   node --import tsx bench/session-restore.ts --model FILE.gguf [--prompt 512] [--threads 2] [--context 2048]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { createEngine, type HobEngine } from '../src/node/index.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    prompt: { type: 'string', default: '512' },
    threads: { type: 'string', default: '2' },
    context: { type: 'string', default: '2048' },
  },
});
if (!o.model) throw new Error('--model FILE.gguf is required');
const nPrompt = Number(o.prompt);
const dir = mkdtempSync(join(tmpdir(), 'hob-session-bench-'));
const open = () => createEngine({ model: o.model!, threads: Number(o.threads), contextSize: Number(o.context), sessionDir: dir });

/** A prompt of about n tokens of ordinary words. */
async function makePrompt(engine: HobEngine, n: number): Promise<string> {
  const words = 'the keeper of the lighthouse watched the storm come in over the grey water while the ships turned for the harbour'.split(' ');
  let text = '';
  for (let i = 0; (await engine.tokenize(text)).length < n; i++) text += (i ? ' ' : '') + words[i % words.length];
  return text;
}

/** Milliseconds to the first token of a completion of `prompt`. */
async function firstToken(engine: HobEngine, prompt: string, session?: string): Promise<{ ms: number; cached: number }> {
  const t0 = performance.now();
  const r = await engine.completions.create({ prompt, max_tokens: 1, temperature: 0, ...(session ? { session } : {}) });
  return { ms: performance.now() - t0, cached: r.usage.cached_tokens };
}

try {
  const first = await open();
  const prompt = await makePrompt(first, nPrompt);
  const evaluated0 = await firstToken(first, prompt);
  const t0 = performance.now();
  const saved = await first.saveSession('bench');
  const saveMs = performance.now() - t0;
  await first.unload();

  const next = `${prompt} and then the morning came`;
  const reloaded = await open();
  const restored = await firstToken(reloaded, next, 'bench');
  await reloaded.unload();

  const plain = await open();
  const evaluated = await firstToken(plain, next);
  await plain.unload();

  const info = `${saved.nTokens} tokens, ${(saved.sizeBytes / 1e6).toFixed(1)} MB`;
  console.log(`model ${o.model}, ${o.threads} threads`);
  console.log(`first evaluation of the prompt: ${evaluated0.ms.toFixed(0)} ms; save (${info}): ${saveMs.toFixed(0)} ms`);
  console.log(`after a reload, time to first token: restored ${restored.ms.toFixed(0)} ms (${restored.cached} tokens reused),` +
    ` evaluated again ${evaluated.ms.toFixed(0)} ms (${evaluated.cached} reused): ${(evaluated.ms / restored.ms).toFixed(1)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
