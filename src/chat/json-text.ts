// JSON written the way chat templates write it. Templates serialise with
// Python's json.dumps (through Jinja's tojson): ", " between items and ": "
// after keys. Text that Hob writes into a prompt on a template's behalf (tool
// calls a template cannot render, tool lists it cannot describe) uses the same
// spacing, so the model sees what it was trained on.

/** `value` as json.dumps writes it: ", " and ": " separators, or with
 *  `indent` one item a line. Non-ASCII text is kept as is (ensure_ascii off,
 *  as Jinja's tojson in transformers). */
export function toJsonText(value: unknown, indent?: number): string {
  return write(value, indent, '');
}

function write(value: unknown, indent: number | undefined, pad: string): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const inner = indent === undefined ? '' : pad + ' '.repeat(indent);
  const open = indent === undefined ? '' : '\n' + inner;
  const sep = indent === undefined ? ', ' : ',\n' + inner;
  const close = indent === undefined ? '' : '\n' + pad;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return '[' + open + value.map((v) => write(v, indent, inner)).join(sep) + close + ']';
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return '{' + open + entries.map(([k, v]) => JSON.stringify(k) + ': ' + write(v, indent, inner)).join(sep) + close + '}';
}
