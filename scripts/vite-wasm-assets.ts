// A Vite dev-server plugin that serves the engine's wasm build (wasm/out/)
// byte for byte. Vite would otherwise transform the emscripten glue and
// inject module imports into the pthread worker, a classic script.
import { createReadStream, existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';

import type { Plugin } from 'vite';

const outDir = resolve(import.meta.dirname, '../wasm/out');
const types: Record<string, string> = { mjs: 'text/javascript', js: 'text/javascript', wasm: 'application/wasm' };

export function hobWasmAssets(): Plugin {
  return {
    name: 'hob-wasm-assets',
    apply: 'serve',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0];
        const m = /\/wasm\/out\/(hob-(?:mt|st|ops)(?:-relaxed)?\.(mjs|wasm|worker\.js))$/.exec(path);
        const file = m && resolve(outDir, basename(m[1]));
        if (!m || !file || !existsSync(file)) return next();
        res.setHeader('Content-Type', types[m[2].split('.').pop() as string]);
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        // A worker started from a cross-origin isolated page must be isolated too.
        res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
        res.setHeader('Cache-Control', 'no-cache');
        createReadStream(file).pipe(res);
      });
    },
  };
}
