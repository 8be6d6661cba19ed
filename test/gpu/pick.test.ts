// The GPU pick (wgsl/sample.wgsl through src/gpu/pick.ts) against a host
// reference: the best m logits ordered as the samplers order candidates
// (larger first, equal logits by lower id, NaN never), on vocabularies of
// awkward sizes with ties, negatives, -inf, NaN and a lone maximum at the end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { GpuContext } from '../../src/gpu/device.js';
import { GpuPicker, GPU_PICK_MAX } from '../../src/gpu/pick.js';
import { Rng, createTestBuffer, watchUncaptured } from './harness.js';
import { requestNodeGpu } from './node-gpu.js';

/** The host's order: every non-NaN id by (logit desc, id asc); -0 equals 0. */
function reference(logits: Float32Array, m: number): { ids: number[]; nNan: number } {
  const ids: number[] = [];
  let nNan = 0;
  for (let i = 0; i < logits.length; i++) {
    if (Number.isNaN(logits[i])) nNan++;
    else ids.push(i);
  }
  ids.sort((a, b) => (logits[a] === logits[b] ? a - b : logits[b] > logits[a] ? 1 : -1));
  return { ids: ids.slice(0, m), nNan };
}

type Fill = (rng: Rng, n: number) => Float32Array;

const cases: { name: string; n: number; fill: Fill }[] = [
  { name: 'uniform', n: 1000, fill: (r, n) => Float32Array.from({ length: n }, () => r.normal() * 4) },
  { name: 'ties in few values', n: 4097, fill: (r, n) => Float32Array.from({ length: n }, () => Math.floor(r.next() * 6) - 3) },
  {
    name: 'negatives, -inf, very negative, -0',
    n: 9000,
    fill: (r, n) => Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? -Infinity : i % 11 === 0 ? -3e38 : i % 13 === 0 ? -0 : -Math.abs(r.normal()) - 1)),
  },
  {
    name: 'lone maximum at the last index',
    n: 12289,
    fill: (r, n) => {
      const a = Float32Array.from({ length: n }, () => r.normal());
      a[n - 1] = 100;
      return a;
    },
  },
  {
    name: 'NaN (including the best slots), +inf',
    n: 5000,
    fill: (r, n) => {
      const a = Float32Array.from({ length: n }, () => r.normal());
      for (let i = 0; i < n; i += 97) a[i] = NaN;
      a[0] = NaN;
      a[4321] = Infinity;
      return a;
    },
  },
  { name: 'fewer logits than candidates', n: 37, fill: (r, n) => Float32Array.from({ length: n }, () => Math.round(r.normal() * 2)) },
  { name: 'all -inf', n: 300, fill: (_r, n) => new Float32Array(n).fill(-Infinity) },
  { name: "Llama 3's vocabulary", n: 128256, fill: (r, n) => Float32Array.from({ length: n }, () => r.normal() * 3) },
];

describe('GPU pick of the best m logits', () => {
  let gpu: GpuContext;
  let uncaptured: string[];
  before(async () => {
    gpu = await requestNodeGpu();
    uncaptured = watchUncaptured(gpu.device);
  });
  after(() => gpu?.device.destroy());

  for (const c of cases) {
    test(`${c.name} (n_vocab ${c.n}): ids and logits equal the host's order for m = 1, 2, 40, ${GPU_PICK_MAX}`, async () => {
      const logits = c.fill(new Rng(c.n), c.n);
      const buffer = createTestBuffer(gpu, logits, 'logits');
      const picker = new GpuPicker(gpu.device, buffer, c.n);
      gpu.device.pushErrorScope('validation');
      for (const m of [1, 2, 40, GPU_PICK_MAX]) {
        const enc = gpu.device.createCommandEncoder();
        picker.encode(enc, m);
        gpu.device.queue.submit([enc.finish()]);
        const got = await picker.read(m);
        const want = reference(logits, m);
        assert.equal(got.complete, true, `m=${m}: complete`);
        assert.equal(got.nNan, want.nNan, `m=${m}: NaN count`);
        const wantIds = [...want.ids];
        // Past the non-NaN logits: NaN ids in order, then nothing (-1).
        for (let i = 0; i < logits.length && wantIds.length < m; i++) if (Number.isNaN(logits[i])) wantIds.push(i);
        while (wantIds.length < m) wantIds.push(-1);
        assert.deepEqual(Array.from(got.ids), wantIds, `m=${m}: ids`);
        for (let i = 0; i < m; i++) {
          const id = got.ids[i];
          const v = id < 0 ? -Infinity : logits[id];
          assert.ok(Object.is(got.logits[i], v) || (Number.isNaN(v) && Number.isNaN(got.logits[i])), `m=${m}: logit ${i}`);
        }
      }
      assert.equal(await gpu.device.popErrorScope(), null);
      picker.destroy();
      buffer.destroy();
      assert.deepEqual(uncaptured, []);
    });
  }

  test('more logits tied near the top than the kernel keeps: incomplete for m = 129, complete for m = 1', async () => {
    // Each 4096-logit chunk: 128 invocations (one short of m) hold 16 logits
    // of 100 each, so no chunk bounds its 129th best above 0 and all
    // 5 * 2048 logits of 100 survive, past the 8192 the kernel keeps.
    const n = 5 * 4096;
    const logits = Float32Array.from({ length: n }, (_, i) => (i % 256 < 128 ? 100 : 0));
    const buffer = createTestBuffer(gpu, logits, 'logits');
    const picker = new GpuPicker(gpu.device, buffer, n);
    for (const [m, complete] of [[GPU_PICK_MAX, false], [1, true]] as const) {
      const enc = gpu.device.createCommandEncoder();
      picker.encode(enc, m);
      gpu.device.queue.submit([enc.finish()]);
      const got = await picker.read(m);
      assert.equal(got.complete, complete, `m=${m}`);
      if (complete) assert.deepEqual(Array.from(got.ids), [0]);
    }
    picker.destroy();
    buffer.destroy();
  });

  test('a pick of 0 or too many candidates is a typed error', () => {
    const buffer = createTestBuffer(gpu, new Float32Array(8), 'logits');
    const picker = new GpuPicker(gpu.device, buffer, 8);
    const enc = gpu.device.createCommandEncoder();
    assert.throws(() => picker.encode(enc, 0), { code: 'argument/invalid' });
    assert.throws(() => picker.encode(enc, GPU_PICK_MAX + 1), { code: 'argument/invalid' });
    assert.throws(() => new GpuPicker(gpu.device, buffer, 9), { code: 'argument/invalid' });
    picker.destroy();
    buffer.destroy();
  });
});
