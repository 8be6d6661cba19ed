// The images of a request, made pixels on the caller's side before it goes
// to the worker: each image part's url (a data: URL, an http(s) URL, a
// Blob/File, an ImageBitmap, or pixels already) read into bytes within a
// cap (http(s) through the host's store, once), its format told from its first bytes, decoded by the host's decoder
// (the browser's createImageBitmap, Node's pure-JavaScript PNG and JPEG
// decoders: image-decode-browser.ts, node/image-decode.ts) into RGB within
// a cap on its pixels. Only RGB bytes and a size cross to the worker.
import { ImageError, NetworkError } from '../shared/errors.js';
import type { ChatMessageInput, ContentPart, RgbImage } from '../shared/types.js';

/** The most bytes an image file may have. */
export const MAX_IMAGE_BYTES = 32 * 2 ** 20;
/** The most pixels (width x height) a decoded image may have. */
export const MAX_IMAGE_PIXELS = 4096 * 4096;

/** What a host decodes: formats by name ('png', 'jpeg'), and (browser)
 *  Blobs and ImageBitmaps as they are. */
export interface ImageDecoder {
  /** Decodes bytes of a format `sniffFormat` named; unknown ones are refused before. */
  decode(bytes: Uint8Array, format: ImageFormat): Promise<RgbImage> | RgbImage;
  formats: readonly ImageFormat[];
  /** Browser: a Blob or ImageBitmap drawn directly. */
  drawable?(image: Blob | ImageBitmap): Promise<RgbImage>;
  /** An http(s) image's bytes through the host's store (the browser's
   *  model store, Node's file cache): downloaded once, then read from there.
   *  `check` (checkImageFile) refuses what is no image or over the cap
   *  before it is stored. Without it, the image is fetched each time. */
  fetch?(url: string, check: (sizeBytes: number, head?: Uint8Array) => void, signal?: AbortSignal): Promise<Uint8Array>;
}

export type ImageFormat = 'png' | 'jpeg' | 'ppm' | 'gif' | 'webp' | 'bmp' | 'avif';

/** The format of an image file by its first bytes, or undefined. */
export function sniffFormat(b: Uint8Array): ImageFormat | undefined {
  const at = (i: number, s: string) => [...s].every((c, k) => b[i + k] === c.charCodeAt(0));
  if (b.length >= 8 && b[0] === 0x89 && at(1, 'PNG')) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (at(0, 'P6')) return 'ppm';
  if (at(0, 'GIF8')) return 'gif';
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'webp';
  if (at(0, 'BM')) return 'bmp';
  if (at(4, 'ftypavif')) return 'avif';
  return undefined;
}

/** Throws 'image/too-large' for a size over MAX_IMAGE_PIXELS. */
export function checkPixels(width: number, height: number): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageError('image/too-large', `a ${width}x${height} image is over ${MAX_IMAGE_PIXELS} pixels`, {
      width, height, limit: 'pixels', limitPixels: MAX_IMAGE_PIXELS,
    });
  }
}

/** A binary PPM (P6, maxval 255): header fields separated by whitespace
 *  and comments, then the pixels. */
export function decodePpm(b: Uint8Array): RgbImage {
  const fields: number[] = [];
  let i = 2;
  while (fields.length < 3 && i < b.length && i < 1024) {
    const c = b[i];
    if (c === 0x23) while (i < b.length && b[i] !== 0x0a) i++;
    else if (c >= 0x30 && c <= 0x39) {
      let n = 0;
      while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39 && n < 1e7) n = n * 10 + b[i++] - 0x30;
      fields.push(n);
      continue;
    } else if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    i++;
  }
  const [width, height, max] = fields;
  if (fields.length < 3 || !width || !height || max !== 255) {
    throw new ImageError('image/invalid', 'a PPM image needs a P6 header with a width, a height and maxval 255', { format: 'ppm' });
  }
  checkPixels(width, height);
  const start = i + 1;
  if (b.length < start + width * height * 3) {
    throw new ImageError('image/invalid', `a ${width}x${height} PPM image has ${b.length - start} bytes of pixels`, { format: 'ppm' });
  }
  return { width, height, rgb: b.slice(start, start + width * height * 3) };
}

/** The bytes of a data: URL (base64 or percent-encoded). */
function dataUrlBytes(url: string): Uint8Array {
  const comma = url.indexOf(',');
  if (comma < 0) throw new ImageError('image/invalid', 'a data: URL without a comma', { format: 'data-url' });
  const head = url.slice(5, comma);
  const body = url.slice(comma + 1);
  if (body.length > (MAX_IMAGE_BYTES * 4) / 3 + 4) tooLarge(Math.floor((body.length * 3) / 4));
  if (/;base64$/i.test(head)) {
    const bin = atob(body.replace(/\s+/g, ''));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  return new TextEncoder().encode(decodeURIComponent(body));
}

function tooLarge(bytes: number): never {
  throw new ImageError('image/too-large', `an image of ${bytes} bytes is over ${MAX_IMAGE_BYTES}`, { bytes, limit: 'bytes', limitBytes: MAX_IMAGE_BYTES });
}

/** The store's verdict on a downloaded image: refused over MAX_IMAGE_BYTES
 *  (from its announced size, before a byte is stored) and when its first
 *  bytes are no image format (an error page served with 200 must not be
 *  cached as the image). */
export function checkImageFile(sizeBytes: number, head?: Uint8Array): void {
  if (sizeBytes > MAX_IMAGE_BYTES) tooLarge(sizeBytes);
  if (head && !sniffFormat(head)) {
    throw new ImageError('image/invalid', `bytes of no image format Hob knows (${head.byteLength} bytes)`, { format: 'unknown' });
  }
}

/** An http(s) image, read up to the cap. */
async function fetchBytes(url: string, signal?: AbortSignal): Promise<Uint8Array> {
  const res = await fetch(url, { signal });
  if (!res.ok || !res.body) throw new NetworkError('network/http-status', `fetching the image ${url} gave HTTP ${res.status}`, { status: res.status, url });
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_IMAGE_BYTES) tooLarge(declared);
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > MAX_IMAGE_BYTES) {
      await reader.cancel();
      tooLarge(n);
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

const isRgb = (v: unknown): v is RgbImage => v !== null && typeof v === 'object' && (v as RgbImage).rgb instanceof Uint8Array;

/** One image made pixels. */
export async function decodeImage(input: unknown, decoder: ImageDecoder, signal?: AbortSignal): Promise<RgbImage> {
  if (isRgb(input)) {
    checkPixels(input.width, input.height);
    return input;
  }
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    if (/^data:/i.test(input)) bytes = dataUrlBytes(input);
    else if (/^https?:/i.test(input)) bytes = decoder.fetch ? await decoder.fetch(input, checkImageFile, signal) : await fetchBytes(input, signal);
    else throw new ImageError('image/invalid', `an image URL must be data: or http(s):, got ${JSON.stringify(input.slice(0, 40))}`, { format: 'url' });
  } else if (typeof ImageBitmap !== 'undefined' && input instanceof ImageBitmap) {
    if (!decoder.drawable) throw new ImageError('image/invalid', 'an ImageBitmap needs a browser to draw it');
    checkPixels(input.width, input.height);
    return decoder.drawable(input);
  } else if (typeof Blob !== 'undefined' && input instanceof Blob) {
    if (input.size > MAX_IMAGE_BYTES) tooLarge(input.size);
    bytes = new Uint8Array(await input.arrayBuffer());
  } else {
    throw new ImageError('image/invalid', 'an image is a data: or http(s) URL, a Blob/File, an ImageBitmap or { width, height, rgb }');
  }
  if (bytes.byteLength > MAX_IMAGE_BYTES) tooLarge(bytes.byteLength);
  const format = sniffFormat(bytes);
  if (format === 'ppm') return decodePpm(bytes);
  if (!format || !decoder.formats.includes(format)) {
    const known = decoder.formats.concat('ppm').join(', ');
    throw new ImageError('image/invalid', `${format ? `a ${format.toUpperCase()} image` : 'bytes of no image format Hob knows'} cannot be decoded here (${known})`, {
      format: format ?? 'unknown',
    });
  }
  const img = await decoder.decode(bytes, format);
  checkPixels(img.width, img.height);
  return img;
}


/** The messages with every image part's url made pixels, and the buffers
 *  that can be transferred to the worker. */
export async function decodeMessageImages(
  messages: readonly ChatMessageInput[],
  decoder: ImageDecoder,
  signal?: AbortSignal,
): Promise<{ messages: ChatMessageInput[]; buffers: ArrayBuffer[] }> {
  const buffers: ArrayBuffer[] = [];
  const out: ChatMessageInput[] = [];
  for (const m of messages) {
    if (!Array.isArray(m?.content)) {
      out.push(m);
      continue;
    }
    const content: ContentPart[] = [];
    for (const p of m.content) {
      if (p?.type !== 'image_url' || !p.image_url) {
        content.push(p);
        continue;
      }
      const img = await decodeImage(p.image_url.url, decoder, signal);
      // A copy: the caller's pixels stay theirs when the copy is transferred.
      const rgb = img.rgb.slice();
      buffers.push(rgb.buffer);
      content.push({ type: 'image_url', image_url: { url: { width: img.width, height: img.height, rgb } } });
    }
    out.push({ ...m, content });
  }
  return { messages: out, buffers };
}
