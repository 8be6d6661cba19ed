// A direct, slow transcription of llama.cpp's grammar matching
// (llama_grammar_advance_stack, _match_char, _match_partial_char,
// _reject_candidates_for_stack, _apply_impl and _accept_token) over plain
// arrays of positions: the reference model the fast matcher is checked
// against on random walks (test/unit/grammar-matcher.test.ts).
import { ALT, CHAR, CHAR_ALT, CHAR_ANY, CHAR_RNG_UPPER, END, RULE_REF, TOKEN, TOKEN_NOT, type Grammar } from '../../src/sampling/grammar/rules.js';
import { decodePiece, type PartialUtf8 } from '../../src/sampling/grammar/utf8.js';

export type Stack = number[];

const isEnd = (g: Grammar, p: number): boolean => g.type[p] === END || g.type[p] === ALT;

function matchChar(g: Grammar, pos: number, c: number): [boolean, number] {
  const positive = g.type[pos] === CHAR || g.type[pos] === CHAR_ANY;
  let found = false;
  do {
    if (g.type[pos + 1] === CHAR_RNG_UPPER) {
      found ||= g.value[pos] <= c && c <= g.value[pos + 1];
      pos += 2;
    } else if (g.type[pos] === CHAR_ANY) {
      found = true;
      pos += 1;
    } else {
      found ||= g.value[pos] === c;
      pos += 1;
    }
  } while (g.type[pos] === CHAR_ALT);
  return [found === positive, pos];
}

function matchPartial(g: Grammar, pos: number, p: PartialUtf8): boolean {
  const positive = g.type[pos] === CHAR || g.type[pos] === CHAR_ANY;
  if (p.rem < 0 || (p.rem === 1 && p.value < 2)) return false;
  let low = p.value * 2 ** (p.rem * 6);
  const high = low + 2 ** (p.rem * 6) - 1;
  if (low === 0) low = p.rem === 2 ? 1 << 11 : p.rem === 3 ? 1 << 16 : low;
  do {
    if (g.type[pos + 1] === CHAR_RNG_UPPER) {
      if (g.value[pos] <= high && low <= g.value[pos + 1]) return positive;
      pos += 2;
    } else if (g.type[pos] === CHAR_ANY) {
      return true;
    } else {
      if (low <= g.value[pos] && g.value[pos] <= high) return positive;
      pos += 1;
    }
  } while (g.type[pos] === CHAR_ALT);
  return !positive;
}

const key = (s: Stack): string => s.join(',');

function pushUnique(out: Stack[], s: Stack): void {
  if (!out.some((x) => key(x) === key(s))) out.push(s);
}

export function advance(g: Grammar, stack: Stack, out: Stack[]): void {
  const todo: Stack[] = [stack];
  const seen = new Set<string>();
  while (todo.length) {
    const cur = todo.pop()!;
    if (seen.has(key(cur))) continue;
    seen.add(key(cur));
    if (cur.length === 0) {
      pushUnique(out, cur);
      continue;
    }
    const pos = cur[cur.length - 1];
    if (g.type[pos] === RULE_REF) {
      let sub = g.ruleStart[g.value[pos]];
      for (;;) {
        const next = cur.slice(0, -1);
        if (!isEnd(g, pos + 1)) next.push(pos + 1);
        if (!isEnd(g, sub)) next.push(sub);
        todo.push(next);
        while (!isEnd(g, sub)) sub++;
        if (g.type[sub] === ALT) sub++;
        else break;
      }
    } else {
      pushUnique(out, cur);
    }
  }
}

export function initialStacks(g: Grammar): Stack[] {
  const out: Stack[] = [];
  let pos = g.ruleStart[g.root];
  for (;;) {
    advance(g, isEnd(g, pos) ? [] : [pos], out);
    while (!isEnd(g, pos)) pos++;
    if (g.type[pos] === ALT) pos++;
    else break;
  }
  return out;
}

interface Candidate {
  id: number;
  cps: number[];
  at: number;
  partial: PartialUtf8;
}

function rejectForStack(g: Grammar, stack: Stack, cands: Candidate[]): Candidate[] {
  const rejects: Candidate[] = [];
  if (stack.length === 0) {
    for (const t of cands) if (t.at < t.cps.length || t.partial.rem !== 0) rejects.push(t);
    return rejects;
  }
  const pos = stack[stack.length - 1];
  if (g.type[pos] === TOKEN || g.type[pos] === TOKEN_NOT) {
    for (const t of cands) {
      if (t.at === t.cps.length) {
        if (t.partial.rem !== 0) rejects.push(t);
      } else if ((g.type[pos] === TOKEN) !== (g.value[pos] === t.id >>> 0)) {
        rejects.push(t);
      }
    }
    return rejects;
  }
  const next: Candidate[] = [];
  for (const t of cands) {
    if (t.at === t.cps.length) {
      if (t.partial.rem !== 0 && !matchPartial(g, pos, t.partial)) rejects.push(t);
    } else if (matchChar(g, pos, t.cps[t.at])[0]) {
      next.push({ ...t, at: t.at + 1 });
    } else {
      rejects.push(t);
    }
  }
  const after = matchChar(g, pos, 0)[1];
  const stackAfter = stack.slice(0, -1);
  if (!isEnd(g, after)) stackAfter.push(after);
  const nextStacks: Stack[] = [];
  advance(g, stackAfter, nextStacks);
  for (const t of rejectAll(g, nextStacks, next)) rejects.push({ ...t, at: t.at - 1 });
  return rejects;
}

function rejectAll(g: Grammar, stacks: Stack[], cands: Candidate[]): Candidate[] {
  if (cands.length === 0) return [];
  let rejects = rejectForStack(g, stacks[0], cands);
  for (let i = 1; i < stacks.length; i++) rejects = rejectForStack(g, stacks[i], rejects);
  return rejects;
}

/** llama_grammar_apply_impl: the allowed ids among `n` tokens. */
export function referenceAllowed(
  g: Grammar, stacks: Stack[], partial: PartialUtf8, n: number, piece: (id: number) => Uint8Array, isEog: (id: number) => boolean,
): Set<number> {
  const allowEog = stacks.some((s) => s.length === 0);
  const allowed = new Set<number>();
  const cands: Candidate[] = [];
  for (let id = 0; id < n; id++) {
    const p = piece(id);
    if (isEog(id)) {
      if (allowEog) allowed.add(id);
    } else if (p.length > 0 && p[0] !== 0) {
      const d = decodePiece(p, 0, p.length, partial);
      cands.push({ id, cps: d.cps, at: 0, partial: { value: d.value, rem: d.rem } });
      allowed.add(id);
    }
  }
  // An invalid sequence decodes to just the terminator, with rem -1.
  for (const r of rejectAll(g, stacks, cands)) allowed.delete(r.id);
  return allowed;
}

/** llama_grammar_accept_token: the stacks after token `id` with `piece`, or null if none survive. */
export function referenceAccept(g: Grammar, stacks: Stack[], partial: PartialUtf8, id: number, piece: Uint8Array): { stacks: Stack[]; partial: PartialUtf8 } | null {
  const d = decodePiece(piece, 0, piece.length, partial);
  const out: Stack[] = [];
  for (const stack of stacks) {
    if (stack.length === 0) continue;
    const pos = stack[stack.length - 1];
    if (g.type[pos] === TOKEN || g.type[pos] === TOKEN_NOT) {
      if ((g.type[pos] === TOKEN) === (g.value[pos] === id >>> 0)) {
        const ns = stack.slice(0, -1);
        if (!isEnd(g, pos + 1)) ns.push(pos + 1);
        advance(g, ns, out);
      }
      continue;
    }
    let cur: Stack[] = [stack];
    for (const c of d.cps) {
      const next: Stack[] = [];
      for (const s of cur) {
        if (s.length === 0) continue;
        const top = s[s.length - 1];
        if (g.type[top] === TOKEN || g.type[top] === TOKEN_NOT) continue;
        const [ok, after] = matchChar(g, top, c);
        if (!ok) continue;
        const ns = s.slice(0, -1);
        if (!isEnd(g, after)) ns.push(after);
        advance(g, ns, next);
      }
      cur = next;
      if (!cur.length) break;
    }
    for (const s of cur) pushUnique(out, s);
  }
  if (!out.length) return null;
  return { stacks: out, partial: { value: d.value, rem: d.rem } };
}

