// A page as a user of the package writes it: import the package, load a
// model from the page's own server, stream a greedy completion.
import { startEngineWorker } from 'hob-llm/worker';

const out = document.getElementById('out');
const { api } = startEngineWorker();
window.hobResult = (async () => {
  const { variant } = await api.init({ threads: 2 });
  const bytes = new Uint8Array(await (await fetch('/model.gguf')).arrayBuffer());
  await api.loadModel({ bytes });
  const r = await api.complete({ prompt: 'The capital of France', nPredict: 8, temperature: 0, ignoreEos: true });
  out.textContent = r.text;
  return { ids: r.ids, text: r.text, variant, isolated: globalThis.crossOriginIsolated === true };
})();
