// JSON in model output: an incremental scanner that says where a JSON object
// or array ends as text streams in (each character looked at once), and a
// parser that returns, with the value, the exact text of every object member,
// so that tool-call arguments keep the model's own spelling. Both have a
// depth limit: model text is untrusted and must not blow the stack.

/** Deeper nesting than this is malformed (as far as Hob is concerned). */
export const MAX_JSON_DEPTH = 128;

export class JsonSyntaxError extends Error {}

/**
 * Finds the end of one JSON object or array in text fed piece by piece.
 * It checks brackets and strings only; the parser checks the rest once the
 * value is whole.
 */
export class JsonScanner {
  private readonly stack: number[] = [];
  private inString = false;
  private escaped = false;
  private started = false;
  /** True once the value's closing bracket has been read. */
  done = false;
  /** Where the last feed stopped: the offending character after a throw. */
  at = 0;

  /** Reads text[from..to) and returns the index just past the value's end
   *  if it ends there, else -1 (everything read). Throws JsonSyntaxError. */
  feed(text: string, from: number, to: number): number {
    for (let i = from; i < to; i++) {
      this.at = i;
      const c = text.charCodeAt(i);
      if (!this.started) {
        if (c !== 0x7b && c !== 0x5b) throw new JsonSyntaxError('expected { or [');
        this.started = true;
        this.stack.push(c === 0x7b ? 0x7d : 0x5d);
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        else if (c < 0x20) throw new JsonSyntaxError('control character in a string');
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (this.stack.length >= MAX_JSON_DEPTH) throw new JsonSyntaxError('nested too deep');
        this.stack.push(c === 0x7b ? 0x7d : 0x5d);
      } else if (c === 0x7d || c === 0x5d) {
        if (this.stack.pop() !== c) throw new JsonSyntaxError('mismatched bracket');
        if (this.stack.length === 0) {
          this.done = true;
          return i + 1;
        }
      }
    }
    this.at = to;
    return -1;
  }
}

/** A parsed value with where its text is; objects keep each member's node. */
export interface JsonNode {
  readonly value: unknown;
  readonly start: number;
  readonly end: number;
  readonly members?: ReadonlyMap<string, JsonNode>;
  readonly items?: readonly JsonNode[];
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Parses the JSON value that starts at `start` (after optional
 *  whitespace) and returns it with its spans. Throws JsonSyntaxError. */
export function parseJsonAt(text: string, start: number): JsonNode {
  let i = start;
  const ws = (): void => {
    while (i < text.length && isWs(text.charCodeAt(i))) i++;
  };
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at ${i}`);
  };
  const str = (): string => {
    const s = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      i += c === 0x5c ? 2 : 1;
    }
    i++;
    try {
      return JSON.parse(text.slice(s, i)) as string;
    } catch {
      return fail('bad string');
    }
  };
  const value = (depth: number): JsonNode => {
    if (depth > MAX_JSON_DEPTH) fail('nested too deep');
    ws();
    const s = i;
    const c = text.charCodeAt(i);
    if (c === 0x7b) {
      i++;
      const members = new Map<string, JsonNode>();
      const obj: Record<string, unknown> = {};
      ws();
      if (text.charCodeAt(i) === 0x7d) i++;
      else {
        for (;;) {
          ws();
          if (text.charCodeAt(i) !== 0x22) fail('expected a key');
          const key = str();
          ws();
          if (text.charCodeAt(i) !== 0x3a) fail('expected :');
          i++;
          const v = value(depth + 1);
          members.set(key, v);
          obj[key] = v.value;
          ws();
          const d = text.charCodeAt(i++);
          if (d === 0x7d) break;
          if (d !== 0x2c) fail('expected , or }');
        }
      }
      return { value: obj, start: s, end: i, members };
    }
    if (c === 0x5b) {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text.charCodeAt(i) === 0x5d) i++;
      else {
        for (;;) {
          items.push(value(depth + 1));
          ws();
          const d = text.charCodeAt(i++);
          if (d === 0x5d) break;
          if (d !== 0x2c) fail('expected , or ]');
        }
      }
      return { value: items.map((n) => n.value), start: s, end: i, items };
    }
    if (c === 0x22) return { value: str(), start: s, end: i };
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return { value: v, start: s, end: i };
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail('unexpected character');
    i += m[0].length;
    return { value: Number(m[0]), start: s, end: i };
  };
  return value(0);
}
