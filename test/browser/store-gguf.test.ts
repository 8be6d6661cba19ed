// The store's TypeScript GGUF reader and its SHA-256, in Node (no browser
// needed): the summary agrees with the engine's own header parser on real and
// random models, malformed headers fail only with ModelFormatError, and the
// incremental hash equals node:crypto's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ModelFormatError } from '../../src/shared/errors.js';
import { readGgufHeader } from '../../src/core/gguf-header.js';
import { Engine } from '../../src/core/wasm-engine.js';
import { bytesSource } from '../../src/format/source.js';
import { chunkedSource } from '../../src/store/chunk-source.js';
import { readGgufSummary } from '../../src/store/gguf-summary.js';
import { Sha256 } from '../../src/store/sha256.js';
import { testdataDir } from './harness.js';
import { paramCount, prng, sha256, tinyModel } from './store-helpers.js';

/** A source that serves `bytes` in small pieces, as stored chunks would. */
const piecewise = (bytes: Uint8Array, pieceBytes: number) =>
  chunkedSource(bytes.byteLength, pieceBytes, async (k) => bytes.slice(k * pieceBytes, (k + 1) * pieceBytes));

describe('GGUF summary and SHA-256 of the store', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ threads: 1 });
  });
  after(() => engine?.dispose());

  const models: [string, () => Uint8Array][] = [
    ['llama-2-tiny-random.gguf', () => new Uint8Array(readFileSync(join(testdataDir, 'llama-2-tiny-random.gguf')))],
    ['random f32', () => tinyModel().bytes],
    ['random q4_0', () => tinyModel({ weightType: 'q4_0' }).bytes],
    ['random q8_0 with f16 embeddings', () => tinyModel({ weightType: 'q8_0', embdType: 'f16' }).bytes],
    ['random bf16, tied output', () => tinyModel({ weightType: 'bf16', tiedOutput: true }).bytes],
  ];
  for (const [name, make] of models) {
    test(`the summary of ${name} agrees with the engine's header parser, read whole or in 1000-byte pieces`, async () => {
      const bytes = make();
      const header = readGgufHeader(engine, bytes, bytes.byteLength, { maxArray: 0 });
      const whole = await readGgufSummary(bytesSource(bytes));
      assert.deepEqual(await readGgufSummary(piecewise(bytes, 1000)), whole);
      assert.equal(whole.version, header.version);
      assert.equal(whole.architecture, header.metadata['general.architecture']);
      assert.equal(whole.contextLength, header.metadata[`${whole.architecture}.context_length`]);
      assert.equal(whole.nLayer, header.metadata[`${whole.architecture}.block_count`]);
      assert.equal(whole.nTensors, header.tensors.length);
      assert.equal(whole.dataOffsetBytes, header.dataOffset);
      assert.equal(
        whole.nParams,
        header.tensors.reduce((a, t) => a + t.dims.reduce((x, d) => x * d, 1), 0),
      );
      const types: Record<string, number> = {};
      for (const t of header.tensors) types[t.type.toLowerCase()] = (types[t.type.toLowerCase()] ?? 0) + 1;
      assert.deepEqual(
        Object.fromEntries(Object.entries(whole.types).map(([k, v]) => [k.toLowerCase(), v])),
        types,
      );
    });
  }

  test('the parameter count is the sum of the tensor shapes of the spec', async () => {
    const { bytes, spec } = tinyModel({ tiedOutput: true });
    assert.equal((await readGgufSummary(bytesSource(bytes))).nParams, paramCount(spec));
  });

  test('bad magic, bad version, a cut header and cut tensor data fail with their codes and offsets', async () => {
    const { bytes } = tinyModel();
    const fail = async (b: Uint8Array): Promise<ModelFormatError> => {
      try {
        await readGgufSummary(bytesSource(b));
      } catch (e) {
        assert.ok(e instanceof ModelFormatError, `${(e as Error).name}: ${(e as Error).message}`);
        return e;
      }
      assert.fail('the reader accepted a malformed file');
    };
    assert.equal((await fail(new TextEncoder().encode('PK\x03\x04 a zip'))).code, 'gguf/bad-magic');
    assert.equal((await fail(new Uint8Array(0))).code, 'gguf/bad-magic');
    const v9 = bytes.slice();
    v9[4] = 9;
    const bad = await fail(v9);
    assert.equal(bad.code, 'gguf/bad-version');
    assert.equal(bad.details.version, 9);
    const headerCut = await fail(bytes.subarray(0, 5000));
    assert.equal(headerCut.code, 'gguf/truncated');
    assert.equal(typeof headerCut.details.field, 'string');
    const dataCut = await fail(bytes.subarray(0, bytes.byteLength - 1));
    assert.equal(dataCut.code, 'gguf/truncated');
    assert.equal(dataCut.details.field, 'blk.3.ffn_down.weight');
    assert.equal(dataCut.details.offset, bytes.byteLength);
  });

  test('randomly corrupted headers (seeded) fail only with ModelFormatError, never another exception', async () => {
    const seed = Number(process.env.HOB_STORE_SEED ?? 7);
    console.log(`gguf corruption seed ${seed}`);
    const rand = prng(seed);
    const { bytes } = tinyModel();
    const headerBytes = (await readGgufSummary(bytesSource(bytes))).dataOffsetBytes;
    let rejected = 0;
    for (let round = 0; round < 300; round++) {
      const b = bytes.slice();
      const nFlips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < nFlips; f++) b[Math.floor(rand() * headerBytes)] = Math.floor(rand() * 256);
      try {
        await readGgufSummary(bytesSource(b));
      } catch (e) {
        assert.ok(e instanceof ModelFormatError, `round ${round} (seed ${seed}): ${(e as Error).name}: ${(e as Error).message}`);
        rejected++;
      }
    }
    assert.ok(rejected > 100, `${rejected} of 300 corrupted headers rejected`);
  });

  test('the incremental SHA-256 equals node:crypto for pieces of every size around the block boundary', () => {
    const rand = prng(3);
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65_537]) {
      const b = new Uint8Array(n).map(() => Math.floor(rand() * 256));
      const h = new Sha256();
      for (let at = 0; at < n; ) {
        const k = Math.min(n - at, 1 + Math.floor(rand() * 130));
        h.update(b.subarray(at, at + k));
        at += k;
      }
      assert.equal(h.hex(), sha256(b), `${n} bytes`);
    }
  });
});
