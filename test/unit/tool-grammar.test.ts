// The tool-call grammar of each format, composed through a fake
// GrammarBuilder that records the rules and schemas it is given (the real
// builder comes with the JSON-schema converter): the GBNF text around the
// argument schemas, the lazy triggers, and the auto / required / named /
// parallel variants.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

import { detectToolFormat, mistralFormat, TOOL_FORMATS, type ToolFormat } from '../../src/chat/tool-formats.js';
import { buildToolCallGrammar, gbnfLiteral, type ToolGrammarOptions } from '../../src/chat/tool-grammar.js';
import { HobError } from '../../src/shared/errors.js';
import type { GrammarBuilder } from '../../src/sampling/grammar/builder.js';
import type { JsonSchema } from '../../src/shared/types.js';
import { template, TOOLS } from './chat-tool-cases.js';
import { SchemaGrammarBuilder } from './tool-grammar-builder.js';

/** Records rules; schemas become placeholder rules named as the real builder names them. */
class FakeBuilder implements GrammarBuilder {
  readonly rules = new Map<string, string>();
  readonly schemas = new Map<string, JsonSchema>();
  readonly refs: JsonSchema[] = [];
  private unique(name: string): string {
    let n = name;
    for (let i = 1; this.rules.has(n); i++) n = `${name}-${i}`;
    return n;
  }
  addRule(name: string, body: string): string {
    const n = this.unique(name);
    this.rules.set(n, body);
    return n;
  }
  addSchema(name: string, schema: JsonSchema): string {
    const n = this.unique(name);
    this.rules.set(n, '<schema>');
    this.schemas.set(n, schema);
    return n;
  }
  resolveRefs(schema: JsonSchema): void {
    this.refs.push(schema);
  }
}

const weather = TOOLS[0].function.parameters!;
const search = TOOLS[1].function.parameters!;

function grammar(format: ToolFormat, o: Partial<ToolGrammarOptions> = {}) {
  const b = new FakeBuilder();
  const g = buildToolCallGrammar(format, TOOLS, { toolChoice: 'auto', parallel: true, ...o }, b);
  return { g: g!, b, rule: (name: string) => b.rules.get(name) };
}

describe('hermes and smollm3: <tool_call> blocks', () => {
  test('auto, parallel: lazy on the word <tool_call>, one block a call, any number of blocks', () => {
    const { g, b, rule } = grammar(TOOL_FORMATS.hermes);
    assert.equal(g.root, 'root');
    assert.equal(rule('root'), 'tool-call ( tool-ws tool-call )*');
    assert.equal(rule('tool-call'), '"<tool_call>" tool-ws ( get-weather-call | search-web-call ) tool-ws "</tool_call>"');
    assert.equal(rule('tool-ws'), '( " " | "\\n"{1,2} [ \\t]{0,20} )?');
    assert.deepEqual(b.schemas.get('get-weather-call'), {
      type: 'object',
      properties: { name: { const: 'get_weather' }, arguments: weather },
      required: ['name', 'arguments'],
    });
    assert.equal(g.lazy, true);
    assert.deepEqual(g.triggers, [{ type: 'word', value: '<tool_call>' }]);
    assert.deepEqual(g.preservedTokens, ['<tool_call>', '</tool_call>']);
    // $defs are registered before the schemas that use them.
    assert.deepEqual(b.refs, [weather, search]);
  });

  test('required: active from the first token; not parallel: one block', () => {
    const { g, rule } = grammar(TOOL_FORMATS.smollm3, { toolChoice: 'required', parallel: false });
    assert.equal(g.lazy, false);
    assert.deepEqual(g.triggers, []);
    assert.equal(rule('root'), 'tool-call');
  });

  test('a named function: only that one, active from the first token', () => {
    const { g, b, rule } = grammar(TOOL_FORMATS.hermes, { toolChoice: { type: 'function', function: { name: 'search_web' } } });
    assert.equal(g.lazy, false);
    assert.equal(rule('tool-call'), '"<tool_call>" tool-ws search-web-call tool-ws "</tool_call>"');
    assert.deepEqual([...b.schemas.keys()], ['search-web-call']);
    assert.deepEqual(b.refs, [search]);
  });
});

describe('the other formats', () => {
  test('llama3: the reply is one call object with "parameters", woken by its first characters', () => {
    const { g, b, rule } = grammar(TOOL_FORMATS.llama3);
    assert.equal(rule('root'), '( get-weather-call | search-web-call )');
    assert.deepEqual(b.schemas.get('search-web-call'), {
      type: 'object',
      properties: { name: { const: 'search_web' }, parameters: search },
      required: ['name', 'parameters'],
    });
    assert.equal(g.triggers.length, 1);
    const t = g.triggers[0];
    assert.equal(t.type, 'pattern_full');
    const re = new RegExp(`^(?:${t.value})$`);
    for (const ok of ['{"name": "get_weather", "parameters": {', ' {"type": "function", "name": "x', '<|python_tag|>{"name": "f"}']) {
      const m = re.exec(ok);
      assert.ok(m, ok);
      assert.equal(m[1][0], '{', 'the grammar starts at the brace');
    }
    for (const no of ['Sure: {"name": "f"', '{"answer": 1}', '{"nam']) assert.equal(re.test(no), false, no);
  });

  test('mistral-nemo: [TOOL_CALLS] and an array of calls with 9-character ids; maxItems 1 without parallel', () => {
    const { g, b, rule } = grammar(TOOL_FORMATS['mistral-nemo'], { parallel: false });
    assert.equal(rule('root'), '"[TOOL_CALLS]" tool-calls');
    const list = b.schemas.get('tool-calls') as Record<string, unknown>;
    assert.equal(list.minItems, 1);
    assert.equal(list.maxItems, 1);
    const items = (list.items as { anyOf: Record<string, unknown>[] }).anyOf;
    assert.equal(items.length, 2);
    assert.deepEqual(items[0], {
      type: 'object',
      properties: { name: { const: 'get_weather' }, arguments: weather, id: { type: 'string', pattern: '^[a-zA-Z0-9]{9}$' } },
      required: ['name', 'arguments', 'id'],
    });
    assert.deepEqual(g.triggers, [{ type: 'word', value: '[TOOL_CALLS]' }]);
  });

  test('mistral (Small 3.2): [TOOL_CALLS]name[CALL_ID]id[ARGS]args for each call; Devstral without the id', () => {
    const { g, rule } = grammar(mistralFormat(true));
    assert.equal(rule('get-weather-call'), '"[TOOL_CALLS]get_weather" "[CALL_ID]" [a-zA-Z0-9]{9} "[ARGS]" get-weather-args');
    assert.equal(rule('root'), '( get-weather-call | search-web-call )+');
    assert.deepEqual(g.preservedTokens, ['[TOOL_CALLS]', '[ARGS]', '[CALL_ID]']);
    const devstral = grammar(mistralFormat(false), { toolChoice: 'required', parallel: false });
    assert.equal(devstral.rule('search-web-call'), '"[TOOL_CALLS]search_web" "[ARGS]" search-web-args');
    assert.equal(devstral.rule('root'), '( get-weather-call | search-web-call )');
    assert.equal(devstral.g.lazy, false);
  });

  test('phi4-mini: one array in <|tool_call|> ... <|/tool_call|>', () => {
    const { g, b, rule } = grammar(detectToolFormat("<|tool|>{{ message['tools'] }}"));
    assert.equal(rule('root'), '"<|tool_call|>" tool-calls "<|/tool_call|>"');
    assert.equal((b.schemas.get('tool-calls') as Record<string, unknown>).maxItems, undefined);
    assert.deepEqual(g.triggers, [{ type: 'word', value: '<|tool_call|>' }]);
  });

  test('deepseek-r1: calls in their markers, the arguments in a json fence, newline between calls', () => {
    const { g, rule } = grammar(TOOL_FORMATS['deepseek-r1']);
    assert.equal(rule('get-weather-call'), '"<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\\n```json\\n" get-weather-args "\\n```<｜tool▁call▁end｜>"');
    assert.equal(rule('root'), '"<｜tool▁calls▁begin｜>" ( get-weather-call | search-web-call ) ( "\\n" ( get-weather-call | search-web-call ) )* "<｜tool▁calls▁end｜>"');
    assert.deepEqual(g.triggers, [{ type: 'word', value: '<｜tool▁calls▁begin｜>' }]);
  });

  test('generic: the whole reply is JSON, never lazy; auto may answer instead of calling', () => {
    const auto = grammar(TOOL_FORMATS.generic);
    assert.equal(auto.g.lazy, false);
    assert.equal(auto.g.root, 'root');
    const schema = auto.b.schemas.get('root') as { anyOf: Record<string, unknown>[] };
    assert.equal(schema.anyOf.length, 2);
    assert.deepEqual(schema.anyOf[1], { type: 'object', properties: { response: { type: 'string' } }, required: ['response'] });
    assert.deepEqual(Object.keys((schema.anyOf[0] as { properties: object }).properties), ['tool_calls']);
    const one = grammar(TOOL_FORMATS.generic, { toolChoice: 'required', parallel: false });
    assert.deepEqual(Object.keys((one.b.schemas.get('root') as { properties: object }).properties), ['tool_call']);
  });
});

describe('choices and inputs', () => {
  test("'none' has no grammar; an unknown named function or no tools are argument/invalid", () => {
    assert.equal(buildToolCallGrammar(TOOL_FORMATS.hermes, TOOLS, { toolChoice: 'none', parallel: true }, new FakeBuilder()), undefined);
    const invalid = (e: unknown) => e instanceof HobError && e.code === 'argument/invalid';
    assert.throws(() => buildToolCallGrammar(TOOL_FORMATS.hermes, TOOLS, { toolChoice: { type: 'function', function: { name: 'x' } }, parallel: true }, new FakeBuilder()), invalid);
    assert.throws(() => buildToolCallGrammar(TOOL_FORMATS.hermes, [], { toolChoice: 'required', parallel: true }, new FakeBuilder()), invalid);
  });

  test('a tool without parameters takes an empty object; rule names are made of the name\'s letters and digits', () => {
    const b = new FakeBuilder();
    buildToolCallGrammar(TOOL_FORMATS.hermes, [{ type: 'function', function: { name: 'now.utc_time' } }], { toolChoice: 'auto', parallel: true }, b);
    assert.deepEqual(b.schemas.get('now-utc-time-call'), {
      type: 'object',
      properties: { name: { const: 'now.utc_time' }, arguments: { type: 'object', properties: {} } },
      required: ['name', 'arguments'],
    });
  });

  test('GBNF literals escape quotes, backslashes and control characters and keep other text', () => {
    assert.equal(gbnfLiteral('a"b\\c\nd\te\x01ü｜'), '"a\\"b\\\\c\\nd\\te\\x01ü｜"');
  });
});

// test/fixtures/tool-grammars.json (scripts/oracle/make-tool-grammar-fixtures.ts):
// llama.cpp's grammar parser judged these grammars on the calls the real
// templates write and on text they must refuse.
describe('llama.cpp judges the grammars', () => {
  interface Fixture {
    generator: string;
    cases: {
      name: string;
      format: { template: string } | { mistralCallIds: boolean };
      options: ToolGrammarOptions;
      grammar: string;
      verdicts: { text: string; expected: boolean; llama: boolean }[];
    }[];
  }
  const fixture = JSON.parse(readFileSync(join(resolve(import.meta.dirname, '../..'), 'test/fixtures/tool-grammars.json'), 'utf8')) as Fixture;
  for (const c of fixture.cases) {
    test(`${c.name}: Hob builds the grammar llama.cpp judged, which accepts the templates' calls and refuses the rest`, () => {
      const format = 'template' in c.format ? detectToolFormat(template(c.format.template)) : mistralFormat(c.format.mistralCallIds);
      const b = new SchemaGrammarBuilder();
      const g = buildToolCallGrammar(format, TOOLS, c.options, b)!;
      assert.equal(b.text(g.root), c.grammar, 'the grammar changed: regenerate the fixture');
      for (const v of c.verdicts) assert.equal(v.llama, v.expected, `${v.expected ? 'refused' : 'accepted'}: ${JSON.stringify(v.text)}`);
      assert.ok(c.verdicts.some((v) => v.expected) && c.verdicts.some((v) => !v.expected));
    });
  }
});
