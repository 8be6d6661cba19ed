// --mmproj and --image for hob run and hob complete: the projector file (or
// URL, downloaded once like a model) and the images, decoded here as the
// API decodes them in Node (PNG, JPEG, binary PPM).
import { readFile } from 'node:fs/promises';

import { decodeImage } from '../../api/images.js';
import type { Model } from '../../core/model.js';
import { Projector } from '../../core/vision.js';
import type { Engine } from '../../core/wasm-engine.js';
import { HobError } from '../../shared/errors.js';
import type { RgbImage } from '../../shared/types.js';
import { nodeImageDecoder } from '../image-decode.js';
import { UsageError } from './args.js';

export { imageOptions } from './args.js';
import { netTimeoutMs, resolveModelPath } from './model.js';
import { hubProjectorUrl, isHubRef, resolveHubModel } from '../../store/hub.js';

/** The --image files, decoded; --image without --mmproj is a UsageError. */
export async function readImages(o: { mmproj?: string; image?: string[] }): Promise<RgbImage[]> {
  const files = o.image ?? [];
  if (files.length > 0 && o.mmproj === undefined) throw new UsageError('--image needs --mmproj (the vision projector of the model)');
  const out: RgbImage[] = [];
  for (const f of files) {
    const bytes = await readFile(f).catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read --image ${f}: ${e.code ?? e.message}`);
    });
    try {
      out.push(await decodeImage(new Blob([bytes]), nodeImageDecoder));
    } catch (e) {
      if (e instanceof HobError) throw new HobError(e.code, `${f}: ${e.message}`, e.details);
      throw e;
    }
  }
  return out;
}

/** The local path of --mmproj (a URL is downloaded into the cache first);
 * `--mmproj auto` is the projector the Hub lists next to an hf: `model`
 * (a file named auto is ./auto). */
export async function projectorPath(o: { mmproj?: string; 'net-timeout'?: string }, showProgress: boolean, model?: string): Promise<string | undefined> {
  if (o.mmproj === undefined) return undefined;
  if (o.mmproj !== MMPROJ_AUTO) return resolveModelPath(o.mmproj, showProgress, o);
  const hubName = model !== undefined && isHubRef(model) ? model : undefined;
  const hub = hubName ? await resolveHubModel(hubName, { idleTimeoutMs: netTimeoutMs(o) }) : undefined;
  return resolveModelPath(hubProjectorUrl(hubName, hub), showProgress, o);
}

/** --mmproj's value that picks the Hub's projector. */
export const MMPROJ_AUTO = 'auto';

/** Loads --mmproj into the engine next to the model. */
export async function loadProjectorFile(engine: Engine, model: Model, path: string): Promise<Projector> {
  const projector = Projector.load(engine, new Uint8Array(await readFile(path)));
  if (projector.nEmbd !== model.info.nEmbd) {
    projector.free();
    throw new HobError('argument/invalid', `the projector's rows are ${projector.nEmbd} wide, the model's embeddings ${model.info.nEmbd}: it belongs to another model`);
  }
  return projector;
}
