// Images the user attaches to a message in <hob-chat>: reading a picked,
// pasted or dropped file into what the conversation keeps of it. Two copies:
// the full image, sent to the engine (the file's own bytes for PNG and
// JPEG, which every engine decodes; other formats re-encoded as PNG), kept
// in memory only; and a copy downscaled to one encoder tile, which the
// transcript shows and the conversation saves (a saved conversation stays
// small, and one restored after a reload still has an image to send).
import { HobError } from '../shared/errors.js';
import { formatBytes } from './catalog.js';

/** An image of a user message, as the conversation shows and saves it. */
export interface ChatImage {
  /** Names the full image while this page keeps it (in memory, never saved). */
  id: string;
  /** The downscaled copy: a `data:image/jpeg` URL, at most SAVED_IMAGE_SIDE
   *  pixels a side. Shown in the transcript, saved with the conversation, and
   *  sent instead of the full image once that is gone (after a reload). */
  url: string;
  /** The file's name ('pasted image' for a paste): the thumbnail's alt text. */
  name: string;
  /** The full image's size in pixels. */
  width: number;
  height: number;
}

/** An image ready to send: what is saved, and the full image as a data: URL. */
export interface AttachedImage {
  image: ChatImage;
  full: string;
}

/** Bytes of one attached file at most (the element's default `maxImageBytes`). */
export const DEFAULT_MAX_IMAGE_BYTES = 10e6;
/** Images one message may carry. */
export const MAX_IMAGES_PER_MESSAGE = 4;
/** The saved copy's longest side: SmolVLM's encoder sees 512x512 tiles, so a
 *  restored conversation still gives the model one whole tile. */
export const SAVED_IMAGE_SIDE = 512;
/** The longest side an image may have (the engine refuses larger ones). */
export const MAX_IMAGE_SIDE = 16384;
/** A saved copy longer than this is not one this component wrote. */
const MAX_SAVED_URL_CHARS = 2_000_000;

/** The formats sent as their own bytes; anything else decodable goes as PNG. */
const SENT_AS_IS = new Set(['image/png', 'image/jpeg']);

/** Whether `url` is an image as data: (never a remote URL, which would let a
 *  restored conversation make the page fetch something). */
export function isImageDataUrl(url: unknown): url is string {
  return typeof url === 'string' && url.length <= MAX_SAVED_URL_CHARS && /^data:image\/(png|jpeg|webp|gif);base64,[A-Za-z0-9+/]*={0,2}$/.test(url);
}

/** A saved image (restored from storage, possibly by another version): checked
 *  and copied; undefined when it is not one. */
export function restoreImage(v: unknown): ChatImage | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!isImageDataUrl(o.url)) return undefined;
  const side = (n: unknown) => (typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= MAX_IMAGE_SIDE ? n : 0);
  return {
    id: typeof o.id === 'string' && o.id ? o.id : newImageId(),
    url: o.url,
    name: typeof o.name === 'string' && o.name ? o.name.slice(0, 200) : 'image',
    width: side(o.width),
    height: side(o.height),
  };
}

let counter = 0;
/** An id unique to this page's life (randomUUID needs a secure context). */
export function newImageId(): string {
  return `img-${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

const fileName = (file: Blob): string => (file as File).name || 'pasted image';

/** What can be told of a file without reading it: why it is refused (not an
 *  image by its type, or over `maxBytes`), or undefined. */
export function checkImageFile(file: Blob, maxBytes: number): HobError | undefined {
  const name = fileName(file);
  // A dropped file of an unknown extension has no type: decoding decides.
  if (file.type && !file.type.startsWith('image/')) return new HobError('argument/invalid', `${name} is not an image.`, { type: file.type });
  if (file.size > maxBytes) {
    return new HobError('argument/invalid', `${name} is ${formatBytes(file.size)}: images up to ${formatBytes(maxBytes)} can be attached.`, {
      sizeBytes: file.size,
      limit: maxBytes,
    });
  }
  return undefined;
}

/** Reads a picked, pasted or dropped file. A file that is not an image, is
 *  over `maxBytes`, or does not decode is an 'argument/invalid' HobError
 *  whose message the chat shows as it is. */
export async function readImage(file: Blob, opts: { maxBytes: number }): Promise<AttachedImage> {
  const refused = checkImageFile(file, opts.maxBytes);
  if (refused) throw refused;
  const name = fileName(file);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new HobError('argument/invalid', `${name} could not be read as an image.`, { type: file.type });
  }
  try {
    const { width, height } = bitmap;
    if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
      throw new HobError('argument/invalid', `${name} is ${width}x${height} pixels: images up to ${MAX_IMAGE_SIDE} pixels a side can be attached.`, {
        width,
        height,
        limit: MAX_IMAGE_SIDE,
      });
    }
    const scale = Math.min(1, SAVED_IMAGE_SIDE / Math.max(width, height));
    const small = await encode(bitmap, Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale)), 'image/jpeg');
    const full = SENT_AS_IS.has(file.type) ? file : await encode(bitmap, width, height, 'image/png');
    const [url, fullUrl] = await Promise.all([dataUrl(small), dataUrl(full)]);
    return { image: { id: newImageId(), url, name, width, height }, full: fullUrl };
  } finally {
    bitmap.close();
  }
}

/** The bitmap drawn at w x h and encoded; on white, since JPEG has no alpha. */
async function encode(bitmap: ImageBitmap, w: number, h: number, type: 'image/jpeg' | 'image/png'): Promise<Blob> {
  if (typeof OffscreenCanvas !== 'undefined') {
    const canvas = new OffscreenCanvas(w, h);
    draw(canvas.getContext('2d'), bitmap, w, h, type);
    return canvas.convertToBlob({ type, quality: 0.85 });
  }
  const canvas = document.createElement('canvas');
  Object.assign(canvas, { width: w, height: h });
  draw(canvas.getContext('2d'), bitmap, w, h, type);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('canvas encoding failed'))), type, 0.85));
}

function draw(ctx: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null, bitmap: ImageBitmap, w: number, h: number, type: string): void {
  if (!ctx) throw new HobError('internal', 'no 2D canvas to draw the image on');
  if (type === 'image/jpeg') {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
  }
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, w, h);
}

function dataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
