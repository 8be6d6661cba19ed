// Reading text that streams in: a cursor over the pieces received so far,
// whose readers are generators that yield whenever they need more text, so
// that a block split anywhere is read once, each character as it arrives.
// A reader throws Malformed when the text is not what it expects.
import { JsonScanner, JsonSyntaxError, parseJsonAt, type JsonNode } from './json-scan.js';

export class Malformed extends Error {}

/** A reader step: yields (nothing) to ask for more text, returns its result. */
export type Step<T> = Generator<void, T, void>;

export const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** A JSON value read from a block: its text, and the parse with spans into that text. */
export interface JsonRead {
  text: string;
  node: JsonNode;
}

/**
 * The text of one block as it arrives, and how far readers got. The text is
 * kept as the pieces it came in: a string grown by appending and read by
 * index would be copied whole by the JS engine on every read after an
 * append (a rope flattened), which makes a reply pushed token by token
 * quadratic. Reads go through code() and slice().
 */
export class Cursor {
  private readonly chunks: string[] = [];
  private readonly starts: number[] = [];
  private hint = 0;
  /** Characters received. */
  length = 0;
  pos = 0;
  /** No more text will come: readers finish or fail instead of yielding. */
  ended = false;
  /** Where the text not yet taken as calls or content starts. */
  mark = 0;
  /** The furthest character a reader looked at and rejected: on failure,
   *  text before it is content and reading resumes there, so no character
   *  is read twice however a reply fails. */
  far = 0;

  append(s: string): void {
    if (!s) return;
    this.starts.push(this.length);
    this.chunks.push(s);
    this.length += s.length;
  }

  // The piece holding character i (i < length); reads go mostly forward.
  private locate(i: number): number {
    const { starts, chunks } = this;
    for (let k = this.hint; k < this.hint + 2 && k < chunks.length; k++) {
      if (starts[k] <= i && i < starts[k] + chunks[k].length) return (this.hint = k);
    }
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return (this.hint = lo);
  }

  code(i: number): number {
    const k = this.locate(i);
    return this.chunks[k].charCodeAt(i - this.starts[k]);
  }

  slice(from: number, to = this.length): string {
    let out = '';
    for (let i = from; i < to; ) {
      const k = this.locate(i);
      const end = Math.min(this.chunks[k].length, to - this.starts[k]);
      out += this.chunks[k].slice(i - this.starts[k], end);
      i = this.starts[k] + end;
    }
    return out;
  }

  fail(at: number, why: string): never {
    this.far = Math.max(this.far, at);
    throw new Malformed(why);
  }

  /** Waits for a character at pos; false at the end of the text. */
  *more(): Step<boolean> {
    while (this.pos >= this.length) {
      if (this.ended) return false;
      yield;
    }
    return true;
  }

  *peek(): Step<string> {
    return (yield* this.more()) ? String.fromCharCode(this.code(this.pos)) : '';
  }

  *ws(): Step<void> {
    while ((yield* this.more()) && isWs(this.code(this.pos))) this.pos++;
  }

  /** Reads `s` if the text goes on with it; false (nothing read) if not. */
  *optional(s: string): Step<boolean> {
    for (;;) {
      const n = Math.min(this.length - this.pos, s.length);
      let k = 0;
      while (k < n && this.code(this.pos + k) === s.charCodeAt(k)) k++;
      if (k < n) {
        this.far = Math.max(this.far, this.pos + k);
        return false;
      }
      if (n === s.length) {
        this.pos += n;
        return true;
      }
      if (this.ended) return false;
      yield;
    }
  }

  *literal(s: string): Step<void> {
    if (!(yield* this.optional(s))) this.fail(this.ended ? this.length : this.far, `expected ${s}`);
  }

  /** Reads a JSON object or array, each character scanned once as it comes. */
  *json(): Step<JsonRead> {
    const scanner = new JsonScanner();
    const start = this.pos;
    let i = start;
    for (;;) {
      let end = -1;
      while (end < 0 && i < this.length) {
        const k = this.locate(i);
        const base = this.starts[k];
        try {
          const r = scanner.feed(this.chunks[k], i - base, this.chunks[k].length);
          if (r >= 0) end = base + r;
        } catch (e) {
          return this.fail(base + scanner.at, (e as Error).message);
        }
        i = base + this.chunks[k].length;
      }
      if (end >= 0) {
        this.pos = end;
        const text = this.slice(start, end);
        try {
          return { text, node: parseJsonAt(text, 0) };
        } catch (e) {
          if (e instanceof JsonSyntaxError) this.fail(end, e.message);
          throw e;
        }
      }
      if (this.ended) this.fail(this.length, 'unterminated JSON');
      yield;
    }
  }

  /** Reads text up to the first of `stops` (read too, and returned), at
   *  most `maxLength` characters of it. */
  *until(stops: readonly string[], maxLength: number): Step<{ text: string; stop: string }> {
    const longest = Math.max(...stops.map((s) => s.length));
    for (;;) {
      const window = this.slice(this.pos, Math.min(this.length, this.pos + maxLength + longest));
      let at = -1;
      let stop = '';
      for (const s of stops) {
        const k = window.indexOf(s);
        if (k >= 0 && k <= maxLength && (at < 0 || k < at)) [at, stop] = [k, s];
      }
      if (at >= 0) {
        this.pos += at + stop.length;
        return { text: window.slice(0, at), stop };
      }
      if (this.length - this.pos >= maxLength + longest) this.fail(this.pos + maxLength, 'too long');
      if (this.ended) this.fail(this.length, `expected ${stops.join(' or ')}`);
      yield;
    }
  }

  /** Reads a JSON string, handing its decoded text to `emit` as it comes. */
  *stringTo(emit: (text: string) => void): Step<void> {
    yield* this.literal('"');
    for (;;) {
      let out = '';
      while (this.pos < this.length) {
        const c = this.code(this.pos);
        if (c === 0x22) {
          this.pos++;
          if (out) emit(out);
          return;
        }
        if (c < 0x20) this.fail(this.pos, 'control character in a string');
        if (c !== 0x5c) {
          let j = this.pos + 1;
          while (j < this.length) {
            const d = this.code(j);
            if (d === 0x22 || d === 0x5c || d < 0x20) break;
            j++;
          }
          out += this.slice(this.pos, j);
          this.pos = j;
          continue;
        }
        // An escape is decoded whole; a surrogate pair waits for its second half.
        const e = this.escapeLength();
        if (e === 0) break;
        out += JSON.parse('"' + this.slice(this.pos, this.pos + e) + '"') as string;
        this.pos += e;
      }
      if (out) emit(out);
      if (this.ended) this.fail(this.length, 'unterminated string');
      yield;
    }
  }

  // The length of the escape at pos, 0 if it is not all here yet.
  private escapeLength(): number {
    const p = this.pos;
    const b = this.slice(p, Math.min(this.length, p + 12));
    if (b.length < 2) return 0;
    const k = b[1];
    if ('"\\/bfnrt'.includes(k)) return 2;
    if (k !== 'u') this.fail(p, 'bad escape');
    if (b.length < 6) return 0;
    if (!/^[0-9a-fA-F]{4}$/.test(b.slice(2, 6))) this.fail(p, 'bad escape');
    const code = parseInt(b.slice(2, 6), 16);
    if (code < 0xd800 || code > 0xdbff) return 6;
    if (b.length < 12) return this.ended ? 6 : 0;
    return /^\\u[dD][c-fC-F][0-9a-fA-F]{2}$/.test(b.slice(6, 12)) ? 12 : 6;
  }
}

