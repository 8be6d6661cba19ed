// Lint rules that keep Hob's layers apart (docs/architecture.md): each
// directory of src/ may import only from the layers below it, never from a
// layer above or a sibling, and no module may import itself back through a
// circle. `npm test` runs it. Style is left to review; this guards the shape.
import tseslint from 'typescript-eslint';

import noImportCycle from './scripts/lint/no-import-cycle.js';

/**
 * The layers, lowest first. A directory imports from the layers before its
 * own and from the other directories of its own layer; everything after its
 * layer, and a sibling that is a layer of its own (gpu and sampling), is out
 * of reach. `node` is the Node entry and CLI, at the top like `ui`.
 */
const LAYERS = [
  ['shared'], // types and errors every layer speaks
  ['format'], // GGUF layout, split files, byte sources
  ['core', 'store'], // the wasm engine (models, sessions, the offload interface); the model store
  ['gpu'], // the WebGPU offload (implements core/offload.ts)
  ['sampling'], // the sampler chain, device picks, grammars
  ['runtime', 'chat'], // loading (core + gpu), sequences, the generation loop; chat templates and tool formats
  ['worker'], // the engine's worker: protocol, sources, service
  ['api'], // the public API on the caller's side of the worker
  ['ui', 'node'], // <hob-chat>; the Node entry and the CLI
];
/** Layers at the same height that must not see each other. */
const SIBLINGS = [['gpu', 'sampling']];

const all = LAYERS.flat();
const rank = Object.fromEntries(LAYERS.flatMap((dirs, i) => dirs.map((d) => [d, i])));
// gpu and sampling stand side by side: both above core, both below runtime.
rank.sampling = rank.gpu;

function forbidden(dir) {
  const above = all.filter((d) => rank[d] > rank[dir]);
  const siblings = SIBLINGS.filter((s) => s.includes(dir)).flat().filter((d) => d !== dir);
  return [...above, ...siblings];
}

const layerRules = all.map((dir) => {
  const out = forbidden(dir);
  return {
    files: [`src/${dir}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: out.length === 0 ? [] : [
            {
              regex: `^(\\.\\./)+(${out.join('|')})(/|$)`,
              message: `src/${dir} may not import from ${out.map((d) => `src/${d}`).join(', ')}: dependencies point down the layers (docs/architecture.md).`,
            },
          ],
        },
      ],
    },
  };
});

export default [
  {
    files: ['src/**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { sourceType: 'module' } },
    plugins: { hob: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: {
      // Type imports count: a type that two modules share lives below both.
      'hob/no-import-cycle': ['error', { root: 'src' }],
    },
  },
  ...layerRules,
];
