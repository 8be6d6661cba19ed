// The default model catalog: small instruct GGUFs on Hugging Face that run in
// a browser tab. Sizes are approximate (for the settings panel); the store
// learns the exact size from the server. A vision model comes with its
// projector (llama.cpp's mmproj GGUF), loaded with it so the chat takes images.
export interface CatalogModel {
  id: string;
  name: string;
  url: string;
  approxBytes: number;
  quant: string;
  /** The vision projector loaded with the model (createEngine's `projector`). */
  projector?: { url: string; approxBytes: number };
}

export const MODEL_CATALOG: readonly CatalogModel[] = [
  {
    id: 'smollm2-135m-instruct-q8_0',
    name: 'SmolLM2 135M Instruct',
    quant: 'Q8_0',
    url: 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/resolve/main/smollm2-135m-instruct-q8_0.gguf',
    approxBytes: 145e6,
  },
  {
    id: 'qwen2.5-0.5b-instruct-q4_k_m',
    name: 'Qwen2.5 0.5B Instruct',
    quant: 'Q4_K_M',
    url: 'https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf',
    approxBytes: 491e6,
  },
  {
    id: 'llama-3.2-1b-instruct-q4_k_m',
    name: 'Llama 3.2 1B Instruct',
    quant: 'Q4_K_M',
    url: 'https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf',
    approxBytes: 808e6,
  },
  {
    id: 'smolvlm-256m-instruct-q8_0',
    name: 'SmolVLM 256M Instruct (images)',
    quant: 'Q8_0',
    url: 'https://huggingface.co/ggml-org/SmolVLM-256M-Instruct-GGUF/resolve/main/SmolVLM-256M-Instruct-Q8_0.gguf',
    approxBytes: 175e6,
    projector: {
      url: 'https://huggingface.co/ggml-org/SmolVLM-256M-Instruct-GGUF/resolve/main/mmproj-SmolVLM-256M-Instruct-Q8_0.gguf',
      approxBytes: 104e6,
    },
  },
];

/** The projector a catalog model comes with, found by the model's URL. */
export function catalogProjector(modelUrl: string): CatalogModel['projector'] {
  return MODEL_CATALOG.find((m) => m.url === modelUrl)?.projector;
}

/** 1234567 → "1.2 MB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

/** 95 → "1 min 35 s". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  s = Math.round(s);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
