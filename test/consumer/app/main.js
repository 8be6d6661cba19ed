// A page as a user of the package writes it: createEngine on a model URL
// (downloaded into the model store), a streamed chat reply and a text
// completion, both greedy.
import { createEngine } from 'hob-llm';

const out = document.getElementById('out');
window.hobResult = (async () => {
  const progress = [];
  // A bundler that does not follow new URL() (esbuild) serves the package's
  // worker as a file and passes it in; Vite and webpack find it themselves.
  const worker = window.hobWorkerUrl ? new Worker(window.hobWorkerUrl, { type: 'module' }) : undefined;
  const engine = await createEngine({ model: '/model.gguf', threads: 2, worker, onProgress: (p) => progress.push(p.phase) });
  const stream = await engine.chat.completions.create({
    messages: [{ role: 'user', content: 'Name a colour.' }],
    stream: true,
    max_tokens: 8,
    temperature: 0,
  });
  let chat = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chat += chunk.choices[0].delta.content ?? '';
    chunks++;
    out.textContent = chat;
  }
  const completion = await engine.completions.create({ prompt: 'The capital of France', max_tokens: 8, temperature: 0 });
  const { variant } = await engine.info();
  await engine.unload();
  return {
    chat,
    chunks,
    completion: completion.choices[0].text,
    completionTokens: completion.usage.completion_tokens,
    variant,
    isolated: globalThis.crossOriginIsolated === true,
    downloaded: progress.includes('download'),
  };
})();
