// The vision fixtures (test/fixtures/vision-*.json, made by
// scripts/oracle/make-vision-fixtures.ts with llama.cpp's libmtmd) and the
// files they were made from, for the vision tests: idefics3 (SmolVLM) in
// vision-NAME.json, gemma3 in vision-gemma3-NAME.json, gemma4v in
// vision-gemma4-NAME.json.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { Model, Session } from '../../src/node/index.js';
import type { LlamaSpec } from '../gguf/random-model.js';
import { VISION_IMAGES, type VisionSpec } from '../gguf/vision-models.js';

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
