// The vision fixtures (test/fixtures/vision-*.json, made by
// scripts/oracle/make-vision-fixtures.ts with llama.cpp's libmtmd) and the
// files they were made from, for the vision tests: idefics3 (SmolVLM) in
// vision-NAME.json, gemma3 in vision-gemma3-NAME.json, gemma4v in
// vision-gemma4-NAME.json.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import assert from 'node:assert/strict';

import type { Projector } from '../../src/core/vision.js';
import { Session, type Model } from '../../src/node/index.js';
import type { LlamaSpec } from '../gguf/random-model.js';
import { testImage, VISION_IMAGES, type VisionSpec } from '../gguf/vision-models.js';

const root = resolve(import.meta.dirname, '../..');

export type Chunk = { type: 'text'; tokens: number[] } | { type: 'image'; nTokens: number };
export interface Fixture {
  textModel: { spec: LlamaSpec; sha256: string };
  projector: { spec: VisionSpec; sha256: string };
  image: { name: string; width: number; height: number; seed: number; sha256: string };
  prompt: string;
  nEmbd: number;
  chunks: Chunk[];
  embeddings: string;
  /** The ten best logits after the prompt (which ends with the image), [id, logit]. */
  top: [number, number][];
  greedy: number[];
}

const load = (prefix: string): Fixture[] => Object.keys(VISION_IMAGES).map(
  (name) => JSON.parse(readFileSync(join(root, `test/fixtures/${prefix}${name}.json`), 'utf8')) as Fixture,
);
export const fixtures: Fixture[] = load('vision-');
export const gemma3Fixtures: Fixture[] = load('vision-gemma3-');
export const gemma4Fixtures: Fixture[] = load('vision-gemma4-');
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function referenceRows(f: Fixture): Float32Array {
  const b = Buffer.from(f.embeddings, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Up to n greedy tokens from the session's current logits, stopping after
 *  an end-of-generation token, as the fixtures' greedy tokens were made. */
export async function greedyTokens(s: Session, model: Model, n: number): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const logits = s.logits();
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
    got.push(best);
    if (model.isEog(best) || i === n - 1) break;
    await s.eval([best]);
  }
  return got;
}

/** Hob's rows against llama.cpp's: the largest difference, and the largest
 *  ratio of a difference to its tolerance abs + rel |ref| (over 1: out). */
export function compareRows(got: Float32Array, ref: Float32Array, abs: number, rel: number): { maxAbs: number; worst: number } {
  assert.equal(got.length, ref.length);
  let maxAbs = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    maxAbs = Math.max(maxAbs, d);
    worst = Math.max(worst, d / (abs + rel * Math.abs(ref[i])));
  }
  return { maxAbs, worst };
}

/** Evaluates a fixture's prompt with Hob's rows for the image; the session's logits follow the prompt. */
export async function evalFixturePrompt(model: Model, f: Fixture, rows: Float32Array, bidirectional: boolean): Promise<Session> {
  const s = Session.create(model, { nCtx: 256 });
  for (const c of f.chunks) {
    if (c.type === 'text') await s.eval(c.tokens);
    else await s.evalEmbeddings(rows, { bidirectional });
  }
  return s;
}

/** With the image's rows read both ways, the fixture's best logits (within
 *  logitTol) and greedy tokens after the prompt are llama.cpp's; read
 *  causally, the logits are off by more than 50 logitTol, so the check can
 *  tell the two masks apart. */
export async function checkBothWaysAfterImage(model: Model, f: Fixture, rows: Float32Array, logitTol: number): Promise<void> {
  const s = await evalFixturePrompt(model, f, rows, true);
  try {
    assert.equal(s.nPast, f.chunks.reduce((n, c) => n + (c.type === 'text' ? c.tokens.length : c.nTokens), 0));
    const first = s.logits();
    for (const [id, logit] of f.top) assert.ok(Math.abs(first[id] - logit) < logitTol, `logit of ${id}: ${first[id]} vs ${logit}`);
    assert.deepEqual(await greedyTokens(s, model, f.greedy.length), f.greedy);
  } finally {
    s.free();
  }
  const causal = await evalFixturePrompt(model, f, rows, false);
  try {
    const first = causal.logits();
    const off = Math.max(...f.top.map(([id, logit]) => Math.abs(first[id] - logit)));
    assert.ok(off > 50 * logitTol, `causal rows give llama.cpp's logits too (max diff ${off}): the test cannot tell the masks apart`);
  } finally {
    causal.free();
  }
}

/** The fixtures were made from these files (their specs and bytes) and
 *  from the test writer's images. */
export function checkFixtureSources(fs: Fixture[], textSpec: unknown, visionSpec: VisionSpec, textBytes: Uint8Array, projectorBytes: Uint8Array): void {
  assert.ok(fs.length > 0, 'no fixtures');
  for (const f of fs) {
    assert.deepEqual(f.textModel.spec, textSpec);
    assert.deepEqual(f.projector.spec, visionSpec);
    assert.equal(f.textModel.sha256, sha256(textBytes));
    assert.equal(f.projector.sha256, sha256(projectorBytes));
    assert.equal(f.image.sha256, sha256(testImage(f.image.width, f.image.height, f.image.seed).rgb));
  }
}

/** The prompt's tokens around the image and the image's rows, as the
 *  projector's layout gives them for the fixture's image, are the chunks
 *  mtmd made of it (a family with one image unit: no lone pieces). */
export function checkMarkerLayout(model: Model, projector: Projector, f: Fixture): void {
  const [beforeText, afterText] = f.prompt.split('<__media__>');
  const expected = f.chunks.flatMap((c): (number | string)[] => (c.type === 'text' ? c.tokens : [`image ${c.nTokens}`]));
  const layout = projector.layout(f.image.width, f.image.height);
  const got: (number | string)[] = [...model.tokenize(beforeText, { addSpecial: true, parseSpecial: true })];
  for (const p of layout.parts) {
    if (p.kind === 'text') got.push(...model.tokenize(p.text, { addSpecial: false, parseSpecial: true }));
    else if (p.kind === 'image') got.push(`image ${layout.nRows}`);
    else assert.fail(`${projector.projectorType} has no lone pieces: ${p.piece}`);
  }
  got.push(...model.tokenize(afterText, { addSpecial: false, parseSpecial: true }));
  assert.deepEqual(got, expected, f.image.name);
}
