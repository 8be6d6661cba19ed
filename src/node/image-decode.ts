// Node's image decoder for the public API and the CLI: PNG with pngjs and
// JPEG with jpeg-js (both pure JavaScript), each refused past the pixel cap
// before its pixels are decoded. Transparency is dropped, as llama.cpp's
// loader (stb_image asked for 3 channels) drops it. http(s) images are read
// through the file cache.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

import { checkPixels, MAX_IMAGE_PIXELS, type ImageDecoder, type ImageFormat } from '../api/images.js';
import { ImageError } from '../shared/errors.js';
import { cachedFileBytes } from '../store/file-cache.js';
import type { RgbImage } from '../shared/types.js';

function rgbaToRgb(width: number, height: number, rgba: Uint8Array): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { width, height, rgb };
}

function decodePng(bytes: Uint8Array): RgbImage {
  // The size from IHDR, before any pixel is inflated.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 24) throw new ImageError('image/invalid', 'a PNG image shorter than its header', { format: 'png' });
  checkPixels(view.getUint32(16), view.getUint32(20));
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new ImageError('image/invalid', `the PNG image does not decode: ${(e as Error).message}`, { format: 'png' });
  }
  return rgbaToRgb(png.width, png.height, png.data);
}

function decodeJpeg(bytes: Uint8Array): RgbImage {
  try {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 512 });
    return rgbaToRgb(img.width, img.height, img.data);
  } catch (e) {
    const msg = (e as Error).message;
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(msg)) {
      throw new ImageError('image/too-large', `the JPEG image is over ${MAX_IMAGE_PIXELS} pixels`, { format: 'jpeg', limit: 'pixels' });
    }
    throw new ImageError('image/invalid', `the JPEG image does not decode: ${msg}`, { format: 'jpeg' });
  }
}

export const nodeImageDecoder: ImageDecoder = {
  formats: ['png', 'jpeg'],
  // http(s) images are downloaded once into the file cache's `files` folder.
  fetch: (url, check, signal) => cachedFileBytes(url, { check, signal }),
  decode(bytes: Uint8Array, format: ImageFormat): RgbImage {
    return format === 'png' ? decodePng(bytes) : decodeJpeg(bytes);
  },
};
