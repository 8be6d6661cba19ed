// The browser's image decoder: whatever the browser decodes (PNG, JPEG,
// WebP, GIF's first frame, AVIF, BMP), through createImageBitmap, drawn on
// an OffscreenCanvas and read back as RGB, in the page or a worker; http(s)
// images through the model store, in a database of their own.
import { ImageError } from '../shared/errors.js';
import type { RgbImage } from '../shared/types.js';
import { checkPixels, type ImageDecoder, type ImageFormat } from './images.js';

async function draw(image: Blob | ImageBitmap): Promise<RgbImage> {
  if (typeof OffscreenCanvas === 'undefined' || typeof createImageBitmap === 'undefined') {
    throw new ImageError('image/invalid', 'this browser has no createImageBitmap or OffscreenCanvas to decode images with');
  }
  let bitmap: ImageBitmap;
  try {
    // No color-space conversion or premultiplication: the file's own values, as llama.cpp reads them.
    bitmap = image instanceof Blob ? await createImageBitmap(image, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }) : image;
  } catch (e) {
    throw new ImageError('image/invalid', `the browser cannot decode the image: ${(e as Error).message}`, { format: image instanceof Blob ? image.type || 'unknown' : 'bitmap' });
  }
  const { width, height } = bitmap;
  checkPixels(width, height);
  const ctx = new OffscreenCanvas(width, height).getContext('2d');
  if (!ctx) throw new ImageError('image/invalid', 'no 2D canvas context to decode the image with');
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { width, height, rgb };
}

const MIME: Record<ImageFormat, string> = {
  png: 'image/png', jpeg: 'image/jpeg', ppm: 'image/x-portable-pixmap', gif: 'image/gif', webp: 'image/webp', bmp: 'image/bmp', avif: 'image/avif',
};

/** The IndexedDB database of the model store that holds http(s) images (apart from the models, so a list of models shows none). */
export const IMAGE_STORE_DB = 'hob-images';

export const browserImageDecoder: ImageDecoder = {
  formats: ['png', 'jpeg', 'gif', 'webp', 'bmp', 'avif'],
  async fetch(url, check, signal) {
    const { openModelStore } = await import('../store/store.js');
    return openModelStore({ dbName: IMAGE_STORE_DB }).downloadFile(url, { check, signal });
  },
  decode: (bytes, format) => draw(new Blob([bytes as BlobPart], { type: MIME[format] })),
  drawable: draw,
};
