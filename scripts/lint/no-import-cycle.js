// An ESLint rule that reports every import which closes a circle between
// modules of one source tree, type-only imports included: a type shared by
// two modules belongs in a third below both, not in either of them. It
// builds the import graph of the whole tree once per lint run (TypeScript's
// preProcessFile reads each file's imports, relative specifiers are resolved
// to .ts files) and flags imports whose target lies in the importer's
// strongly connected component, naming one circle through them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import ts from 'typescript';

/** Files of the tree (absolute) → the files they import. */
const graphs = new Map();

function tsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The .ts file a relative specifier names, or null. */
export function resolveSpecifier(from, spec) {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec);
  for (const c of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (c.endsWith('.ts') && existsSync(c)) return c;
  }
  return null;
}

/** Tarjan's strongly connected components; returns file → its component. */
function components(edges) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const comp = new Map();
  let next = 0;
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const members = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        members.push(w);
      } while (w !== v);
      const set = new Set(members);
      for (const m of members) comp.set(m, set);
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return comp;
}

function graphOf(root) {
  let g = graphs.get(root);
  if (!g) {
    const edges = new Map();
    for (const file of tsFiles(root)) {
      const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      const targets = new Set();
      for (const f of importedFiles) {
        const t = resolveSpecifier(file, f.fileName);
        if (t && t.startsWith(root)) targets.add(t);
      }
      edges.set(file, targets);
    }
    g = { edges, comp: components(edges) };
    graphs.set(root, g);
  }
  return g;
}

/** A shortest path of imports from `from` to `to` inside `within`. */
function path(edges, from, to, within) {
  const prev = new Map([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift();
    if (v === to) break;
    for (const w of edges.get(v) ?? []) {
      if (within.has(w) && !prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  const out = [];
  for (let v = to; v !== null && v !== undefined; v = prev.get(v)) out.unshift(v);
  return out;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'no import circles between the modules of a tree, type imports included' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: { cycle: 'import circle: {{circle}}' },
  },
  create(context) {
    const root = resolve(context.cwd, context.options[0]?.root ?? 'src');
    const file = resolve(context.filename);
    if (!file.startsWith(root)) return {};
    const { edges, comp } = graphOf(root);
    const mine = comp.get(file);
    const check = (node, source) => {
      if (!source || typeof source.value !== 'string') return;
      const target = resolveSpecifier(file, source.value);
      if (!target || !mine || !mine.has(target)) return;
      const circle = [file, ...path(edges, target, file, mine)].map((p) => relative(root, p));
      context.report({ node, messageId: 'cycle', data: { circle: circle.join(' → ') } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
    };
  },
};
