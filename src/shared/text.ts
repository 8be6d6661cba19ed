// Streaming text that may still turn into a marker: a stop string, a banned
// string, a tool call's opening tag. What could be the start of one is held
// back until the next piece decides.

/** The length of the longest end of `text` that begins one of `strings`
 *  without being all of it (0 when none does). */
export function partialSuffixLength(text: string, strings: readonly string[]): number {
  let best = 0;
  for (const s of strings) {
    for (let k = Math.min(s.length - 1, text.length); k > best; k--) {
      if (text.endsWith(s.slice(0, k))) {
        best = k;
        break;
      }
    }
  }
  return best;
}
