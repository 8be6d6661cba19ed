// Register tiles of the relaxed-SIMD Q4_0 kernel (cpp/quants_relaxed.cpp)
// compared in one Chromium page: matmuls of Qwen2-0.5B's shapes through the
// test build hob-ops-relaxed (one thread), each tile shape in turn, several
// rounds, best of each. Prints each shape's speed relative to the first one
// listed (by default the former 2 rows x 4 tokens; the default now is 4 x 4):
// ratios hold up better than absolute times on a loaded machine. Each timing
// repacks the weight once (as hob_op_matmul does) and runs ceil(64 / tokens)
// products on it. A benchmark, not a test.
//
//   node --import tsx bench/relaxed-tiles.ts [--reps 5] [--tiles 2x4,4x4,3x4] [--tokens 64,16,1]   (tiles up to 4x4)
//        [--shapes 896x896,151936x896]   (rows x cols)
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

import { launchBrowser, openPage, startServer } from '../test/browser/harness.js';

const { values: opts } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    tiles: { type: 'string', default: '2x4,4x4,3x4,4x3,4x2,2x2,1x4,4x1' },
    tokens: { type: 'string', default: '64,16,1' },
    shapes: { type: 'string', default: '896x896,4864x896,896x4864' },
  },
});
const tiles = opts.tiles!.split(',').map((t) => t.split('x').map(Number) as [number, number]);
// (rows, cols): by default Qwen2-0.5B's Q (and O), FFN gate/up and FFN
// down, which stay in cache across the timed products; its output head
// (151936x896, 77 MB in Q4_0) streams from memory as a decode step does.
const SHAPES = opts.shapes!.split(',').map((s) => s.split('x').map(Number) as [number, number]);

const [browser, server] = await Promise.all([launchBrowser(), startServer(true)]);
const load0 = loadavg()[0];
try {
  const { page } = await openPage(browser, `${server.url}/test/browser/pages/relaxed.html`);
  await page.waitForFunction(() => document.title === 'ready');
  console.log(`| rows x cols | tokens | ${tiles.map((t) => `${t[0]}x${t[1]}`).join(' | ')} |`);
  console.log(`|---|---:|${tiles.map(() => '---:').join('|')}|`);
  for (const T of opts.tokens!.split(',').map(Number)) {
    for (const [rows, cols] of SHAPES) {
      const ms: number[] = await page.evaluate(
        ([r, c, t, ts, n]) => (window as any).relaxed.timeTiles(r, c, t, ts, n),
        [rows, cols, T, tiles, Number(opts.reps)] as const,
      );
      // Speed relative to the first shape: its time over each one's.
      console.log(`| ${rows} x ${cols} | ${T} | ${ms.map((m) => `${(ms[0] / m).toFixed(2)} (${m.toFixed(1)} ms)`).join(' | ')} |`);
    }
  }
} finally {
  await browser.close();
  await server.server.close();
}
console.log(`\nspeed relative to ${tiles[0].join('x')} (time in ms, best of ${opts.reps}); one thread; load average ${load0.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after.`);
process.exit(0);
