// Regenerates test/fixtures/vision-*.json: what llama.cpp's libmtmd does with
// three images for a random pair of files of each projector type
// (test/gguf/vision-models.ts): SmolVLM-shaped (a tiny llama text model and
// an idefics3 mmproj; vision-NAME.json), Gemma-3-shaped (a tiny gemma3
// text model and a gemma3 mmproj; vision-gemma3-NAME.json) and
// Gemma-4-shaped (a tiny gemma4 text model and a gemma4v mmproj;
// vision-gemma4-NAME.json): the prompt's
// chunk layout (text token ids, and how many embedding rows each sub-image
// gives, with mtmd's marker tokens between them), every image chunk's
// embeddings, the ten best logits after the prompt (which ends with the
// image) and the greedy tokens after it. The Gemma 3 and Gemma 4 text
// models read the image's rows with attention among all of them, as
// llama.cpp decodes them.
//
// The oracle is scripts/oracle/mtmd-oracle.cpp, built with llama.cpp's
// libmtmd by scripts/oracle/build-mtmd.sh (run that first).
//   npx tsx scripts/oracle/make-vision-fixtures.ts [idefics3|gemma3|gemma4v]   (from the repository root; default all)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  buildGemma3TextModel, buildGemma4TextModel, buildVisionProjector, buildVisionTextModel, makeGemma3TextSpec, makeGemma3VisionSpec,
  makeGemma4TextSpec, makeGemma4VisionSpec, makeVisionSpec, makeVisionTextSpec, testImage, toPpm, VISION_IMAGES,
} from '../../test/gguf/vision-models';

const root = resolve(import.meta.dirname, '../..');
const oracle = join(root, 'build/mtmd/bin/mtmd-oracle');
const llamaSrc = process.env.LLAMA_CPP_SRC ?? join(root, 'build/llama.cpp-src');

// mtmd's default media marker stands where the image goes.
const PROMPT = 'Tell me the story of this little house <__media__>';
const N_PREDICT = 16;

interface OracleOut {
  nEmbd: number;
  image: [number, number];
  chunks: ({ type: 'text'; tokens: number[] } | { type: 'image'; nTokens: number })[];
  top: [number, number][];
  greedy: number[];
  nPast: number;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// Each projector type's pair of files and the prefix of its fixtures.
const FAMILIES = {
  idefics3: () => {
    const textSpec = makeVisionTextSpec();
    return { prefix: 'vision-', textSpec, visionSpec: makeVisionSpec(), textBytes: buildVisionTextModel(textSpec).toBytes() };
  },
  gemma3: () => {
    const textSpec = makeGemma3TextSpec();
    return { prefix: 'vision-gemma3-', textSpec, visionSpec: makeGemma3VisionSpec(), textBytes: buildGemma3TextModel(textSpec).toBytes() };
  },
  gemma4v: () => {
    const textSpec = makeGemma4TextSpec();
    return { prefix: 'vision-gemma4-', textSpec, visionSpec: makeGemma4VisionSpec(), textBytes: buildGemma4TextModel(textSpec).toBytes() };
  },
} as const;

function main(): void {
  if (!existsSync(oracle)) throw new Error(`no ${oracle}: run bash scripts/oracle/build-mtmd.sh first`);
  let commit = '(unknown)';
  try {
    commit = execFileSync('git', ['-C', llamaSrc, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch { /* a source tree that is not a git checkout */ }
  const wanted = process.argv[2];
  if (wanted !== undefined && !(wanted in FAMILIES)) throw new Error(`unknown projector type ${wanted} (${Object.keys(FAMILIES).join(', ')})`);
  for (const [family, make] of Object.entries(FAMILIES)) {
    if (wanted === undefined || wanted === family) writeFamily(commit, make());
  }
}

function writeFamily(commit: string, family: ReturnType<(typeof FAMILIES)[keyof typeof FAMILIES]>): void {
  const { prefix, textSpec, visionSpec, textBytes } = family;
  const projBytes = buildVisionProjector(visionSpec).toBytes();
  const dir = mkdtempSync(join(tmpdir(), 'hob-vision-'));
  try {
    const textPath = join(dir, 'text.gguf');
    const projPath = join(dir, 'mmproj.gguf');
    writeFileSync(textPath, textBytes);
    writeFileSync(projPath, projBytes);
    for (const [name, im] of Object.entries(VISION_IMAGES)) {
      const img = testImage(im.width, im.height, im.seed);
      const imgPath = join(dir, `${name}.ppm`);
      const embdPath = join(dir, `${name}.f32`);
      writeFileSync(imgPath, toPpm(img));
      const json = execFileSync(oracle, [textPath, projPath, imgPath, PROMPT, String(N_PREDICT), embdPath], {
        encoding: 'utf8', maxBuffer: 64 << 20,
      });
      const out = JSON.parse(json) as OracleOut;
      const embd = readFileSync(embdPath);
      const rows = out.chunks.reduce((n, c) => n + (c.type === 'image' ? c.nTokens : 0), 0);
      if (embd.length !== rows * out.nEmbd * 4) throw new Error(`${name}: ${embd.length} embedding bytes for ${rows} rows`);
      const fixture = {
        generator: `llama.cpp ${commit} libmtmd (scripts/oracle/mtmd-oracle.cpp)`,
        textModel: { spec: textSpec, sha256: sha256(textBytes) },
        projector: { spec: visionSpec, sha256: sha256(projBytes) },
        image: { name, ...im, sha256: sha256(img.rgb) },
        prompt: PROMPT,
        nEmbd: out.nEmbd,
        chunks: out.chunks,
        // All image chunks' rows in chunk order, float32 little-endian.
        embeddings: embd.toString('base64'),
        // The ten best logits after the prompt, [id, logit].
        top: out.top,
        greedy: out.greedy,
        nPast: out.nPast,
      };
      // One line per key, so diffs stay readable.
      const lines = Object.entries(fixture).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
      writeFileSync(join(root, `test/fixtures/${prefix}${name}.json`), `{\n${lines.join(',\n')}\n}\n`);
      const images = out.chunks.filter((c) => c.type === 'image').length;
      process.stdout.write(`${(prefix + name).padEnd(22)} ${im.width}x${im.height}: ${images} sub-images, ${rows} rows, greedy ${out.greedy.join(' ')}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
