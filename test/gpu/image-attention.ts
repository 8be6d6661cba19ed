// An image's rows attending both ways inside a prefill batch (Gemma 3's
// images on the GPU): a batch of text, then an image, then text again, after
// cached cells, with each row's visible cells given as row ranges (the
// frame's `ranged`), as the engine's BatchLayout::image gives them (text
// causal, image rows up to the image's end, sliding windows keeping their
// start). The tiled prefill kernel (the default tiles and the largest, which
// mix image and text rows in a workgroup) must give the bits of the per-row
// kernel, and both the CPU op's result for each row over exactly its cells;
// a one-row batch takes the decode kernels with the same ranges.
import { imageRows } from '../../src/core/batch-rows.js';
import { FRAME_BYTES, Kernels, attentionScratchBytes, attentionTilings } from '../../src/gpu/kernels/index.js';
import type { GpuCase } from './cases.js';
import { Rng, checkEqual, checkNmse, createTestBuffer, readF32, type GpuTestEnv } from './harness.js';

// As the other attention cases: the same rounding points as the CPU op.
const NMSE = 1e-9;

/** The ranges of cells [0, end) when [imageAt, imageAt + n) is an image (else causal). */
function ranges(window: number, imageAt: number, n: number, end: number): Uint32Array {
  const img = imageRows({ nSwa: window, swaSymmetric: false }, imageAt, n);
  const r = window > 0 ? img.swa : img.full;
  const out = new Uint32Array(2 * end);
  for (let c = 0; c < end; c++) {
    if (c < imageAt + n) {
      out[2 * c] = r[2 * c];
      out[2 * c + 1] = r[2 * c + 1];
    } else {
      out[2 * c] = window > 0 ? Math.max(0, c - window + 1) : 0;
      out[2 * c + 1] = c + 1;
    }
  }
  return out;
}

export const imageAttentionCase: GpuCase = {
  name: 'image rows attend both ways in a text-image-text batch: tiled bits of the per-row kernel, each row the CPU op over its cells',
  async run(env: GpuTestEnv) {
    const { ctx, kernels, cpu } = env;
    const rng = new Rng(83);
    const frame = ctx.device.createBuffer({ label: 'frame', size: FRAME_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    // [heads, kv heads, head_dim, window, cached cells, text before, image rows, text after]
    // One shape (one set of pipelines: SwiftShader compiles slowly).
    const configs = [
      [4, 2, 64, 0, 10, 5, 16, 7],
      [4, 2, 64, 8, 3, 2, 20, 3], // a window shorter than the image
      [4, 2, 64, 0, 0, 0, 16, 0], // the image alone
      [4, 2, 64, 5, 30, 0, 1, 0], // one row: the decode kernels
    ] as const;
    let outputs = 0;
    let worst = 0;
    // A batch this small takes one-row tiles by default; the largest tile
    // also mixes image and text rows in one workgroup.
    const largest = new Kernels(ctx, { attnTileRows: attentionTilings(4, 2, 64)[0].rows });
    // The browser suite (brief) takes the window shorter than the image alone.
    for (const [nHead, nHeadKv, headDim, window, cell0, before, nImage, afterText] of env.brief ? [configs[1]] : configs) {
      const T = before + nImage + afterText;
      const nCtx = 128;
      const end = cell0 + T;
      const kvDim = nHeadKv * headDim;
      const shape = { nHead, nHeadKv, headDim, scale: 1 / Math.sqrt(headDim), nCtx, window, softcap: 0 };
      const kc = createTestBuffer(ctx, nCtx * kvDim * 2);
      const vc = createTestBuffer(ctx, nCtx * kvDim * 2);
      const bytes = attentionScratchBytes(shape);
      const scratch = bytes > 0 ? createTestBuffer(ctx, bytes) : null;
      const k = rng.floats(end * kvDim);
      const v = rng.floats(end * kvDim);
      const q = rng.floats(T * nHead * headDim, 3);
      const r = ranges(window, cell0 + before, nImage, end);
      const rowsBuf = createTestBuffer(ctx, r.slice(2 * cell0));
      const run = async (steps: ReturnType<Kernels['attention']>[], nTokens: number, first: number, ranged: number) => {
        ctx.device.queue.writeBuffer(frame, 0, new Uint32Array([nTokens, first, first + nTokens, ranged]));
        const enc = ctx.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const s of steps) s.encode(pass, nTokens, first + nTokens);
        pass.end();
        ctx.device.queue.submit([enc.finish()]);
      };
      await run([kernels.kvStore(createTestBuffer(ctx, k), createTestBuffer(ctx, v), kc, vc, kvDim, nCtx, frame)], end, 0, 0);
      const qb = createTestBuffer(ctx, q);
      const tiled = createTestBuffer(ctx, q.length * 4);
      const rows = createTestBuffer(ctx, q.length * 4);
      await run([
        kernels.attention(qb, kc, vc, tiled, shape, frame, scratch, undefined, 'tiled', rowsBuf),
        kernels.attention(qb, kc, vc, rows, shape, frame, scratch, undefined, 'rows', rowsBuf),
      ], T, cell0, 1);
      const got = await readF32(ctx, tiled, q.length);
      const ref = await readF32(ctx, rows, q.length);
      const what = `attention ${nHead}/${nHeadKv}x${headDim} window ${window}: ${cell0} cached, ${before} + ${nImage} image + ${afterText}`;
      // Row t over its cells [b, e): the CPU op's last row of a causal batch over those cells alone.
      const want = new Float32Array(q.length);
      const D = nHead * headDim;
      for (let t = 0; t < T; t++) {
        const [b, e] = [r[2 * (cell0 + t)], r[2 * (cell0 + t) + 1]];
        want.set(cpu.attention(q.subarray(t * D, (t + 1) * D), k.subarray(b * kvDim, e * kvDim), v.subarray(b * kvDim, e * kvDim), e - b - 1, 1, shape), t * D);
      }
      worst = Math.max(worst, checkNmse(`${what} (per-row kernel vs CPU)`, ref, want, NMSE));
      if (T === 1) {
        worst = Math.max(worst, checkNmse(`${what} (decode vs CPU)`, got, want, NMSE));
      } else {
        checkEqual(`${what} (tiled bits vs per-row)`, new Uint32Array(got.buffer), new Uint32Array(ref.buffer));
        await run([largest.attention(qb, kc, vc, tiled, shape, frame, scratch, undefined, 'tiled', rowsBuf)], T, cell0, 1);
        checkEqual(`${what} (largest tiles: bits vs per-row)`, new Uint32Array((await readF32(ctx, tiled, q.length)).buffer), new Uint32Array(ref.buffer));
      }
      outputs += q.length;
    }
    largest.destroy();
    env.report(`image attention: ${outputs} outputs, tiled bit-equal to per-row; NMSE vs CPU ${worst.toExponential(2)} (limit ${NMSE.toExponential(0)})`);
  },
};
