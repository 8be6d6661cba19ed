// What the store records about a model: a summary of its GGUF header
// (architecture, parameter count, tensor types, context length) read in
// TypeScript, so the main thread can describe a download without the wasm
// engine, and a truncated file is caught from its header.
import { ModelFormatError } from '../shared/errors.js';
import { ggmlTypeTraits, readGgufLayout } from '../format/gguf-layout.js';
import type { ByteSource } from '../format/source.js';

export interface GgufSummary {
  version: number;
  /** `general.architecture`; empty in the second and later parts of a split model. */
  architecture: string;
  name?: string;
  /** `<arch>.context_length`: the training context in tokens. */
  contextLength?: number;
  /** `<arch>.block_count`. */
  nLayer?: number;
  /** `general.file_type` (llama_ftype). */
  fileType?: number;
  /** Elements of all tensors (of all parts, for a split model). */
  nParams: number;
  nTensors: number;
  /** Tensor count by type name: `{ q4_0: 154, f32: 45 }`. */
  types: Record<string, number>;
  /** Where the tensor data starts (header and tensor infos end). */
  dataOffsetBytes: number;
  /** `split.count` of a split model (1 for a single file). */
  splitCount: number;
}

/**
 * Reads the GGUF header of `src`: throws ModelFormatError ('gguf/bad-magic',
 * 'gguf/bad-version', 'gguf/truncated' when a tensor's data runs past the
 * end, 'gguf/invalid') with the offset and field name.
 */
export async function readGgufSummary(src: ByteSource): Promise<GgufSummary> {
  const { version, meta, tensors, dataOffsetBytes } = await readGgufLayout(src);
  let nParams = 0;
  const types: Record<string, number> = {};
  for (const t of tensors) {
    nParams += t.nElements;
    const typeName = ggmlTypeTraits(t.typeId)?.[0] ?? `type${t.typeId}`;
    types[typeName] = (types[typeName] ?? 0) + 1;
  }
  if (!Number.isSafeInteger(nParams)) {
    throw new ModelFormatError('gguf/invalid', 'GGUF tensors: the parameter count overflows', { fileBytes: src.sizeBytes });
  }

  // A download cut short still has a whole header: the tensor extents are
  // what shows that its data is missing.
  for (const t of tensors) {
    if (t.sizeBytes === undefined) continue; // the engine reports unknown types; the size is unknown here
    const end = dataOffsetBytes + t.offset + t.sizeBytes;
    if (end > src.sizeBytes) {
      throw new ModelFormatError('gguf/truncated', `GGUF tensor ${t.name} ends at byte ${end}, but the file has only ${src.sizeBytes} bytes`, {
        field: t.name,
        offset: end,
        fileBytes: src.sizeBytes,
      });
    }
  }

  // Empty in the later parts of a split model, which carry only split.* keys.
  const arch = String(meta.get('general.architecture') ?? '');
  const num = (k: string): number | undefined => (typeof meta.get(k) === 'number' ? (meta.get(k) as number) : undefined);
  const name = meta.get('general.name');
  return {
    version,
    architecture: arch,
    ...(typeof name === 'string' ? { name } : {}),
    ...(num(`${arch}.context_length`) !== undefined ? { contextLength: num(`${arch}.context_length`) } : {}),
    ...(num(`${arch}.block_count`) !== undefined ? { nLayer: num(`${arch}.block_count`) } : {}),
    ...(num('general.file_type') !== undefined ? { fileType: num('general.file_type') } : {}),
    nParams,
    nTensors: tensors.length,
    types,
    dataOffsetBytes,
    splitCount: num('split.count') ?? 1,
  };
}

/** One summary for the parts of a split model: the first part's metadata, every part's tensors. */
export function mergeSummaries(parts: GgufSummary[]): GgufSummary {
  const types: Record<string, number> = {};
  for (const p of parts) for (const [t, n] of Object.entries(p.types)) types[t] = (types[t] ?? 0) + n;
  return {
    ...parts[0],
    nParams: parts.reduce((a, p) => a + p.nParams, 0),
    nTensors: parts.reduce((a, p) => a + p.nTensors, 0),
    types,
  };
}
