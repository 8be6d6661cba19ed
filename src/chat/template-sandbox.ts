// Chat templates come inside model files, so they are rendered as untrusted
// programs (llama-cpp-python's CVE-2024-34359 was a template injection). The
// interpreter is @huggingface/jinja's, run here on a budget: every evaluated
// node, loop turn and serialized value costs steps; every string, list and
// block output has a maximum size, checked before the work that would build
// it where the size can be known in advance; evaluation nests to a maximum
// depth; the wall time is checked as the steps are counted. Running out is a
// TemplateError 'template/limit' naming the budget; a template's own
// raise_exception(...) is a TemplateError 'template/error' with its message.
// This file owns the budget; template.ts owns what is rendered.
import { Environment, Interpreter, Template } from '@huggingface/jinja';

import { TemplateError } from '../shared/errors.js';

export interface TemplateBudget {
  /** Evaluated nodes, loop turns and serialized elements (a 1 KiB string counts as one). */
  maxSteps: number;
  /** Characters of any string value, block or loop output, and the result. */
  maxOutputChars: number;
  /** Elements of any list (range(), split(), list). */
  maxItems: number;
  /** Nested evaluations (macro recursion, nested expressions and statements). */
  maxDepth: number;
  /** Wall time of one render. */
  maxTimeMs: number;
  /** Characters of the template's source. */
  maxSourceChars: number;
}

/**
 * The budget of every render. Real templates stay far inside it: Qwen 3's
 * renders a 200-turn conversation in about 11,000 steps, and a
 * prompt that fills a 128k-token context is about half a million
 * characters. The time limit is the backstop for what steps cannot see.
 */
export const DEFAULT_TEMPLATE_BUDGET: Readonly<TemplateBudget> = {
  maxSteps: 1_000_000,
  maxOutputChars: 4 << 20,
  maxItems: 100_000,
  maxDepth: 400,
  maxTimeMs: 3_000,
  maxSourceChars: 1 << 20,
};

type Budgeted = 'steps' | 'output' | 'items' | 'depth' | 'time' | 'source';

// The interpreter's values and nodes, as far as this file reads them. The
// package exports neither their types nor their classes.
interface Value {
  type: string;
  value: unknown;
  toString(): string;
}
interface Node {
  type: string;
  [field: string]: unknown;
}
/** The interpreter's methods this file wraps: TypeScript-private in the
 * package, so reached through this view (checked at construction). */
interface Internals {
  evaluate(node: Node | undefined, env: Environment): Value;
  evaluateBlock(statements: Node[], env: Environment): Value;
  applyFilter(operand: Value, filter: Node, env: Environment): Value;
  evaluateArguments(args: Node[], env: Environment): [Value[], Map<string, Value>];
}

/** A node that evaluates to a value already computed (see guardedConcat). */
const VALUE_NODE = 'HobEvaluatedValue';
/** Filters whose cost does not depend on the size of what they filter. */
const CHEAP_FILTERS = new Set(['length', 'count', 'first', 'last', 'default', 'd', 'safe', 'bool', 'int', 'float', 'abs', 'trim']);
/** Steps a loop turn costs: measured, it takes as long as about five evaluated nodes. */
const LOOP_TURN_STEPS = 5;
const STRUCTURES = new Set(['ArrayValue', 'TupleValue', 'ObjectValue', 'KeywordArgumentsValue', 'NamespaceValue']);

function limitError(what: Budgeted, budget: TemplateBudget, detail: string): TemplateError {
  const names: Record<Budgeted, [string, number]> = {
    steps: ['steps', budget.maxSteps],
    output: ['output characters', budget.maxOutputChars],
    items: ['list items', budget.maxItems],
    depth: ['nesting depth', budget.maxDepth],
    time: ['milliseconds', budget.maxTimeMs],
    source: ['source characters', budget.maxSourceChars],
  };
  const [unit, max] = names[what];
  return new TemplateError('template/limit', `the chat template ran past its budget of ${max} ${unit} (${detail})`, {
    budget: what,
    limit: max,
  });
}

/** One render's counters. */
class Meter {
  private steps = 0;
  private nextClock: number;
  private readonly deadline: number;

  constructor(readonly budget: TemplateBudget) {
    this.deadline = performance.now() + budget.maxTimeMs;
    this.nextClock = 256;
  }

  charge(n: number, what: string): void {
    this.steps += n;
    if (this.steps > this.budget.maxSteps) throw limitError('steps', this.budget, what);
    if (this.steps >= this.nextClock) {
      this.nextClock = this.steps + 256;
      if (performance.now() > this.deadline) throw limitError('time', this.budget, what);
    }
  }

  chars(n: number, what: string): void {
    if (n > this.budget.maxOutputChars) throw limitError('output', this.budget, `${what} of ${n} characters`);
  }

  items(n: number, what: string): void {
    if (n > this.budget.maxItems) throw limitError('items', this.budget, `${what} of ${n} items`);
  }

  /**
   * The size of a value written out (as toString or tojson would), its
   * element count and nesting depth, walked without recursion and paid for
   * in steps: a list holding the same big list ten times over is as
   * expensive to measure as to write, and fails here instead.
   */
  measure(v: Value, what: string): { chars: number; nodes: number; depth: number } {
    let chars = 0;
    let nodes = 0;
    let depth = 0;
    const stack: [Value, number][] = [[v, 0]];
    while (stack.length > 0) {
      const [x, d] = stack.pop()!;
      nodes++;
      depth = Math.max(depth, d);
      if (d > this.budget.maxDepth) throw limitError('depth', this.budget, `${what} nested ${d} deep`);
      if (typeof x.value === 'string') {
        chars += x.value.length + 2;
        this.charge(1 + (x.value.length >> 10), what);
      } else {
        this.charge(1, what);
        if (STRUCTURES.has(x.type) && Array.isArray(x.value)) {
          chars += 2 + x.value.length;
          for (const e of x.value as Value[]) stack.push([e, d + 1]);
        } else if (STRUCTURES.has(x.type) && x.value instanceof Map) {
          chars += 2;
          for (const [k, e] of x.value as Map<string, Value>) {
            chars += k.length + 4;
            stack.push([e, d + 1]);
          }
        } else {
          chars += String(x.value).length;
        }
      }
      this.chars(chars, what);
    }
    return { chars, nodes, depth };
  }

  /** What a value adds to a string it is concatenated into. */
  textSize(v: Value, what: string): number {
    if (typeof v.value === 'string') return v.value.length;
    if (STRUCTURES.has(v.type)) return this.measure(v, what).chars;
    return 32;
  }
}

/** A render in progress (renders are synchronous, so one at a time). */
let active: Meter | undefined;

/**
 * String methods that can make a result far larger than their inputs
 * (replace with an empty pattern, split into one-character parts) are checked
 * before they run. They live on the package's StringValue class, reached
 * through a value it makes; outside a render they behave as before.
 */
function guardStringMethods(probe: Interpreter, env: Environment): void {
  const proto = Object.getPrototypeOf(probe.evaluate({ type: 'StringLiteral', value: '' } as never, env)) as object;
  const getter = Object.getOwnPropertyDescriptor(proto, 'builtins')?.get;
  if (!getter || (proto as { hobGuarded?: boolean }).hobGuarded) return;
  const guarded = new WeakSet<Map<string, Value>>();
  Object.defineProperty(proto, 'hobGuarded', { value: true });
  Object.defineProperty(proto, 'builtins', {
    configurable: true,
    get(this: Value) {
      const map = getter.call(this) as Map<string, Value>;
      if (guarded.has(map)) return map;
      guarded.add(map);
      const text = this.value as string;
      for (const name of ['replace', 'split'] as const) {
        const fn = map.get(name) as (Value & { value: (args: Value[], env: Environment) => Value }) | undefined;
        if (!fn) continue;
        const Fn = fn.constructor as new (f: (args: Value[], env: Environment) => Value) => Value;
        map.set(
          name,
          new Fn((args, scope) => {
            if (active) (name === 'replace' ? checkReplace : checkSplit)(active, text, args);
            return fn.value(args, scope);
          }),
        );
      }
      return map;
    },
  });
}

function occurrences(text: string, pattern: string, max: number): number {
  if (pattern === '') return text.length + 1;
  let n = 0;
  for (let i = text.indexOf(pattern); i >= 0 && n <= max; i = text.indexOf(pattern, i + pattern.length)) n++;
  return n;
}

function checkReplace(meter: Meter, text: string, args: Value[]): void {
  const [from, to] = args;
  if (typeof from?.value !== 'string' || typeof to?.value !== 'string') return;
  const grow = to.value.length - from.value.length;
  if (grow <= 0) return;
  const n = occurrences(text, from.value, Math.ceil(meter.budget.maxOutputChars / grow) + 1);
  meter.charge(1 + (text.length >> 10), 'replace()');
  meter.chars(text.length + n * grow, 'the result of replace()');
}

function checkSplit(meter: Meter, text: string, args: Value[]): void {
  const sep = args[0];
  meter.charge(1 + (text.length >> 10), 'split()');
  if (typeof sep?.value === 'string' && sep.value !== '') meter.items(occurrences(text, sep.value, meter.budget.maxItems) + 1, 'split()');
  else meter.items(text.length, 'split()');
}

let guardedOnce = false;

/** Parses a template's source within the budget's size and nesting. */
export function parseTemplate(source: string, budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET): Template {
  if (source.length > budget.maxSourceChars) throw limitError('source', budget, `a template of ${source.length} characters`);
  try {
    return new Template(source);
  } catch (e) {
    if (isStackOverflow(e)) throw limitError('depth', budget, 'the template nests too deeply to parse');
    throw e;
  }
}

function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

/**
 * Renders a parsed template with `context` as its variables, within the
 * budget. Errors: TemplateError 'template/limit' past the budget,
 * 'template/error' for the template's raise_exception() and for anything
 * else that stops the render (its message is the interpreter's).
 */
export function renderTemplate(template: Template, context: Record<string, unknown>, budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET): string {
  const env = new Environment();
  // The package's setupGlobals, without the unbounded range() and with a
  // raise_exception() whose message reaches the caller as the template's.
  for (const [k, v] of [['true', true], ['false', false], ['none', null], ['True', true], ['False', false], ['None', null]] as const) env.set(k, v);
  env.set('raise_exception', (message?: unknown) => {
    throw new TemplateError('template/error', `the chat template raised an exception: ${String(message ?? '')}`, {
      message: String(message ?? ''),
    });
  });
  env.set('range', boundedRange);
  env.set('strftime_now', strftimeNow);
  for (const [k, v] of Object.entries(context)) env.set(k, v);

  const interpreter = new Interpreter(env);
  if (!guardedOnce) {
    guardStringMethods(interpreter, env);
    guardedOnce = true;
  }
  const meter = new Meter(budget);
  sandbox(interpreter, meter);
  const outer = active;
  active = meter;
  try {
    const out = interpreter.run(template.parsed) as unknown as Value;
    const text = String(out.value);
    meter.chars(text.length, 'the rendered prompt');
    return text;
  } catch (e) {
    if (e instanceof TemplateError) throw e;
    if (isStackOverflow(e)) throw limitError('depth', budget, 'the call stack ran out');
    if (e instanceof RangeError && /string length|array length/i.test(e.message)) throw limitError('output', budget, e.message);
    throw new TemplateError('template/error', `the chat template failed: ${(e as Error).message}`, {});
  } finally {
    active = outer;
  }
}

/** Today's date and time in the few strftime codes templates use (Llama 3's "%d %b %Y"), as the package writes them. */
function strftimeNow(format: unknown): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => new Intl.DateTimeFormat(undefined, { month: style }).format(d);
  return String(format).replace(/%[YmdbBHM%]/g, (t) =>
    t === '%Y' ? String(d.getFullYear()) : t === '%m' ? pad(d.getMonth() + 1) : t === '%d' ? pad(d.getDate()) : t === '%b' ? month('short')
      : t === '%B' ? month('long') : t === '%H' ? pad(d.getHours()) : t === '%M' ? pad(d.getMinutes()) : '%');
}

/** Python's range(), paid for in steps and items before any list is made. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  for (const [name, v] of [['start', start], ['stop', stop], ['step', step]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`range() ${name} must be a number, got ${String(v)}`);
  }
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (active) {
    active.items(n, 'range()');
    active.charge(n, `range() of ${n} numbers`);
  }
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return out;
}

/** Puts the interpreter on the meter: its own methods, wrapped on this instance. */
function sandbox(interpreter: Interpreter, meter: Meter): void {
  const self = interpreter as unknown as Internals;
  for (const name of ['evaluate', 'evaluateBlock', 'applyFilter', 'evaluateArguments'] as const) {
    if (typeof self[name] !== 'function') throw new TemplateError('template/error', `@huggingface/jinja has no Interpreter.${name}: the template sandbox does not fit this version`);
  }
  const evaluate = self.evaluate.bind(self);
  const applyFilter = self.applyFilter.bind(self);
  const evaluateArguments = self.evaluateArguments.bind(self);
  const budget = meter.budget;
  let depth = 0;
  // Loops being evaluated, innermost last, with the output of their turns so far.
  const loops: { body: unknown; chars: number }[] = [];

  self.evaluate = (node, env) => {
    if (node?.type === VALUE_NODE) return node.value as Value;
    meter.charge(1, node?.type ?? 'a node');
    if (++depth > budget.maxDepth) {
      depth--;
      throw limitError('depth', budget, `${node?.type ?? 'a node'} nested ${depth + 1} deep`);
    }
    const loop = node?.type === 'For' ? { body: node.body, chars: 0 } : undefined;
    if (loop) loops.push(loop);
    try {
      const v = node?.type === 'BinaryExpression' ? guardedConcat(node, env) : evaluate(node, env);
      if (typeof v.value === 'string') meter.chars(v.value.length, 'a string');
      else if (Array.isArray(v.value)) meter.items(v.value.length, 'a list');
      return v;
    } finally {
      depth--;
      if (loop) loops.pop();
    }
  };

  /** `~` and `+` write both sides into one string: their sizes are checked first. */
  const guardedConcat = (node: Node, env: Environment): Value => {
    const op = (node.operator as { value: string }).value;
    if (op !== '~' && op !== '+') return evaluate(node, env);
    const left = self.evaluate(node.left as Node, env);
    const right = self.evaluate(node.right as Node, env);
    if (op === '~' || typeof left.value === 'string' || typeof right.value === 'string' || STRUCTURES.has(left.type) !== STRUCTURES.has(right.type)) {
      meter.chars(meter.textSize(left, `the left side of ${op}`) + meter.textSize(right, `the right side of ${op}`), `the result of ${op}`);
    } else if (Array.isArray(left.value) && Array.isArray(right.value)) {
      meter.items(left.value.length + right.value.length, `the result of ${op}`);
    }
    return evaluate({ ...node, left: { type: VALUE_NODE, value: left }, right: { type: VALUE_NODE, value: right } }, env);
  };

  // The package's evaluateBlock, with the output counted as it grows, values
  // measured before they are written out, and each loop turn paid for.
  self.evaluateBlock = (statements, env) => {
    const loop = loops.at(-1)?.body === statements ? loops.at(-1) : undefined;
    // A loop turn (a scope and a loop object made) costs about five nodes.
    meter.charge(loop ? LOOP_TURN_STEPS : 1, loop ? 'a loop turn' : 'a block');
    let result = '';
    for (const statement of statements) {
      const v = self.evaluate(statement, env);
      if (v.type === 'NullValue' || v.type === 'UndefinedValue') continue;
      meter.chars(result.length + meter.textSize(v, 'a value written out'), 'a block');
      result += v.toString();
    }
    if (loop) {
      loop.chars += result.length;
      meter.chars(loop.chars, 'a loop');
    }
    return evaluate({ type: 'StringLiteral', value: result }, env);
  };

  self.applyFilter = (operand, filter, env) => {
    const name = filter.type === 'Identifier' ? (filter.value as string) : ((filter.callee as Node | undefined)?.value as string | undefined) ?? '';
    if (!CHEAP_FILTERS.has(name)) {
      const size = meter.measure(operand, `the operand of |${name}`);
      if (name === 'list' && typeof operand.value === 'string') meter.items(operand.value.length, '|list');
      if (filter.type === 'CallExpression' && (name === 'join' || name === 'indent' || name === 'tojson')) {
        const [args, kwargs] = evaluateArguments(filter.args as Node[], env);
        const arg = (i: number, key: string) => args[i] ?? kwargs.get(key);
        if (name === 'join') {
          const sep = arg(0, 'separator');
          const n = Array.isArray(operand.value) ? operand.value.length : String(operand.value).length;
          meter.chars(size.chars + n * (typeof sep?.value === 'string' ? sep.value.length : 0), 'the result of |join');
        } else if (name === 'indent') {
          const width = arg(0, 'width');
          const lines = typeof operand.value === 'string' ? occurrences(operand.value, '\n', budget.maxOutputChars) + 1 : 1;
          const w = typeof width?.value === 'number' ? width.value : typeof width?.value === 'string' ? width.value.length : 4;
          meter.chars(size.chars + lines * Math.max(0, w), 'the result of |indent');
        } else {
          const indent = kwargs.get('indent');
          const w = typeof indent?.value === 'number' ? Math.max(0, indent.value) : 0;
          meter.chars(size.chars + size.nodes * (1 + w * (size.depth + 1)), 'the result of |tojson');
        }
      }
    }
    return applyFilter(operand, filter, env);
  };
}
