// Where a $ref points: a JSON pointer within the schema that holds it
// ("#/$defs/item", "#/properties/a/anyOf/0", "#" for the whole schema).
// Remote references are refused, never fetched; anchors ("#name") are not
// supported. The converter decides what a reference becomes in the grammar.
import { escapePointer, schemaError } from './schema-errors.js';
import { isPlainObject } from './schema-rules.js';

/** The value `ref` points to in `root`, and its JSON pointer (for errors). */
export function resolvePointer(root: unknown, ref: unknown, at: string): { node: unknown; pointer: string } {
  if (typeof ref !== 'string') throw schemaError('$ref', at, '$ref must be a string');
  if (!ref.startsWith('#')) throw schemaError('$ref', at, `remote $ref ${JSON.stringify(ref)} refused: only references within the schema (#/...) resolve`);
  const fragment = ref.slice(1);
  if (fragment !== '' && fragment[0] !== '/') throw schemaError('$ref', at, `$ref ${JSON.stringify(ref)}: anchors are not supported, only JSON pointers (#/...)`);
  let node = root;
  let pointer = '';
  for (const raw of fragment === '' ? [] : fragment.slice(1).split('/')) {
    let token: string;
    try {
      // A pointer in a URI fragment: percent-decoded first, then ~1 and ~0.
      token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      throw schemaError('$ref', at, `$ref ${JSON.stringify(ref)} is not a valid URI fragment`);
    }
    if (Array.isArray(node) && /^(0|[1-9][0-9]*)$/.test(token) && Number(token) < node.length) node = node[Number(token)];
    else if (isPlainObject(node) && Object.hasOwn(node, token)) node = node[token];
    else throw schemaError('$ref', at, `$ref ${JSON.stringify(ref)} points to nothing (no "${token}" at ${pointer || '/'})`);
    pointer += '/' + escapePointer(token);
  }
  return { node, pointer };
}
