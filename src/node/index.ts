// The Node entry: the public API of the browser (createEngine and its
// types, running the same engine worker in a worker thread) and, beneath
// it, the layers it is built from for scripts and tests: the wasm engine,
// models and sessions, the loader that reads model files from disk (only the
// bytes the engine and the GPU need), sequences with context reuse, the
// sampler chain and the generation loop, and WebGPU through the `webgpu`
// package for offloaded blocks.
import { readGgufHeaderFrom } from '../core/gguf-header.js';
import { Model } from '../core/model.js';
import type { Engine } from '../core/wasm-engine.js';
import { fileSource, modelFileSource } from '../format/file-source.js';
import { loadModelFromSource, type LoadOptions } from '../runtime/load.js';
import type { GgufHeader } from '../shared/model.js';

export { Engine, type EngineOptions } from '../core/wasm-engine.js';
export type { WasmSimd } from '../core/wasm.js';
export { Model, type SpecialTokens, type TokenizeOptions } from '../core/model.js';
export { PoolingType } from '../core/c-api.js';
export type { BatchRows } from '../core/batch-rows.js';
export { Session, type EvalOptions, type SessionOptions } from '../core/session.js';
export type { PickedLogits, SamplePick, StepLogits } from '../core/logits.js';
export { readGgufHeader } from '../core/gguf-header.js';
export type { GgufHeader, GgufMetadataValue, GgufScalar, GgufTensor, LoadReport, ModelHparams, ModelIdentity, ModelInfo, TokenMixer } from '../shared/model.js';
export type { KvLayer, KvShape, KvState } from '../core/kv-state.js';
export type { Candidates, DeviceDraw, ForwardOutput, OffloadedBlocks, OffloadRunner } from '../core/offload.js';
export { generate, type GenerationHooks, type GenerationRequest, type GenerationResult } from '../runtime/generate.js';
export { MIN_SHIFT_REUSE, Sequence, describeShift, type PrefillOptions, type PrefillResult, type SequenceOptions, type SequenceState } from '../runtime/sequence.js';
export * from '../shared/errors.js';
export { loadModelFromSource, type LoadOptions } from '../runtime/load.js';
export { bytesSource, type ByteSource } from '../format/source.js';
export { fileSource, modelFileSource } from '../format/file-source.js';
export { joinSplitParts } from '../format/gguf-split.js';
export { requestNodeGpu } from '../gpu/node-device.js';
export type { QuantChoice, RepoFile } from '../store/hub-quants.js';
export { isHubRef, listHubFiles, parseHubRef, resolveHubModel, type HubChoice, type HubFile, type HubModel, type HubOptions, type HubRef } from '../store/hub.js';
export { checkFit } from './check-fit.js';
export { createEngine, nodeModelLocation, type NodeCreateEngineOptions } from './create-engine.js';
export type * from '../shared/types.js';
export { DEFAULT_SAMPLER_ORDER, SAMPLING_DEFAULTS, resolveSampling, type ResolvedSampling } from '../sampling/params.js';
export { SamplerChain, type SamplerChainOptions } from '../sampling/chain.js';
export type { Constraint } from '../runtime/constraint.js';
export { prepareRequest, ReplyAssembler, type PreparedRequest, type ReplyDelta, type ReplyRequest } from '../runtime/request.js';
export type { ImageEncoder, PromptImage, PromptImages } from '../runtime/image-prompt.js';
export type { ImagePart } from '../core/vision.js';
export type { ReasoningBudget, ReasoningFormat } from '../chat/reasoning.js';
export { DEFAULT_GRAMMAR_LIMITS, parseGrammar, type Grammar, type GrammarLimits, type GrammarTrigger, type ParseGrammarOptions } from '../sampling/grammar/index.js';
export type { SchemaGrammarLimits } from '../sampling/grammar/schema-errors.js';
export { JSON_OBJECT_GBNF, jsonSchemaToGbnf } from '../sampling/grammar/json-schema.js';
export type { GrammarBuildOptions } from '../sampling/grammar/builder.js';

/** Loads a GGUF file, reading only what the engine keeps (CPU blocks) into
 * the wasm heap and the offloaded blocks straight into GPU buffers. */
export async function loadModelFile(engine: Engine, path: string, opts: LoadOptions = {}): Promise<Model> {
  const source = await modelFileSource(path);
  try {
    return await loadModelFromSource(engine, source, opts);
  } finally {
    await source.close?.();
  }
}

/** Loads only the vocabulary of a GGUF file (tokenize, detokenize,
 * metadata), reading its header and no tensor: vocabulary-only files work,
 * and a multi-gigabyte model tokenizes without its weights. */
export async function loadVocabFile(engine: Engine, path: string): Promise<Model> {
  const source = await fileSource(path);
  try {
    const { bytes } = await readGgufHeaderFrom(engine, source, { maxArray: 0 });
    return Model.loadVocab(engine, bytes, source.sizeBytes);
  } finally {
    await source.close?.();
  }
}

/** Reads the GGUF header of a file (metadata and tensor table) without
 * loading the model; works for any architecture. */
export async function readGgufHeaderFile(engine: Engine, path: string, opts: { maxArray?: number } = {}): Promise<GgufHeader> {
  const source = await fileSource(path);
  try {
    return (await readGgufHeaderFrom(engine, source, opts)).header;
  } finally {
    await source.close?.();
  }
}
