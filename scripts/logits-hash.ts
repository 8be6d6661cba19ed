// SHA-256 of the logits every architecture and quant type computes for a
// fixed prompt and a teacher-forced continuation, on the CPU with 1 and 2
// threads and with blocks offloaded to the GPU (Dawn in Node: SwiftShader
// unless VK_ICD_FILENAMES names another driver). A refactor that must not
// change numerics compares two runs' JSON (--out), before and after.
//   node --import tsx scripts/logits-hash.ts [--no-gpu] [--out FILE]
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Session } from '../src/core/session.js';
import { Engine } from '../src/core/wasm-engine.js';
import { loadModelFromSource } from '../src/runtime/load.js';
import { bytesSource } from '../src/format/source.js';
import type { GpuContext } from '../src/gpu/device.js';
import { makeArchSpec, writeArchModel, ARCHS } from '../test/gguf/arch-models.js';
import { makeSpec, writeRandomLlama } from '../test/gguf/random-model.js';
import type { TensorType } from '../test/gguf/quantize.js';
import { requestNodeGpu } from '../test/gpu/node-gpu.js';
import { testdataDir } from '../test/data.js';

const { values: opts } = parseArgs({ options: { 'no-gpu': { type: 'boolean' }, out: { type: 'string' } } });

const PROMPT = Array.from({ length: 24 }, (_, i) => 1 + ((i * 37 + 11) % 500));
const FORCED = Array.from({ length: 12 }, (_, i) => 3 + ((i * 53 + 7) % 480));
const QUANTS: TensorType[] = ['f16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'bf16'];

function models(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = ARCHS.map((a) => ({ name: a, bytes: writeArchModel(makeArchSpec(a)) }));
  for (const t of QUANTS) {
    const k = t.endsWith('_k');
    out.push({ name: `tiny ${t}`, bytes: writeRandomLlama(makeSpec('tiny', { weightType: t, ...(k ? { nEmbd: 256, nFf: 512 } : {}) })) });
  }
  out.push({ name: 'llama-2-tiny-random', bytes: new Uint8Array(readFileSync(join(testdataDir, 'llama-2-tiny-random.gguf'))) });
  return out;
}

async function hash(engine: Engine, bytes: Uint8Array, gpuLayers: number, threads: number, gpu?: GpuContext): Promise<string> {
  const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers, gpu });
  const session = Session.create(model, { nCtx: 64, nThreads: threads });
  const h = createHash('sha256');
  try {
    await session.eval(PROMPT.map((t) => t % model.info.nVocab));
    h.update(new Uint8Array(session.logits().buffer));
    for (const t of FORCED) {
      await session.eval([t % model.info.nVocab]);
      h.update(new Uint8Array(session.logits().buffer));
    }
  } finally {
    session.free();
    model.free();
  }
  return h.digest('hex');
}

const engine = await Engine.create({ threads: 2 });
const gpu = opts['no-gpu'] ? undefined : await requestNodeGpu();
const rows: { model: string; split: string; threads: number; sha256: string }[] = [];
for (const m of models()) {
  const nLayer = Number(/* block count */ (await (async () => {
    const model = await loadModelFromSource(engine, bytesSource(m.bytes), {});
    const n = model.info.nLayer;
    model.free();
    return n;
  })()));
  const first = rows.length;
  for (const threads of [1, 2]) rows.push({ model: m.name, split: 'cpu', threads, sha256: await hash(engine, m.bytes, 0, threads) });
  if (gpu) {
    for (const k of [...new Set([Math.floor(nLayer / 2), nLayer])].filter((k) => k > 0)) {
      rows.push({ model: m.name, split: `gpu ${k}/${nLayer}`, threads: 1, sha256: await hash(engine, m.bytes, k, 1, gpu) });
    }
  }
  const last = rows.slice(first);
  process.stdout.write(`${m.name.padEnd(22)} ${last.map((r) => `${r.split}×${r.threads} ${r.sha256.slice(0, 12)}`).join('  ')}\n`);
}
engine.dispose();
gpu?.device.destroy();
if (opts.out) writeFileSync(opts.out, JSON.stringify({ prompt: PROMPT, forced: FORCED, rows }, null, 1) + '\n');
