// Writes a random llama model to a file, streaming it (flat memory at any size):
//   npx tsx test/gguf/make-model.ts --preset qwen2-0.5b --type q4_0 --out /tmp/x.gguf
// Options: --preset tiny|qwen2-0.5b|llama-1b, --type f32|f16|bf16|q8_0|q4_0|
// q4_1|q5_0|q5_1|iq4_nl|q2_k|q3_k|q4_k|q5_k|q6_k (all 2-D weights; rows that
// are not whole K-quant blocks fall back as llama.cpp's quantizer does),
// --seed N, --spec '{"nLayer":2,...}' (JSON overrides).
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildRandomLlama, makeSpec, PRESETS, type LlamaSpec, type PresetName } from './random-model';
import { ENCODINGS, type TensorType } from './writer';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'tiny' },
    type: { type: 'string' },
    seed: { type: 'string' },
    spec: { type: 'string' },
    out: { type: 'string' },
  },
});

function die(msg: string): never {
  process.stderr.write(`make-model: ${msg}\n`);
  process.exit(2);
}

if (!opts.out) die('--out FILE is required');
if (!(opts.preset! in PRESETS)) die(`unknown preset ${opts.preset} (${Object.keys(PRESETS).join(', ')})`);
const overrides: Partial<LlamaSpec> = opts.spec ? (JSON.parse(opts.spec) as Partial<LlamaSpec>) : {};
if (opts.type) {
  if (!(opts.type in ENCODINGS)) die(`unknown type ${opts.type} (${Object.keys(ENCODINGS).join(', ')})`);
  overrides.weightType = opts.type as TensorType;
}
if (opts.seed) overrides.seed = Number(opts.seed);
const spec = makeSpec(opts.preset as PresetName, overrides);

const t0 = performance.now();
const fd = openSync(opts.out, 'w');
const hash = createHash('sha256');
let sizeBytes = 0;
try {
  for (const chunk of buildRandomLlama(spec).chunks()) {
    writeSync(fd, chunk);
    hash.update(chunk);
    sizeBytes += chunk.length;
  }
} finally {
  closeSync(fd);
}
const elapsedMs = performance.now() - t0;
process.stdout.write(
  JSON.stringify({ out: opts.out, sizeBytes, sha256: hash.digest('hex'), elapsedMs: Math.round(elapsedMs), spec }) + '\n',
);
