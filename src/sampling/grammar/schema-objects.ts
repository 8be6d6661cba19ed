// The two object rules of llama.cpp's converter, from rules already made:
// the object body (required properties in their order, then the optional
// ones, each free to be left out, then the additional ones) and the key of
// an additional property (a JSON string that is none of the listed names).
// The converter visits the property schemas and names the rules.

/** A property of the object rule: its key-value rule, and whether it stands
 * for all the additional properties (which may repeat). */
export interface ObjectMember {
  kv: string;
  key: string;
  additional: boolean;
}

/** llama.cpp's _build_object_rule, given the key-value rules. `addRest`
 * adds the rule for what may follow optional property `key` and returns
 * its name; each is made once (llama.cpp rebuilds them for every optional
 * property, quadratic in their number, and gets the same rules). */
export function objectBody(required: string[], optional: ObjectMember[], addRest: (key: string, body: string) => string): string {
  if (required.length === 0 && optional.length === 0) return '"{" space "}"';
  let rule = '"{" space ' + required.join(' "," space ');
  if (optional.length > 0) {
    const restNames: (string | undefined)[] = [];
    // chain(i): optional member i and then any of those after it, in order.
    const chain = (i: number, firstOptional: boolean): string => {
      const m = optional[i];
      const comma = `( "," space ${m.kv} )`;
      let res = firstOptional ? comma + (m.additional ? '*' : '?') : m.kv + (m.additional ? ' ' + comma + '*' : '');
      if (i + 1 < optional.length) res += ' ' + rest(i + 1);
      return res;
    };
    const rest = (j: number): string => {
      restNames[j] ??= addRest(optional[j - 1].key, chain(j, true));
      return restNames[j]!;
    };
    rule += ' (';
    if (required.length > 0) rule += ' "," space ( ';
    rule += optional.map((_, i) => chain(i, false)).join(' | ');
    if (required.length > 0) rule += ' )';
    rule += ' )?';
  }
  return rule + ' space "}"';
}

interface TrieNode {
  children: Map<number, TrieNode>;
  end: boolean;
}

/** llama.cpp's _not_strings: a JSON string (its characters through
 * `charRule`) that is none of `names`, as a trie of their characters: a
 * prefix of a name is left out too, which only narrows the keys generated.
 * By code points, with class characters escaped (llama.cpp writes bytes
 * raw, which breaks on non-ASCII names and on ']', and turns '-' into a
 * range), and without recursion, so that a long name cannot exhaust the
 * stack. Null if a name holds a quote, backslash or control character,
 * which the trie of decoded characters cannot exclude from encoded keys. */
export function notStringsBody(names: string[], charRule: string): string | null {
  const root: TrieNode = { children: new Map(), end: false };
  for (const n of names) {
    if (/["\\\x00-\x1f]/.test(n)) return null;
    let node = root;
    for (const ch of n) {
      const cp = ch.codePointAt(0)!;
      let next = node.children.get(cp);
      if (!next) node.children.set(cp, (next = { children: new Map(), end: false }));
      node = next;
    }
    node.end = true;
  }
  // Only "" is taken (llama.cpp then admits only ""): any non-empty key.
  if (root.children.size === 0) return `["] ${charRule}+ ["]`;
  const one = (cp: number): string => (cp === 0x5d ? '\\]' : cp === 0x5e ? '\\x5E' : String.fromCodePoint(cp));
  const rejected = (cp: number, last: boolean): string => (cp === 0x2d && !last ? '\\x2D' : cp === 0x5d ? '\\]' : String.fromCodePoint(cp));
  const out: string[] = ['["] ( '];
  const stack: { node: TrieNode; keys: number[]; next: number }[] = [];
  const open = (node: TrieNode): void => {
    stack.push({ node, keys: [...node.children.keys()].sort((a, b) => a - b), next: 0 });
  };
  open(root);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next < frame.keys.length) {
      const cp = frame.keys[frame.next++];
      if (frame.next > 1) out.push(' | ');
      out.push(`[${one(cp)}]`);
      const child = frame.node.children.get(cp)!;
      if (child.children.size > 0) {
        out.push(' (');
        open(child);
      } else if (child.end) {
        out.push(` ${charRule}+`);
      }
      continue;
    }
    const rejects = frame.keys.map((cp, i) => rejected(cp, i === frame.keys.length - 1)).join('');
    out.push(` | [^"${rejects}] ${charRule}*`);
    stack.pop();
    if (stack.length > 0) out.push(')');
  }
  out.push(' )', root.end ? '' : '?', ' ["]');
  return out.join('');
}
