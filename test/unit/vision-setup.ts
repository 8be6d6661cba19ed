// The setup the vision tests share: the random vision files (a SmolVLM-shaped
// idefics3 pair, a Gemma-3-shaped or a Gemma-4-shaped one) built once per process, the
// runtime with both loaded for a suite, and the runtime's own greedy reply to
// a request with images, which the API and the CLI must reproduce.
import { Projector } from '../../src/core/vision.js';
import { prepareRequest, type ReplyRequest } from '../../src/runtime/request.js';
import { Engine, generate, Model, Sequence, Session } from '../../src/node/index.js';
import {
  buildGemma3TextModel, buildGemma4TextModel, buildVisionProjector, buildVisionTextModel, makeGemma3TextSpec, makeGemma3VisionSpec,
  makeGemma4TextSpec, makeGemma4VisionSpec, makeVisionSpec, makeVisionTextSpec,
} from '../gguf/vision-models.js';

export type VisionFamily = 'idefics3' | 'gemma3' | 'gemma4v';

export interface VisionFiles {
  textBytes: Uint8Array;
  projectorBytes: Uint8Array;
}

const built = new Map<VisionFamily, VisionFiles>();

/** The text model and projector of a family, with the test writer's default specs. */
export function visionFiles(family: VisionFamily = 'idefics3'): VisionFiles {
  let f = built.get(family);
  if (!f) {
    f = family === 'gemma3'
      ? { textBytes: buildGemma3TextModel(makeGemma3TextSpec()).toBytes(), projectorBytes: buildVisionProjector(makeGemma3VisionSpec()).toBytes() }
      : family === 'gemma4v'
        ? { textBytes: buildGemma4TextModel(makeGemma4TextSpec()).toBytes(), projectorBytes: buildVisionProjector(makeGemma4VisionSpec()).toBytes() }
        : { textBytes: buildVisionTextModel(makeVisionTextSpec()).toBytes(), projectorBytes: buildVisionProjector(makeVisionSpec()).toBytes() };
    built.set(family, f);
  }
  return f;
}

export interface VisionRuntime {
  engine: Engine;
  model: Model;
  projector: Projector;
}

/** An engine (2 threads) with a family's text model and projector loaded. */
export async function openVisionRuntime(family: VisionFamily = 'idefics3'): Promise<VisionRuntime> {
  const { textBytes, projectorBytes } = visionFiles(family);
  const engine = await Engine.create({ threads: 2 });
  const model = Model.load(engine, textBytes);
  return { engine, model, projector: Projector.load(engine, projectorBytes) };
}

/** Frees what openVisionRuntime loaded (whatever part of it a failed setup left). */
export function closeVisionRuntime(rt: Partial<VisionRuntime>): void {
  rt.projector?.free();
  rt.model?.free();
  rt.engine?.dispose();
}

/** The runtime's greedy ids for a request with images, in a fresh session of its own runtime, and the image rows it counted. */
export async function runtimeReply(
  request: ReplyRequest,
  opts: { maxTokens: number; ignoreEos?: boolean; nCtx?: number },
): Promise<{ ids: number[]; imageTokens: number }> {
  const rt = await openVisionRuntime();
  try {
    const p = prepareRequest(rt.model, request, rt.projector);
    const s = new Sequence(Session.create(rt.model, { nCtx: opts.nCtx ?? 1024 }));
    try {
      const r = await generate(rt.model, s, { ...p.generation, promptIds: p.promptIds, maxTokens: opts.maxTokens, ...(opts.ignoreEos ? { ignoreEos: true } : {}) });
      return { ids: r.ids, imageTokens: p.imageTokens };
    } finally {
      s.session.free();
    }
  } finally {
    closeVisionRuntime(rt);
  }
}
