// Regenerates test/fixtures/vision-*.json: what llama.cpp's libmtmd does with
// three images for a random SmolVLM-shaped pair of files
// (test/gguf/vision-models.ts: a tiny llama text model and an idefics3
// mmproj): the prompt's chunk layout (text token ids, and how many embedding
// rows each sub-image gives: the tiles row by row, then the overview, with
// mtmd's marker tokens between them), every image chunk's embeddings,
// the ten best logits after the prompt (which ends with the image) and the
// greedy tokens after it.
//
// The oracle is scripts/oracle/mtmd-oracle.cpp, built with llama.cpp's
// libmtmd by scripts/oracle/build-mtmd.sh (run that first).
//   npx tsx scripts/oracle/make-vision-fixtures.ts      (from the repository root)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  buildVisionProjector, buildVisionTextModel, makeVisionSpec, makeVisionTextSpec, testImage, toPpm, VISION_IMAGES,
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

function main(): void {
  if (!existsSync(oracle)) throw new Error(`no ${oracle}: run bash scripts/oracle/build-mtmd.sh first`);
  let commit = '(unknown)';
  try {
    commit = execFileSync('git', ['-C', llamaSrc, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch { /* a source tree that is not a git checkout */ }

  const textSpec = makeVisionTextSpec();
  const visionSpec = makeVisionSpec();
  const textBytes = buildVisionTextModel(textSpec).toBytes();
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
      writeFileSync(join(root, `test/fixtures/vision-${name}.json`), `{\n${lines.join(',\n')}\n}\n`);
      const images = out.chunks.filter((c) => c.type === 'image').length;
      process.stdout.write(`${name.padEnd(9)} ${im.width}x${im.height}: ${images} sub-images, ${rows} rows, greedy ${out.greedy.join(' ')}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
