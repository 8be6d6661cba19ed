// A multimodal projector in the engine (cpp/clip.h): llama.cpp's mmproj
// GGUF loaded next to a text model, turning RGB pixels into embedding rows
// the text model's session evaluates in place of tokens
// (Session.evalEmbeddings). Also where an image sits in the prompt: the
// marker tokens llama.cpp's mtmd puts around each sub-image.
import { Status } from './c-api.js';
import { allocModelBuffer } from './model.js';
import type { Engine } from './wasm-engine.js';
import { HobError } from '../shared/errors.js';

/** How an image of a given size is split: a gridX x gridY grid of tiles
 *  (row by row) then the overview, each `tokensPerImage` rows. */
export interface ImageLayout {
  gridX: number;
  gridY: number;
  /** Embedding rows of the whole image. */
  nRows: number;
  /** Where the image sits in the prompt: markers and sub-images in order. */
  parts: ImagePart[];
  /** The rows of a sub-image attend to each other both ways (Gemma 3);
   *  absent: causally, like text. */
  bidirectional?: boolean;
}

export interface EncodedImage extends ImageLayout {
  /** nRows x nEmbd floats, sub-image by sub-image in prompt order. */
  embeddings: Float32Array;
}

/** Largest image side the engine takes (ClipModel::kMaxImageSide, cpp/clip.h). */
export const MAX_IMAGE_SIDE = 16384;

/** A loaded projector. */
export class Projector {
  /** Width of its rows: the text model's n_embd must be the same. */
  readonly nEmbd: number;
  /** Rows of one sub-image. */
  readonly tokensPerImage: number;
  private freed = false;

  /** Loads an mmproj GGUF from its bytes. An unknown projector type is
   *  'model/unsupported-architecture' naming it. */
  static load(engine: Engine, bytes: Uint8Array): Projector {
    const ptr = allocModelBuffer(engine, bytes.byteLength);
    engine.heap().set(bytes, ptr);
    // The engine takes ownership of ptr, also when loading fails.
    engine.check(engine.module._hob_clip_load(ptr, bytes.byteLength, 1, engine.out(0)));
    return new Projector(engine, engine.u32(engine.out(0)));
  }

  private constructor(
    readonly engine: Engine,
    readonly handle: number,
  ) {
    this.nEmbd = engine.module._hob_clip_n_embd(handle);
    this.tokensPerImage = engine.module._hob_clip_tokens_per_image(handle);
  }

  /** The split of a width x height image, without its pixels. */
  layout(width: number, height: number): ImageLayout {
    const e = this.engine;
    checkSize(width, height);
    e.check(e.module._hob_clip_image_layout(this.live(), width, height, e.out(0), e.out(1), e.out(2)), { width, height });
    const gridX = e.i32(e.out(0));
    const gridY = e.i32(e.out(1));
    return { gridX, gridY, nRows: e.u32(e.out(2)), parts: idefics3Layout(gridX, gridY) };
  }

  /** Preprocesses and encodes RGB pixels (width x height x 3 bytes, row major). */
  encode(rgb: Uint8Array, width: number, height: number): EncodedImage {
    const e = this.engine;
    const m = e.module;
    const layout = this.layout(width, height);
    const nRows = layout.nRows;
    if (rgb.byteLength !== width * height * 3) {
      throw new HobError('argument/invalid', `${rgb.byteLength} bytes are not ${width}x${height} RGB pixels`, {
        bytes: rgb.byteLength, width, height,
      });
    }
    const count = nRows * this.nEmbd;
    const pix = m._malloc(rgb.byteLength);
    const out = m._malloc(count * 4);
    try {
      if (!pix || !out) throw new HobError('memory/out-of-memory', `no room for a ${width}x${height} image in the wasm heap`, { width, height });
      e.heap().set(rgb, pix);
      const status = m._hob_clip_encode(this.live(), pix, width, height, out, count, e.out(0));
      if (status !== Status.OK) e.check(status, { width, height });
      const embeddings = new Float32Array(e.heap().buffer, out, count).slice();
      return { ...layout, embeddings };
    } finally {
      m._free(pix);
      m._free(out);
    }
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.engine.module._hob_clip_free(this.handle);
  }

  private live(): number {
    if (this.freed) throw new HobError('argument/invalid', 'the projector was freed');
    return this.handle;
  }
}

function checkSize(width: number, height: number): void {
  const ok = (n: number): boolean => Number.isInteger(n) && n > 0 && n <= MAX_IMAGE_SIDE;
  if (!ok(width) || !ok(height)) {
    throw new HobError('argument/invalid', `image size ${width}x${height} is empty or over ${MAX_IMAGE_SIDE} pixels a side`, {
      width, height,
    });
  }
}

/** One step of an image's place in the prompt: text tokenized with special
 *  tokens parsed, one token looked up by its exact piece, or sub-image
 *  `index` (in encode order: its rows). */
export type ImagePart =
  | { kind: 'text'; text: string }
  | { kind: 'piece'; piece: string }
  | { kind: 'image'; index: number };

/** SmolVLM's (idefics3's) layout, as llama.cpp's mtmd builds it: each tile
 *  behind `<fake_token_around_image><row_R_col_C>`, a newline after each row
 *  but the last, then "\n\n" `<fake_token_around_image>` `<global-img>`,
 *  the overview, and `<fake_token_around_image>`. */
export function idefics3Layout(gridX: number, gridY: number): ImagePart[] {
  const parts: ImagePart[] = [];
  for (let y = 0; y < gridY; y++) {
    for (let x = 0; x < gridX; x++) {
      parts.push({ kind: 'text', text: `<fake_token_around_image><row_${y + 1}_col_${x + 1}>` });
      parts.push({ kind: 'image', index: y * gridX + x });
    }
    if (y !== gridY - 1) parts.push({ kind: 'piece', piece: '\n' });
  }
  parts.push({ kind: 'piece', piece: '\n\n' }, { kind: 'piece', piece: '<fake_token_around_image>' }, { kind: 'piece', piece: '<global-img>' });
  parts.push({ kind: 'image', index: gridX * gridY });
  parts.push({ kind: 'piece', piece: '<fake_token_around_image>' });
  return parts;
}
