// Where the images of a sequence's ids are: each image, with the marker
// tokens of its layout, is one span that a cache cut (prefix reuse, a
// prompt-edit or overflow shift) keeps or evicts whole, never in part
// (image-prompt.ts gives the ids: an image's rows share one negative id).

/** An image's span of ids: [start, end), its markers included. */
export interface ImageSpan {
  id: number;
  start: number;
  end: number;
}

/** The tokens of an image's layout before its first row and after its last. */
export interface SpanShape {
  lead: number;
  trail: number;
}

/** The spans of the images among `ids`, in order. */
export function imageSpans(ids: readonly number[], shape: (id: number) => SpanShape | undefined): ImageSpan[] {
  const at = new Map<number, ImageSpan>();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id >= 0) continue;
    const s = at.get(id);
    if (s) s.end = i + 1;
    else at.set(id, { id, start: i, end: i + 1 });
  }
  const spans = [...at.values()];
  for (const s of spans) {
    const sh = shape(s.id) ?? { lead: 0, trail: 0 };
    s.start = Math.max(0, s.start - sh.lead);
    s.end = Math.min(ids.length, s.end + sh.trail);
  }
  return spans.sort((a, b) => a.start - b.start);
}

/** The span that `pos` cuts (start < pos < end), if any. */
export function spanCut(spans: readonly ImageSpan[], pos: number): ImageSpan | undefined {
  return spans.find((s) => s.start < pos && pos < s.end);
}

/** `pos`, moved back to the start of an image it would cut. */
export function cutBefore(spans: readonly ImageSpan[], pos: number): number {
  for (let s = spanCut(spans, pos); s; s = spanCut(spans, pos)) pos = s.start;
  return pos;
}

/** `pos`, moved on to the end of an image it would cut. */
export function cutAfter(spans: readonly ImageSpan[], pos: number): number {
  for (let s = spanCut(spans, pos); s; s = spanCut(spans, pos)) pos = s.end;
  return pos;
}
