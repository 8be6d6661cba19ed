// Runs every test suite of the project and ends with one line
// "N passed, N failed" summing them all. Suites: generated files, the
// layering lint, the native engine tests
// (plain and under AddressSanitizer + UBSan), a bounded libFuzzer run over
// the GGUF parser, the wasm and TypeScript builds, the Node tests, the
// browser tests in headless Chromium and the packed package in a fresh app.
//
//   node scripts/test.mjs [--only name,name] [--skip name,name]
// Suite names: api, lint, native, asan, fuzz, build, node, browser, docs, consumer, firefox, webkit.
// HOB_FUZZ_SECONDS sets the fuzzing time (default 60).
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({ options: { only: { type: 'string' }, skip: { type: 'string' } } });
const only = opts.only ? new Set(opts.only.split(',')) : null;
const skip = new Set(opts.skip ? opts.skip.split(',') : []);
const fuzzSeconds = Number(process.env.HOB_FUZZ_SECONDS ?? 60);

/** Runs a shell command, echoing its output, and returns that output. */
function sh(cmd) {
  return new Promise((resolve) => {
    process.stdout.write(`$ ${cmd}\n`);
    const child = spawn('bash', ['-o', 'pipefail', '-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const echo = (stream) => (chunk) => {
      out += chunk;
      stream.write(chunk);
    };
    child.stdout.on('data', echo(process.stdout));
    child.stderr.on('data', echo(process.stderr));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

// Counting: the native harness and our summary print "N passed, N failed";
// node's spec reporter prints "ℹ pass N" / "ℹ fail N".
function counts(out) {
  let m = [...out.matchAll(/^(\d+) passed, (\d+) failed/gm)].pop();
  if (m) return { passed: Number(m[1]), failed: Number(m[2]) };
  const p = [...out.matchAll(/^ℹ pass (\d+)/gm)].pop();
  const f = [...out.matchAll(/^ℹ fail (\d+)/gm)].pop();
  if (p && f) return { passed: Number(p[1]), failed: Number(f[1]) };
  return null;
}

const nodeTest = (files) =>
  `node --import tsx --test --test-reporter=spec --test-concurrency=1 ${files}`;

const suites = [
  {
    name: 'api',
    title: 'generated files match their sources (API constants, shaders, Unicode tables)',
    steps: ['node scripts/gen-api.mjs --check', 'node scripts/gen-shaders.mjs --check', 'node scripts/gen-unicode.mjs --check'],
  },
  { name: 'lint', title: 'layers point one way, no import circles (ESLint over src/)', steps: ['npx eslint src'] },
  { name: 'native', title: 'native engine tests', steps: ['make -s -j2 -C cpp tests', './build/native/hob_tests'], counted: true },
  { name: 'asan', title: 'native engine tests under ASan + UBSan', steps: ['make -s -j2 -C cpp asan', './build/asan/hob_tests'], counted: true },
  {
    name: 'fuzz',
    title: `GGUF parser fuzzing (${fuzzSeconds} s)`,
    steps: [
      'make -s -C cpp fuzz',
      'mkdir -p build/fuzz/inputs && cp -r cpp/fuzz/corpus/. build/fuzz/inputs/',
      // libFuzzer logs every new input; keep that in a file and show its end.
      `./build/fuzz/gguf_fuzz -dict=cpp/fuzz/gguf.dict -max_total_time=${fuzzSeconds} -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 build/fuzz/inputs > build/fuzz/fuzz.log 2>&1; s=$?; tail -n 25 build/fuzz/fuzz.log; exit $s`,
    ],
  },
  { name: 'build', title: 'wasm and TypeScript builds', steps: ['bash wasm/build.sh', 'npx tsc -p tsconfig.build.json', 'npx tsc -p tsconfig.json --noEmit'] },
  {
    name: 'node',
    title: 'Node tests (wasm engine, fixtures, CLI, WebGPU on Dawn)',
    steps: [nodeTest('test/unit/*.test.ts test/oracle/*.test.ts test/gpu/*.test.ts')],
    counted: true,
  },
  { name: 'browser', title: 'browser tests (headless Chromium)', steps: [nodeTest('test/browser/*.test.ts')], counted: true },
  { name: 'docs', title: 'API reference (TypeDoc; a warning fails)', steps: ['npx typedoc --treatWarningsAsErrors --logLevel Warn'] },
  {
    name: 'consumer',
    title: 'the packed npm package in fresh apps (Vite, webpack, esbuild in Chromium; Node; the hob command)',
    steps: ['npm run -s build:ts', 'node scripts/size.mjs', nodeTest('test/consumer/*.test.ts')],
    counted: true,
  },
  // The essential cases again in the other engines (test/cross-browser/;
  // the consumer test there needs the packed package, built above).
  ...['firefox', 'webkit'].map((browser) => ({
    name: browser,
    title: `cross-browser tests in ${browser === 'firefox' ? 'Firefox ESR (WebDriver BiDi)' : 'WebKitGTK (WebDriver)'}`,
    steps: ['test -f dist/node/index.js || npm run -s build:ts', `HOB_BROWSER=${browser} ${nodeTest('test/cross-browser/*.test.ts')}`],
    counted: true,
  })),
];

mkdirSync('build', { recursive: true });
let passed = 0;
let failed = 0;
const report = [];
for (const suite of suites) {
  if ((only && !only.has(suite.name)) || skip.has(suite.name)) continue;
  process.stdout.write(`\n=== ${suite.title}\n`);
  let ok = true;
  let counted = null;
  for (const step of suite.steps) {
    const { code, out } = await sh(step);
    if (suite.counted) counted = counts(out) ?? counted;
    if (code !== 0) {
      ok = false;
      break;
    }
  }
  if (suite.counted && counted) {
    // A suite that crashed after counting still fails as a whole.
    passed += counted.passed;
    failed += counted.failed + (ok || counted.failed > 0 ? 0 : 1);
    report.push(`${suite.title}: ${counted.passed} passed, ${counted.failed} failed${ok ? '' : ' (exited with an error)'}`);
  } else {
    passed += ok ? 1 : 0;
    failed += ok ? 0 : 1;
    report.push(`${suite.title}: ${ok ? 'ok' : 'FAILED'}`);
  }
}

process.stdout.write(`\n=== summary\n${report.join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
