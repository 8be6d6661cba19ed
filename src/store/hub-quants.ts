// Quantization names in GGUF file names ("Llama-3.2-1B-Instruct-Q4_K_M.gguf",
// "qwen2.5-0.5b-instruct-q8_0-00001-of-00002.gguf") and the choice of one
// among a repository's files: the quant asked for, or by default Q4_K_M,
// else the nearest one Hob can run. Pure functions; hub.ts lists the files.

/**
 * Approximate bits per weight of each quantization llama.cpp writes (its
 * quantize tool's table: sizes of Llama-3-8B over 8 billion weights), and
 * whether Hob's kernels run the tensor types it uses. "Nearest" is measured
 * in these bits. The _L / _XL variants (bartowski, unsloth) keep the
 * embedding and head at Q8_0 or F16: a little more than their base.
 */
const QUANTS: Readonly<Record<string, { bits: number; runs: boolean }>> = {
  IQ1_S: { bits: 1.56, runs: false },
  IQ1_M: { bits: 1.75, runs: false },
  TQ1_0: { bits: 1.69, runs: false },
  IQ2_XXS: { bits: 2.06, runs: false },
  TQ2_0: { bits: 2.06, runs: false },
  IQ2_XS: { bits: 2.31, runs: false },
  IQ2_S: { bits: 2.5, runs: false },
  IQ2_M: { bits: 2.7, runs: false },
  Q2_K_S: { bits: 2.9, runs: true },
  Q2_K: { bits: 2.96, runs: true },
  Q2_K_L: { bits: 3.1, runs: true },
  Q2_K_XL: { bits: 3.1, runs: true },
  IQ3_XXS: { bits: 3.06, runs: false },
  IQ3_XS: { bits: 3.3, runs: false },
  Q3_K_S: { bits: 3.41, runs: true },
  IQ3_S: { bits: 3.44, runs: false },
  IQ3_M: { bits: 3.66, runs: false },
  Q3_K_M: { bits: 3.74, runs: true },
  Q3_K: { bits: 3.74, runs: true },
  Q3_K_L: { bits: 4.03, runs: true },
  Q3_K_XL: { bits: 4.1, runs: true },
  IQ4_XS: { bits: 4.25, runs: false },
  Q4_0: { bits: 4.34, runs: true },
  // Repacked for ARM, dropped by llama.cpp since; Hob has no kernels for them.
  Q4_0_4_4: { bits: 4.34, runs: false },
  Q4_0_4_8: { bits: 4.34, runs: false },
  Q4_0_8_8: { bits: 4.34, runs: false },
  Q4_K_S: { bits: 4.37, runs: true },
  IQ4_NL: { bits: 4.5, runs: true },
  Q4_K_M: { bits: 4.58, runs: true },
  Q4_K: { bits: 4.58, runs: true },
  Q4_K_L: { bits: 4.7, runs: true },
  Q4_K_XL: { bits: 4.7, runs: true },
  Q4_1: { bits: 4.78, runs: true },
  MXFP4: { bits: 4.25, runs: false },
  Q5_0: { bits: 5.21, runs: true },
  Q5_K_S: { bits: 5.21, runs: true },
  Q5_K_M: { bits: 5.33, runs: true },
  Q5_K: { bits: 5.33, runs: true },
  Q5_K_L: { bits: 5.45, runs: true },
  Q5_K_XL: { bits: 5.45, runs: true },
  Q5_1: { bits: 5.65, runs: true },
  Q6_K: { bits: 6.14, runs: true },
  Q6_K_L: { bits: 6.3, runs: true },
  Q6_K_XL: { bits: 6.3, runs: true },
  Q8_0: { bits: 7.96, runs: true },
  Q8_K_XL: { bits: 8.5, runs: true },
  BF16: { bits: 16, runs: true },
  F16: { bits: 16, runs: true },
  F32: { bits: 32, runs: true },
};

/** What hf:OWNER/REPO (no quant) picks when the repository has it. */
export const DEFAULT_QUANT = 'Q4_K_M';

// A quant tag inside a name, between separators (or the ends): IQ4_XS,
// Q4_K_M, Q8_0, BF16, … ; longest alternatives first.
const TAG = /(?:^|[-_.])(IQ[1-4]_(?:XXS|XS|NL|S|M)|Q[2-8]_K(?:_(?:XL|S|M|L))?|Q[4-8]_[01](?:_\d_\d)?|TQ[12]_0|MXFP4|BF16|FP16|FP32|F16|F32)(?=$|[-_.])/gi;
/** "name-00001-of-00003.gguf": part 1 of 3. */
export const SPLIT_NAME = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The quant named in a file's name (upper case; FP16 reads as F16), or undefined. */
export function quantOf(path: string): string | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1).replace(SPLIT_NAME, '.gguf').replace(/\.gguf$/i, '');
  let last: string | undefined;
  for (const m of name.matchAll(TAG)) last = m[1];
  if (!last) return undefined;
  const q = last.toUpperCase();
  return q === 'FP16' ? 'F16' : q === 'FP32' ? 'F32' : q;
}

/** Approximate bits per weight of a quant, when known. */
export function quantBits(quant: string): number | undefined {
  return QUANTS[quant.toUpperCase()]?.bits;
}

/** Whether Hob's kernels run the tensor types a quant of this name uses (unknown names: assumed to). */
export function quantRuns(quant: string | undefined): boolean {
  return quant === undefined ? true : (QUANTS[quant.toUpperCase()]?.runs ?? true);
}

/** The same quant under another spelling: Q4_K is Q4_K_M, as llama.cpp's quantize names it. */
export function sameQuant(a: string, b: string): boolean {
  const norm = (q: string) => ({ Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M', FP16: 'F16', FP32: 'F32' })[q.toUpperCase()] ?? q.toUpperCase();
  return norm(a) === norm(b);
}

/** Whether a GGUF file is a language model's weights, not a side file (a vision projector, an importance matrix, a draft head). */
export function isModelFile(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return name.endsWith('.gguf') && !/mmproj|imatrix|(^|[-_.])(mtp|eagle3|dflash|dspark)-/.test(name);
}

export function isProjectorFile(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return name.endsWith('.gguf') && name.includes('mmproj');
}

/** One loadable choice of a repository: a single file, or the parts of a split one. */
export interface QuantChoice {
  /** The quant its name says (upper case); undefined when the name says none. */
  quant?: string;
  /** Paths in the repository, parts in order. */
  paths: string[];
  sizeBytes: number;
  /** Whether Hob runs its tensor types (judged from the name). */
  runs: boolean;
}

export interface RepoFile {
  path: string;
  sizeBytes: number;
}

/**
 * Groups a repository's GGUF model files into choices: a split model's parts
 * (`-0000k-of-0000n`) become one choice when all n are present; a part
 * whose siblings are missing is left out. Ordered by size, smallest first.
 */
export function groupChoices(files: readonly RepoFile[]): QuantChoice[] {
  const models = files.filter((f) => isModelFile(f.path));
  const byPath = new Map(models.map((f) => [f.path, f]));
  const out: QuantChoice[] = [];
  for (const f of models) {
    const m = SPLIT_NAME.exec(f.path);
    let parts: RepoFile[] = [f];
    if (m) {
      const n = Number(m[2]);
      if (Number(m[1]) !== 1 || n < 1) continue; // listed with its first part
      parts = Array.from({ length: n }, (_, k) => byPath.get(f.path.replace(SPLIT_NAME, `-${String(k + 1).padStart(5, '0')}-of-${m[2]}.gguf`)))
        .filter((p): p is RepoFile => p !== undefined);
      if (parts.length !== n) continue;
    }
    const quant = quantOf(f.path);
    out.push({
      ...(quant ? { quant } : {}),
      paths: parts.map((p) => p.path),
      sizeBytes: parts.reduce((a, p) => a + p.sizeBytes, 0),
      runs: quantRuns(quant),
    });
  }
  return out.sort((a, b) => a.sizeBytes - b.sizeBytes || a.paths[0].localeCompare(b.paths[0]));
}

/**
 * The choice for `asked` (a quant name, case-insensitive), or undefined if
 * none has it. Without `asked`: Q4_K_M if present, else the choice Hob runs
 * whose bits per weight are nearest Q4_K_M's (a tie goes to the smaller
 * file), else the smallest choice. Several files of one quant (another
 * folder, another variant): the shortest path, then the smallest.
 */
export function chooseQuant(choices: readonly QuantChoice[], asked?: string): QuantChoice | undefined {
  const best = (list: QuantChoice[]) =>
    [...list].sort((a, b) => a.paths[0].split('/').length - b.paths[0].split('/').length || a.sizeBytes - b.sizeBytes)[0];
  if (asked) return best(choices.filter((c) => c.quant !== undefined && sameQuant(c.quant, asked)));
  const exact = choices.filter((c) => c.quant !== undefined && sameQuant(c.quant, DEFAULT_QUANT));
  if (exact.length) return best(exact);
  const target = QUANTS[DEFAULT_QUANT].bits;
  const ranked = choices
    .filter((c) => c.runs && c.quant !== undefined && quantBits(c.quant) !== undefined)
    .map((c) => ({ c, d: Math.abs(quantBits(c.quant!)! - target) }))
    .sort((a, b) => a.d - b.d || a.c.sizeBytes - b.c.sizeBytes);
  return ranked[0]?.c ?? choices.find((c) => c.runs) ?? choices[0];
}

/**
 * The vision projector for a model file: a GGUF named mmproj in the model's
 * folder or above it (deepest first), then the one whose bits are nearest
 * the model's (F16 when the name says none), as llama.cpp's -hf picks it.
 */
export function chooseProjector(files: readonly RepoFile[], modelPath: string): RepoFile | undefined {
  const dir = modelPath.includes('/') ? modelPath.slice(0, modelPath.lastIndexOf('/') + 1) : '';
  const bits = quantBits(quantOf(modelPath) ?? 'F16') ?? 16;
  const ranked = files
    .filter((f) => isProjectorFile(f.path))
    .map((f) => {
      const fdir = f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/') + 1) : '';
      return { f, inside: dir.startsWith(fdir), depth: fdir.length, d: Math.abs((quantBits(quantOf(f.path) ?? 'F16') ?? 16) - bits) };
    })
    .filter((x) => x.inside)
    .sort((a, b) => b.depth - a.depth || a.d - b.d || a.f.sizeBytes - b.f.sizeBytes);
  return ranked[0]?.f;
}
