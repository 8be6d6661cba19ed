// Random vision test files, SmolVLM-, Gemma-3- and Gemma-4-shaped: a text
// model (llama, gemma3, gemma4) whose vocabulary holds the marker tokens llama.cpp's mtmd
// puts around images for that projector, and an mmproj GGUF
// (general.architecture = clip) with the metadata keys and tensor names
// llama.cpp's clip loader reads (tools/mtmd/clip-impl.h): a SigLIP-style ViT
// (patch embedding with bias, learned position embeddings, pre-norm blocks
// with biased q/k/v/out and a GELU MLP, post-LN), then idefics3's
// pixel-shuffle and one bias-free linear map (mm.model.fc), or gemma3's
// average pool, RMSNorm (mm.soft_emb_norm) and map (mm.input_projection);
// or Gemma 4's (gemma4v): no patch bias, x and y position tables, RMS-norm
// blocks with q/k norms, post-norms, a gated MLP, output scales and
// clamped linears, then pool, standardisation and map.
// Also the deterministic test images the vision fixtures are made from.
import {
  addRandomLlamaHparams, addRandomLlamaTensors, addRandomTensor, makeSpec, Rng, syntheticVocab, TOKEN_TYPE, type LlamaSpec,
} from './random-model';
import { buildArchModel, makeArchSpec, type ArchSpec } from './arch-models';
import { buildGemma4Model, makeGemma4Spec, type Gemma4Spec } from './gemma4-models';
import { GgufWriter } from './writer';

export interface VisionSpec {
  name: string;
  projectorType: string;
  /** Side of one tile (clip.vision.image_size) and of a patch. */
  imageSize: number;
  patchSize: number;
  /** clip.vision.preproc_image_size: the longest edge an image is resized to
   *  before tiling (idefics3; 0: not written). */
  longestEdge: number;
  /** clip.vision.projector.scale_factor: the pixel-shuffle's side (idefics3),
   *  the average pool's (gemma3). */
  scaleFactor: number;
  nEmbd: number;
  nHead: number;
  nFf: number;
  nLayer: number;
  eps: number;
  /** Width of the text model's embeddings: the projector's output. */
  projectionDim: number;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** Standard deviations of the random weights. */
  std: number;
  patchStd: number;
  posStd: number;
  projStd: number;
  normStd: number;
  seed: number;
  /** Type of the ViT's and projector's matrices (f32 when absent); vectors
   *  and position embeddings stay f32, as in llama.cpp's converted files. */
  weightType?: 'f32' | 'f16';
  /** gemma4v: rows of each of the x and y position tables. */
  posSize?: number;
}

/** The marker tokens mtmd's idefics3 template needs in the text vocabulary:
 *  "\n\n" before the overview, <fake_token_around_image> around every
 *  sub-image, <global-img> and <row_R_col_C> (1-based, up to 3×3 tiles). */
export function idefics3MarkerTokens(maxGrid = 3): string[] {
  const out = ['\n\n', '<fake_token_around_image>', '<global-img>', '<image>'];
  for (let r = 1; r <= maxGrid; r++) for (let c = 1; c <= maxGrid; c++) out.push(`<row_${r}_col_${c}>`);
  return out;
}

/** The text model: the tiny f32 llama preset, its last vocabulary slots
 *  holding the marker tokens ("\n\n" a normal piece, the rest user-defined). */
export function makeVisionTextSpec(overrides: Partial<LlamaSpec> = {}): LlamaSpec {
  return makeSpec('tiny', { name: 'hob-tiny-smolvlm-text', seed: 23, weightType: 'f32', ...overrides });
}

export function buildVisionTextModel(spec: LlamaSpec): GgufWriter {
  const markers = idefics3MarkerTokens();
  const vocab = syntheticVocab(spec.nVocab - markers.length);
  for (const m of markers) {
    vocab.tokens.push(m);
    vocab.scores.push(0);
    vocab.types.push(m === '\n\n' ? TOKEN_TYPE.normal : TOKEN_TYPE.userDefined);
  }
  const w = new GgufWriter();
  w.addKv('general.architecture', 'llama', 'string');
  w.addKv('general.name', spec.name, 'string');
  addRandomLlamaHparams(w, spec);
  w.addKv('tokenizer.ggml.model', 'llama', 'string');
  w.addKv('tokenizer.ggml.tokens', vocab.tokens, 'string[]');
  w.addKv('tokenizer.ggml.scores', vocab.scores, 'float32[]');
  w.addKv('tokenizer.ggml.token_type', vocab.types, 'int32[]');
  w.addKv('tokenizer.ggml.bos_token_id', 1, 'uint32');
  w.addKv('tokenizer.ggml.eos_token_id', 2, 'uint32');
  w.addKv('tokenizer.ggml.unknown_token_id', 0, 'uint32');
  w.addKv('tokenizer.ggml.add_bos_token', true, 'bool');
  w.addKv('tokenizer.ggml.add_eos_token', false, 'bool');
  addRandomLlamaTensors(w, spec);
  return w;
}

/** SmolVLM's layout at test size: 64-pixel tiles of 8-pixel patches (64
 *  patches, 16 tokens after the 2×2 shuffle), images resized to a longest
 *  edge of 192 (grids up to 3×3 plus the overview). */
export function makeVisionSpec(overrides: Partial<VisionSpec> = {}): VisionSpec {
  return {
    name: 'hob-tiny-smolvlm-mmproj', projectorType: 'idefics3',
    imageSize: 64, patchSize: 8, longestEdge: 192, scaleFactor: 2,
    nEmbd: 32, nHead: 2, nFf: 96, nLayer: 2, eps: 1e-6, projectionDim: 64,
    imageMean: [0.48, 0.46, 0.41], imageStd: [0.27, 0.26, 0.28],
    std: 0.1, patchStd: 0.05, posStd: 0.5, projStd: 0.1, normStd: 0.1, seed: 7,
    ...overrides,
  };
}

/** Gemma 3's markers around an image (mtmd's img_beg and img_end). */
export const GEMMA3_MARKER_TOKENS = ['<start_of_image>', '<end_of_image>'];

/** The Gemma 3 text model: the tiny gemma3 preset (five sliding-window
 *  blocks of window 8, one global), its last vocabulary slots holding the
 *  image markers. */
export function makeGemma3TextSpec(overrides: Partial<ArchSpec> = {}): ArchSpec {
  return makeArchSpec('gemma3', { name: 'hob-tiny-gemma3-vision-text', seed: 31, embdStd: 0.1, postNormMean: 2, ...overrides });
}

export function buildGemma3TextModel(spec: ArchSpec): GgufWriter {
  const vocab = syntheticVocab(spec.nVocab - GEMMA3_MARKER_TOKENS.length);
  for (const m of GEMMA3_MARKER_TOKENS) {
    vocab.tokens.push(m);
    vocab.scores.push(0);
    vocab.types.push(TOKEN_TYPE.userDefined);
  }
  return buildArchModel(spec, {}, vocab);
}

/** Gemma 3's projector at test size: 112-pixel images of 14-pixel patches
 *  (8 x 8), pooled 2 x 2 into 16 rows (the real ones: 896 pixels, pooled
 *  4 x 4 into 256), SigLIP's mean and std of 0.5. */
export function makeGemma3VisionSpec(overrides: Partial<VisionSpec> = {}): VisionSpec {
  return makeVisionSpec({
    name: 'hob-tiny-gemma3-mmproj', projectorType: 'gemma3', imageSize: 112, patchSize: 14, longestEdge: 0, scaleFactor: 2,
    imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5], seed: 11, ...overrides,
  });
}

/** Gemma 4's markers around an image (mtmd's img_beg and img_end). */
export const GEMMA4_MARKER_TOKENS = ['<|image>', '<image|>'];

/** The Gemma 4 text model: the tiny dense gemma4 preset (sliding windows of
 *  8, a soft-cap), its last vocabulary slots holding the image markers. Its
 *  width (64) is not E2B's or E4B's, so llama.cpp reads image rows both ways. */
export function makeGemma4TextSpec(overrides: Partial<Gemma4Spec> = {}): Gemma4Spec {
  return makeGemma4Spec('dense', { name: 'hob-tiny-gemma4-vision-text', seed: 37, ...overrides });
}

export function buildGemma4TextModel(spec: Gemma4Spec): GgufWriter {
  const vocab = syntheticVocab(spec.nVocab - GEMMA4_MARKER_TOKENS.length);
  for (const m of GEMMA4_MARKER_TOKENS) {
    vocab.tokens.push(m);
    vocab.scores.push(0);
    vocab.types.push(TOKEN_TYPE.userDefined);
  }
  return buildGemma4Model(spec, vocab);
}

/** Gemma 4's projector at test size: 8-pixel patches pooled 3 x 3 (rows of
 *  24 pixels; the real ones: 16-pixel patches), so the 70 to 1120 rows
 *  llama.cpp allows an image are 40320 to 645120 pixels; position tables of
 *  48 a side. As Gemma 4's converter writes it: image_size 224 (unused), no
 *  scale factor key (3 is the default), no clip.use_gelu (llama.cpp then
 *  takes the quick GELU), mean 0 and std 1. */
export function makeGemma4VisionSpec(overrides: Partial<VisionSpec> = {}): VisionSpec {
  return makeVisionSpec({
    name: 'hob-tiny-gemma4-mmproj', projectorType: 'gemma4v', imageSize: 224, patchSize: 8, longestEdge: 0, scaleFactor: 3,
    imageMean: [0, 0, 0], imageStd: [1, 1, 1], posSize: 48, seed: 13, ...overrides,
  });
}

/** The clamps of gemma4v's test projector ([min, max] of the input and of
 *  the output, null: none), small enough that some values reach them. */
export const GEMMA4V_CLAMPS: Readonly<Record<string, { input?: [number, number]; output?: [number, number] }>> = {
  'v.blk.0.attn_q': { input: [-1.5, 1.5] },
  'v.blk.0.ffn_down': { input: [-0.05, 0.05], output: [-0.1, 0.1] },
  'v.blk.1.attn_out': { output: [-0.2, 0.2] },
  'mm.input_projection': { input: [-2, 2], output: [-0.5, 0.5] },
};

/** Damage for refusal tests: metadata written with other values (or left
 *  out: undefined), tensors left out. */
export interface ProjectorDamage {
  kv?: Record<string, number | undefined>;
  omitTensors?: string[];
}

export function buildVisionProjector(s: VisionSpec, damage: ProjectorDamage = {}): GgufWriter {
  if (s.imageSize % s.patchSize !== 0) throw new Error(`image size ${s.imageSize} is not a multiple of patch ${s.patchSize}`);
  if (s.nEmbd % s.nHead !== 0) throw new Error(`nEmbd ${s.nEmbd} is not a multiple of nHead ${s.nHead}`);
  const inner = new GgufWriter();
  // A view of the writer that applies the damage on the way in.
  const w = {
    addKv(key: string, value: Parameters<GgufWriter['addKv']>[1], type: Parameters<GgufWriter['addKv']>[2]): void {
      if (damage.kv && key in damage.kv) {
        const v = damage.kv[key];
        if (v !== undefined) inner.addKv(key, v, type);
        return;
      }
      inner.addKv(key, value, type);
    },
  };
  w.addKv('general.architecture', 'clip', 'string');
  w.addKv('general.name', s.name, 'string');
  w.addKv('general.file_type', s.weightType === 'f16' ? 1 : 0, 'uint32');
  w.addKv('clip.projector_type', s.projectorType, 'string');
  w.addKv('clip.has_vision_encoder', true, 'bool');
  const gemma4v = s.projectorType === 'gemma4v';
  if (!gemma4v) w.addKv('clip.use_gelu', true, 'bool');
  w.addKv('clip.vision.image_size', s.imageSize, 'uint32');
  if (s.longestEdge > 0) w.addKv('clip.vision.preproc_image_size', s.longestEdge, 'uint32');
  w.addKv('clip.vision.patch_size', s.patchSize, 'uint32');
  w.addKv('clip.vision.embedding_length', s.nEmbd, 'uint32');
  w.addKv('clip.vision.feed_forward_length', s.nFf, 'uint32');
  w.addKv('clip.vision.block_count', s.nLayer, 'uint32');
  w.addKv('clip.vision.projection_dim', s.projectionDim, 'uint32');
  w.addKv('clip.vision.attention.head_count', s.nHead, 'uint32');
  w.addKv('clip.vision.attention.layer_norm_epsilon', s.eps, 'float32');
  w.addKv('clip.vision.image_mean', s.imageMean, 'float32[]');
  w.addKv('clip.vision.image_std', s.imageStd, 'float32[]');
  // Gemma 4's converter leaves the pool's side out (a damaged file may hold one).
  if (!gemma4v || (damage.kv && 'clip.vision.projector.scale_factor' in damage.kv)) {
    w.addKv('clip.vision.projector.scale_factor', s.scaleFactor, 'uint32');
  }

  const random = (name: string, dims: number[], mean: number, std: number, matrix = false): void => {
    const type = matrix ? s.weightType ?? 'f32' : 'f32';
    if (!damage.omitTensors?.includes(name)) addRandomTensor(inner, s.seed, name, dims, type, mean, std);
  };
  const d = s.nEmbd;
  if (gemma4v) {
    addGemma4vTensors(s, random, (name, v) => {
      if (!damage.omitTensors?.includes(name)) inner.addTensor(name, [1], 'f32', (out) => out.set([v]));
    });
    return inner;
  }
  const nPatches = (s.imageSize / s.patchSize) ** 2;
  // Shapes in GGUF order, innermost first: a matrix [in, out] maps in → out;
  // the patch kernel is [kx, ky, channel, out].
  random('v.patch_embd.weight', [s.patchSize, s.patchSize, 3, d], 0, s.patchStd, true);
  random('v.patch_embd.bias', [d], 0, s.std);
  random('v.position_embd.weight', [d, nPatches], 0, s.posStd);
  for (let l = 0; l < s.nLayer; l++) {
    const blk = `v.blk.${l}.`;
    for (const p of ['attn_q', 'attn_k', 'attn_v', 'attn_out']) {
      random(`${blk}${p}.weight`, [d, d], 0, s.std, true);
      random(`${blk}${p}.bias`, [d], 0, s.std);
    }
    random(blk + 'ln1.weight', [d], 1, s.normStd);
    random(blk + 'ln1.bias', [d], 0, s.normStd);
    random(blk + 'ln2.weight', [d], 1, s.normStd);
    random(blk + 'ln2.bias', [d], 0, s.normStd);
    random(blk + 'ffn_up.weight', [d, s.nFf], 0, s.std, true);
    random(blk + 'ffn_up.bias', [s.nFf], 0, s.std);
    random(blk + 'ffn_down.weight', [s.nFf, d], 0, s.std, true);
    random(blk + 'ffn_down.bias', [d], 0, s.std);
  }
  random('v.post_ln.weight', [d], 1, s.normStd);
  random('v.post_ln.bias', [d], 0, s.normStd);
  if (s.projectorType === 'gemma3') {
    random('mm.soft_emb_norm.weight', [d], 1, s.normStd);
    // Stored out x in: llama.cpp multiplies by its transpose.
    random('mm.input_projection.weight', [s.projectionDim, d], 0, s.projStd, true);
  } else {
    random('mm.model.fc.weight', [d * s.scaleFactor * s.scaleFactor, s.projectionDim], 0, s.projStd, true);
  }
  return inner;
}

type RandomTensor = (name: string, dims: number[], mean: number, std: number, matrix?: boolean) => void;

/** gemma4v's tensors as Gemma 4's converter names them. */
function addGemma4vTensors(s: VisionSpec, random: RandomTensor, scalar: (name: string, v: number) => void): void {
  const d = s.nEmbd;
  const D = d / s.nHead;
  const posSize = s.posSize ?? 0;
  if (posSize <= 0) throw new Error(`${s.name}: a gemma4v spec needs posSize`);
  // No patch bias; the x table's rows, then the y table's.
  random('v.patch_embd.weight', [s.patchSize, s.patchSize, 3, d], 0, s.patchStd, true);
  random('v.position_embd.weight', [d, posSize, 2], 0, s.posStd);
  const linear = (name: string, dims: number[]): void => {
    random(`${name}.weight`, dims, 0, name.startsWith('mm.') ? s.projStd : s.std, true);
    const c = GEMMA4V_CLAMPS[name];
    if (c?.input) {
      scalar(`${name}.input_min`, c.input[0]);
      scalar(`${name}.input_max`, c.input[1]);
    }
    if (c?.output) {
      scalar(`${name}.output_min`, c.output[0]);
      scalar(`${name}.output_max`, c.output[1]);
    }
  };
  for (let l = 0; l < s.nLayer; l++) {
    const blk = `v.blk.${l}.`;
    for (const p of ['attn_q', 'attn_k', 'attn_v', 'attn_out']) linear(blk + p, [d, d]);
    random(blk + 'ln1.weight', [d], 1, s.normStd);
    random(blk + 'ln2.weight', [d], 1, s.normStd);
    random(blk + 'attn_q_norm.weight', [D], 1, s.normStd);
    random(blk + 'attn_k_norm.weight', [D], 1, s.normStd);
    random(blk + 'attn_post_norm.weight', [d], 1, s.normStd);
    random(blk + 'ffn_post_norm.weight', [d], 1, s.normStd);
    linear(blk + 'ffn_gate', [d, s.nFf]);
    linear(blk + 'ffn_up', [d, s.nFf]);
    linear(blk + 'ffn_down', [s.nFf, d]);
    random(blk + 'out_scale.weight', [1], 1, 0.2);
  }
  random('v.std_bias', [d], 0, s.normStd);
  random('v.std_scale', [d], 1, s.normStd);
  linear('mm.input_projection', [d, s.projectionDim]);
}

export interface RgbImage {
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes a pixel. */
  rgb: Uint8Array;
}

/** The fixture images: smooth gradients (so resampling matters) with seeded
 *  noise and a few hard edges (so the filter's ringing matters). */
export function testImage(width: number, height: number, seed: number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  const rng = new Rng(seed, 'image');
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const edge = ((x >> 3) + (y >> 4)) % 3 === 0 ? 60 : 0;
      const noise = rng.nextU32() % 24;
      rgb[i] = Math.min(255, Math.floor((255 * x) / Math.max(1, width - 1)) * 0.8 + noise + edge) | 0;
      rgb[i + 1] = Math.min(255, Math.floor((255 * y) / Math.max(1, height - 1)) * 0.8 + noise) | 0;
      rgb[i + 2] = Math.min(255, 128 + ((x * y) % 97) + edge) | 0;
    }
  }
  return { width, height, rgb };
}

/** The three fixture images: portrait non-square (a 2×3 grid), tiny (upscaled
 *  to a 3×2 grid) and large square (3×3). */
export const VISION_IMAGES: Readonly<Record<string, { width: number; height: number; seed: number }>> = {
  portrait: { width: 40, height: 96, seed: 1 },
  tiny: { width: 5, height: 3, seed: 2 },
  large: { width: 256, height: 256, seed: 3 },
};

/** A binary PPM (P6) of an image: what the oracle reads. */
export function toPpm(img: RgbImage): Uint8Array {
  const head = new TextEncoder().encode(`P6\n${img.width} ${img.height}\n255\n`);
  const out = new Uint8Array(head.length + img.rgb.length);
  out.set(head);
  out.set(img.rgb, head.length);
  return out;
}
