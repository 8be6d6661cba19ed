// The demo page: load a GGUF from a URL or a file into the engine worker and
// stream a completion.
import { Comlink, startEngineWorker, type LoadProgress, type ModelSource } from '../src/worker/client.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('model-status');
const progress = $<HTMLProgressElement>('load-progress');
const output = $<HTMLPreElement>('output');
const stats = $<HTMLParagraphElement>('stats');
const run = $<HTMLButtonElement>('run');
const stop = $<HTMLButtonElement>('stop');

const { api } = startEngineWorker();
const ready = api.init();

function describe(e: unknown): string {
  const err = e as { message?: string; code?: string };
  return err.code ? `${err.message} (${err.code})` : String(err.message ?? e);
}

async function load(source: ModelSource, label: string) {
  run.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  status.textContent = `Loading ${label}…`;
  try {
    const { variant, threads } = await ready;
    const info = await api.loadModel(
      source,
      Comlink.proxy((p: LoadProgress) => {
        progress.value = p.total ? p.loaded / p.total : 0;
      }),
    );
    const mode = variant === 'mt' ? `${threads} threads` : '1 thread (page not cross-origin isolated)';
    status.textContent = `${info.name || label}: ${info.architecture}, ${info.nLayer} layers, vocabulary ${info.nVocab}, ${(info.fileBytes / 1e6).toFixed(1)} MB; ${mode}.`;
    run.disabled = false;
  } catch (e) {
    status.textContent = `Could not load ${label}: ${describe(e)}`;
  } finally {
    progress.hidden = true;
  }
}

$<HTMLButtonElement>('load-url').addEventListener('click', () => {
  const url = $<HTMLInputElement>('model-url').value.trim();
  if (url) void load({ url }, url.split('/').pop() ?? url);
});

$<HTMLInputElement>('model-file').addEventListener('change', (ev) => {
  const file = (ev.target as HTMLInputElement).files?.[0];
  if (file) void load({ blob: file }, file.name);
});

run.addEventListener('click', async () => {
  run.disabled = true;
  stop.disabled = false;
  output.textContent = '';
  stats.textContent = '';
  try {
    const result = await api.complete(
      {
        prompt: $<HTMLTextAreaElement>('prompt').value,
        nPredict: Number($<HTMLInputElement>('n-predict').value),
        temperature: Number($<HTMLInputElement>('temperature').value),
        seed: Number($<HTMLInputElement>('seed').value),
      },
      Comlink.proxy((_token: number, text: string) => {
        output.textContent += text;
      }),
    );
    const t = result.timings;
    stats.textContent = `prompt ${t.prefillTokens} tokens at ${t.prefillTokensPerSecond.toFixed(1)} tokens/s; ` +
      `${result.ids.length} tokens generated at ${t.decodeTokensPerSecond.toFixed(1)} tokens/s (${result.finishReason}).`;
  } catch (e) {
    stats.textContent = `Error: ${describe(e)}`;
  } finally {
    run.disabled = false;
    stop.disabled = true;
  }
});

stop.addEventListener('click', () => void api.stop());
