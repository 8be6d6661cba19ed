// Embeddings and rerank scores with blocks offloaded (Dawn in Node): every
// embedding architecture of test/fixtures/embeddings.json with every block
// on the GPU (and EmbeddingGemma split too) must give llama.cpp's vectors and scores
// within the CPU's tolerance: BERT's LayerNorms, biases and GELU, nomic-bert's
// RoPE and SwiGLU, attention both ways over packed sequences, and
// EmbeddingGemma's two-sided windows. No adapter is a failure.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Session } from '../../src/core/session.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { bytesSource } from '../../src/format/source.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { embedTexts, rerankScores } from '../../src/runtime/embeddings.js';
import { loadModelFromSource } from '../../src/runtime/load.js';
import { writeEmbedModel, type EmbedSpec } from '../gguf/embed-models.js';
import { embedTokenizer } from '../gguf/embed-vocabs.js';
import { watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

const COSINE_TOLERANCE = 1e-4;
const SCORE_TOLERANCE = 1e-3;

interface FixtureModel {
  name: string;
  source: { spec: EmbedSpec };
  contextSize: number;
  embeddings?: { input: string; embedding: number[] }[];
  rerank?: { query: string; document: string; score: number }[];
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/embeddings.json'), 'utf8')) as { models: FixtureModel[] };

function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return 1 - ab / Math.sqrt(aa * bb);
}

describe('embeddings with offloaded blocks match llama.cpp (Dawn in Node)', () => {
  let engine: Engine;
  let gpu: GpuContext;
  let uncaptured: string[];

  before(async () => {
    [engine, gpu] = await Promise.all([Engine.create({ threads: 1 }), requestNodeGpu()]);
    uncaptured = watchUncaptured(gpu.device);
  });
  after(() => {
    engine?.dispose();
    gpu?.device.destroy();
  });

  for (const fm of fixture.models) {
    // Every block on the GPU; EmbeddingGemma (windowed and global layers)
    // also split, its first block on the GPU and the other five on the CPU.
    const splits = fm.name === 'gemma-embedding' ? [1, fm.source.spec.nLayer] : [fm.source.spec.nLayer];
    test(`${fm.name}: ${splits.join(' and ')} of ${fm.source.spec.nLayer} blocks on the GPU`, async (t) => {
      const bytes = writeEmbedModel(fm.source.spec, embedTokenizer(fm.source.spec.vocab));
      for (const k of splits) {
        const model = await loadModelFromSource(engine, bytesSource(bytes), { gpuLayers: k, gpu });
        const session = Session.create(model, { nCtx: fm.contextSize });
        try {
          assert.equal(model.loadReport?.gpuLayers, k);
          let worst = 0;
          if (fm.embeddings) {
            // All inputs in one call: packed batches, each input attending to itself.
            const r = await embedTexts(model, session, fm.embeddings.map((c) => c.input), { normalize: false });
            fm.embeddings.forEach((c, i) => {
              const d = cosineDistance(r.vectors[i], c.embedding);
              worst = Math.max(worst, d);
              assert.ok(d <= COSINE_TOLERANCE, `k = ${k}, input ${i}: cosine distance ${d}`);
            });
          } else if (fm.rerank) {
            const r = await rerankScores(model, session, fm.rerank[0].query, fm.rerank.map((c) => c.document));
            fm.rerank.forEach((c, i) => {
              const d = Math.abs(r.scores[i] - c.score);
              worst = Math.max(worst, d);
              assert.ok(d <= SCORE_TOLERANCE, `k = ${k}, document ${i}: ${r.scores[i]} vs llama.cpp ${c.score}`);
            });
          }
          t.diagnostic(`${fm.name} k = ${k}: largest ${fm.embeddings ? 'cosine distance' : 'score difference'} ${worst.toExponential(2)}`);
        } finally {
          session.free();
          model.free();
        }
      }
      assert.deepEqual(uncaptured, []);
    });
  }
});
