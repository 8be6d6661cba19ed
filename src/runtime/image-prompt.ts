// A prompt with images in it, as token ids the sequence can compare: each
// image's embedding rows stand in the ids as a negative placeholder id of
// that image (one id for every row of it), between the marker tokens its
// projector puts around each sub-image (core/vision.ts: the layout's parts).
// The id comes from a hash of the pixels and size, so the next request with
// the same image gets the same ids and the sequence reuses its cache cells
// (runtime/sequence.ts), and another image gets other ids. The rows are
// encoded only when the sequence evaluates them: a cached image costs its
// hash and nothing else.
//
// Chat messages with content parts are flattened the way llama.cpp's server
// does: text parts joined by newlines, each image a media marker in the
// text, which the template renders like any text; the rendered prompt is
// then cut at the markers.
import type { Model } from '../core/model.js';
import type { ImagePart } from '../core/vision.js';
import { HobError, ImageError } from '../shared/errors.js';
import type { ChatMessage, ChatMessageInput, RgbImage } from '../shared/types.js';

/** Where an image goes in a flattened message (llama.cpp's media marker). */
export const MEDIA_MARKER = '<__media__>';

/** What a prompt needs of a projector (core/vision.ts's Projector). */
export interface ImageEncoder {
  readonly nEmbd: number;
  layout(width: number, height: number): { nRows: number; parts: ImagePart[]; bidirectional?: boolean };
  encode(rgb: Uint8Array, width: number, height: number): { embeddings: Float32Array };
  /** The same rows encoded off the calling thread's CPU (the ViT blocks on
   *  a GPU: runtime/vision-encoder.ts); used when present. */
  encodeAsync?(rgb: Uint8Array, width: number, height: number): Promise<{ embeddings: Float32Array }>;
}

/** One image of a prompt. */
export interface PromptImage {
  /** The placeholder its rows have in the prompt's ids (negative). */
  id: number;
  /** A hash of its pixels and size: a cached image of the same id but
   *  another key is another image. */
  key: string;
  nRows: number;
  /** Tokens of its layout before its first row and after its last: the
   *  image with its markers is one unit of the cache. */
  lead: number;
  trail: number;
  /** Its sub-images' rows attend both ways (passed to the evaluation). */
  bidirectional: boolean;
  /** Its rows (nRows x nEmbd), encoded on first use. */
  rows(): Float32Array;
  /** Encodes its rows with the encoder's encodeAsync where it has one, so
   *  that rows() then returns them. */
  ready(): Promise<void>;
}

export type PromptImages = ReadonlyMap<number, PromptImage>;

/** A prompt's ids and the images their negative ids stand for. */
export interface ImagePromptIds {
  ids: number[];
  images: Map<number, PromptImage>;
  /** Rows of images among the ids. */
  imageTokens: number;
}

/** Checks decoded pixels as they reach the engine. */
export function checkRgbImage(img: unknown, where: string): RgbImage {
  const i = img as RgbImage;
  const ok = i !== null && typeof i === 'object' && i.rgb instanceof Uint8Array &&
    Number.isInteger(i.width) && Number.isInteger(i.height) && i.width > 0 && i.height > 0 && i.rgb.byteLength === i.width * i.height * 3;
  if (!ok) throw new ImageError('image/invalid', `${where} is not decoded RGB pixels ({ width, height, rgb } with width x height x 3 bytes)`);
  return i;
}

/** Messages with content parts as messages of text with a media marker
 *  for each image (text parts joined by newlines, none next to a marker),
 *  and the images in order. */
export function flattenContent(messages: readonly ChatMessageInput[]): { messages: ChatMessage[]; images: RgbImage[] } {
  const images: RgbImage[] = [];
  const out = messages.map((msg, i): ChatMessage => {
    if (!msg || !Array.isArray(msg.content)) return msg as ChatMessage;
    let text = '';
    let afterMarker = false;
    for (const [j, part] of msg.content.entries()) {
      if (part?.type === 'text' && typeof part.text === 'string') {
        if (part.text.includes(MEDIA_MARKER)) {
          throw new HobError('argument/invalid', `messages[${i}].content[${j}] holds ${MEDIA_MARKER}, which marks images`, { index: i, part: j });
        }
        if (text && !afterMarker) text += '\n';
        text += part.text;
        afterMarker = false;
      } else if (part?.type === 'image_url' && part.image_url) {
        images.push(checkRgbImage(part.image_url.url, `messages[${i}].content[${j}].image_url.url`));
        text += MEDIA_MARKER;
        afterMarker = true;
      } else {
        throw new HobError('argument/invalid', `messages[${i}].content[${j}] is not a { type: 'text', text } or { type: 'image_url', image_url: { url } } part`, {
          index: i, part: j,
        });
      }
    }
    return { ...msg, content: text };
  });
  return { messages: out, images };
}

/** Whether any message holds content parts. */
export function hasContentParts(messages: readonly ChatMessageInput[] | undefined): boolean {
  return Array.isArray(messages) && messages.some((m) => m && Array.isArray(m.content));
}

/** A hash of an image's size and pixels (two 32-bit lanes): what tells one
 *  image from another in the cache. */
export function pixelKey(img: RgbImage): string {
  let a = 0x811c9dc5 ^ img.width;
  let b = 0x9747b28c ^ img.height;
  const p = img.rgb;
  for (let i = 0; i < p.length; i++) {
    a = Math.imul(a ^ p[i], 0x01000193);
    b = Math.imul(b ^ p[i], 0x5bd1e995);
    b ^= b >>> 15;
  }
  return `${img.width}x${img.height}:${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}`;
}

/** The negative id of an image's rows: from its key and how many times the
 *  same image came before in this prompt. */
function placeholderId(key: string, occurrence: number): number {
  let h = 0x2545f491 ^ occurrence;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return -1 - ((h >>> 0) & 0x3fffffff);
}

const pieceIds = new WeakMap<Model, Map<string, number>>();

/** The first token whose text is exactly `piece` (as mtmd looks markers
 *  up), or -1; scanned once per model and piece. */
function pieceToken(model: Model, piece: string): number {
  let known = pieceIds.get(model);
  if (!known) pieceIds.set(model, (known = new Map()));
  const hit = known.get(piece);
  if (hit !== undefined) return hit;
  const want = new TextEncoder().encode(piece);
  let found = -1;
  for (let id = 0; id < model.info.nVocab && found < 0; id++) {
    const b = model.tokenBytes(id, true);
    if (b.length === want.length && b.every((x, k) => x === want[k])) found = id;
  }
  known.set(piece, found);
  return found;
}

/**
 * The ids of a prompt text with a media marker per image: the text before
 * the first marker tokenized with `addSpecial` (BOS), the rest without;
 * special tokens parsed everywhere. Each image's layout gives its marker
 * tokens and placeholder rows.
 */
export function imagePromptIds(model: Model, encoder: ImageEncoder | undefined, text: string, rgbImages: readonly RgbImage[], addSpecial: boolean): ImagePromptIds {
  const pieces = text.split(MEDIA_MARKER);
  if (pieces.length - 1 !== rgbImages.length) {
    throw new HobError('argument/invalid', `the rendered prompt has ${pieces.length - 1} image places for ${rgbImages.length} images: the chat template dropped or repeated content`, {
      places: pieces.length - 1, images: rgbImages.length,
    });
  }
  const images = new Map<number, PromptImage>();
  if (rgbImages.length > 0 && !encoder) throw new ImageError('image/unsupported', 'this engine takes no images: load a projector (mmproj) with the model');
  const tokenize = (t: string, special: boolean) => (t || special ? model.tokenize(t, { addSpecial: special, parseSpecial: true }) : []);
  const ids = tokenize(pieces[0], addSpecial);
  const seen = new Map<string, number>();
  let imageTokens = 0;
  for (const [n, img] of rgbImages.entries()) {
    const layout = encoder!.layout(img.width, img.height);
    const key = pixelKey(img);
    const occurrence = seen.get(key) ?? 0;
    seen.set(key, occurrence + 1);
    let id = placeholderId(key, occurrence);
    while (images.has(id)) id = id === -1 ? -0x40000000 : id + 1;
    const subImages = layout.parts.filter((p) => p.kind === 'image').length;
    const perSub = subImages > 0 ? layout.nRows / subImages : 0;
    if (!Number.isInteger(perSub) || perSub < 1) {
      throw new HobError('internal', `a layout of ${subImages} sub-images for ${layout.nRows} rows`, { subImages, nRows: layout.nRows });
    }
    const start = ids.length;
    let first = -1;
    let last = -1;
    for (const p of layout.parts) {
      if (p.kind === 'text') ids.push(...tokenize(p.text, false));
      else if (p.kind === 'piece') {
        const t = pieceToken(model, p.piece);
        if (t < 0) throw new ImageError('image/unsupported', `the model's vocabulary has no ${JSON.stringify(p.piece)} token, which the projector's layout needs`, { piece: p.piece });
        ids.push(t);
      } else {
        if (first < 0) first = ids.length;
        for (let r = 0; r < perSub; r++) ids.push(id);
        last = ids.length;
      }
    }
    let rows: Float32Array | undefined;
    const checked = (r: Float32Array): Float32Array => {
      if (r.length !== layout.nRows * encoder!.nEmbd) throw new HobError('internal', `image ${n}: ${r.length} floats for ${layout.nRows} rows`);
      return r;
    };
    images.set(id, {
      id,
      key,
      nRows: layout.nRows,
      lead: first - start,
      trail: ids.length - last,
      bidirectional: layout.bidirectional === true,
      rows() {
        if (!rows) rows = checked(encoder!.encode(img.rgb, img.width, img.height).embeddings);
        return rows;
      },
      async ready() {
        if (!rows && encoder!.encodeAsync) rows = checked((await encoder!.encodeAsync(img.rgb, img.width, img.height)).embeddings);
      },
    });
    imageTokens += layout.nRows;
    ids.push(...tokenize(pieces[n + 1], false));
  }
  return { ids, images, imageTokens };
}
