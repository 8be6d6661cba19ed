// A ByteSource over a file on disk (Node only): reads only the ranges asked
// for, so a model never has to be in memory whole.
import type { Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

import { HobError } from '../shared/errors.js';
import { joinSplitParts } from './gguf-split.js';
import type { ByteSource } from './source.js';

async function openFile(path: string) {
  // Checked before opening: open() on a FIFO waits for a writer, forever.
  let info: Stats;
  try {
    info = await stat(path);
  } catch (e) {
    throw new HobError('argument/invalid', `cannot open ${path}: ${(e as Error).message}`, { path });
  }
  if (info.isDirectory()) throw new HobError('argument/invalid', `${path} is a directory, not a model file`, { path });
  if (!info.isFile()) throw new HobError('argument/invalid', `${path} is not a regular file (a FIFO, a device or a socket), not a model file`, { path });
  try {
    return await open(path, 'r');
  } catch (e) {
    throw new HobError('argument/invalid', `cannot open ${path}: ${(e as Error).message}`, { path });
  }
}

/** A ByteSource over a file; close() releases the handle. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fh = await openFile(path);
  const { size } = await fh.stat();
  return {
    sizeBytes: size,
    async read(offset, length) {
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead <= 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

const FIRST_PART = /-00001-of-(\d{5})\.gguf$/i;

/**
 * A model file on disk: the file itself, or, for the first part of a split
 * model (name-00001-of-0000N.gguf), every part (named alike beside it)
 * joined into one. A missing part is an 'argument/invalid' naming it.
 */
export async function modelFileSource(path: string): Promise<ByteSource> {
  const m = FIRST_PART.exec(path);
  const n = m ? Number(m[1]) : 1;
  if (n <= 1) return fileSource(path);
  const parts: ByteSource[] = [];
  try {
    for (let k = 1; k <= n; k++) parts.push(await fileSource(path.replace(FIRST_PART, `-${String(k).padStart(5, '0')}-of-${m![1]}.gguf`)));
    return await joinSplitParts(parts);
  } catch (e) {
    for (const p of parts) await p.close?.();
    throw e;
  }
}
