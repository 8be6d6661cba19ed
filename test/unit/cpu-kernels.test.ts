// The wasm engine's batched (prefill) kernels against its one-token path:
// a matmul over several tokens runs the tile kernels (several tokens per
// decoded weight block; for F16 and F32 weights, rows widened once and
// register blocks of rows x tokens), over one token the one-row dots. Both sum the same
// integer lanes in the same float order, so the results must agree bit for
// bit, for every weight type with a tile kernel, any number of tokens and
// any row length; and so must a prompt's logits evaluated at once or token
// by token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Engine, Model, Session } from '../../src/node/index.js';
import { CpuOps } from '../gpu/cpu-ops.js';
import { ENCODINGS, encodeTensor, type TensorType } from '../gguf/quantize.js';
import { makeSpec, Rng, writeRandomLlama } from '../gguf/random-model.js';

const TILED: readonly TensorType[] = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'];
const K_QUANTS = new Set<TensorType>(['q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k']);
const FLOATS: readonly TensorType[] = ['f16', 'f32'];

// Token counts around the kernels' groups of four or eight tokens (every
// remainder) and the matmul's tiles of 16.
const N_TOK = [2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 16, 17];

describe('tile kernels', () => {
  let ops: CpuOps;
  before(async () => {
    ops = await CpuOps.load();
  });

  for (const type of [...TILED, ...FLOATS]) {
    // K-quants: one, three and four super-blocks; floats: lengths that end
    // off the 8-element steps (and one of SmolVLM's width); the others: 1,
    // 3, 9 blocks.
    const lengths = K_QUANTS.has(type) ? [256, 768, 1024] : FLOATS.includes(type) ? [5, 70, 768] : [32, 96, 288];
    test(`${type}: a matmul over n tokens equals n one-token matmuls bit for bit`, () => {
      const rows = 5;
      const rng = new Rng(7, type);
      for (const cols of lengths) {
        // Weights with an offset, so types with a minimum use it.
        const wf = new Float32Array(rows * cols);
        rng.fillNormal(wf, 0.01, 0.05);
        const w = encodeTensor(type, wf);
        const id = ENCODINGS[type].ggmlType;
        const x = new Float32Array(17 * cols);
        rng.fillNormal(x, 0.1, 1);
        const one: Float32Array[] = [];
        for (let t = 0; t < 17; t++) one.push(ops.matmul(id, w, rows, cols, x.subarray(t * cols, (t + 1) * cols), 1));
        for (const n of N_TOK) {
          const y = ops.matmul(id, w, rows, cols, x.subarray(0, n * cols), n);
          for (let t = 0; t < n; t++) {
            for (let r = 0; r < rows; r++) {
              const a = y[t * rows + r], b = one[t][r];
              if (!Object.is(a, b)) assert.fail(`cols ${cols}, ${n} tokens: token ${t} row ${r}: ${a} tiled, ${b} alone`);
            }
          }
        }
        // Not trivially equal: the dots differ between tokens and rows.
        assert.ok(one[0].some((v) => v !== 0) && one[0][0] !== one[1][0] && one[0][0] !== one[0][1]);
      }
    });
  }
});

// 11 tokens: two tiles of four and a remainder of three.
const PROMPT = [1, 17, 230, 5, 99, 411, 3, 3, 250, 42, 7];

describe('tiled prefill', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 2 });
  });
  after(() => engine?.dispose());

  // K-quants need rows of 256; the tiny preset's are 64 and 192.
  for (const type of ['q4_0', 'q5_0', 'q8_0', 'iq4_nl', 'q4_1', 'q4_k', 'q6_k'] as const) {
    test(`${type}: a prompt at once gives exactly the logits of feeding it token by token`, async () => {
      const shape = K_QUANTS.has(type) ? { nEmbd: 256, nFf: 512 } : {};
      const model = Model.load(engine, writeRandomLlama(makeSpec('tiny', { weightType: type, seed: 3, ...shape })));
      try {
        const batch = Session.create(model, { nCtx: 64 });
        await batch.eval(PROMPT);
        const atOnce = batch.logits();
        const single = Session.create(model, { nCtx: 64 });
        for (const t of PROMPT) await single.eval([t]);
        const oneByOne = single.logits();
        let differing = 0;
        for (let i = 0; i < atOnce.length; i++) if (atOnce[i] !== oneByOne[i]) differing++;
        assert.equal(differing, 0, `${differing} of ${atOnce.length} logits differ`);
        // Not trivially equal: the logits depend on the prompt.
        assert.ok(atOnce.some((v, i) => i > 0 && v !== atOnce[0]));
        batch.free();
        single.free();
      } finally {
        model.free();
      }
    });
  }
});
