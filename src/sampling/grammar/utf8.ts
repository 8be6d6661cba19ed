// UTF-8 decoding as llama.cpp's grammar does it (decode_utf8 in
// llama-grammar.cpp), quirks included, because the candidate set depends on
// them: a piece is read up to its first NUL byte; a sequence may continue the
// previous token's unfinished character and may itself end unfinished; a stray
// continuation byte where a character should start makes the whole piece
// invalid; continuation bytes after a valid lead are not checked.

/** Bytes a character takes, by the high nibble of its first byte (0: not a lead byte). */
const LEAD_LENGTH = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4];

/** An unfinished character: its bits so far and the continuation bytes still
 *  missing (0: none pending; -1: the bytes were invalid). */
export interface PartialUtf8 {
  readonly value: number;
  readonly rem: number;
}

export const NO_PARTIAL: PartialUtf8 = Object.freeze({ value: 0, rem: 0 });

export interface DecodedPiece extends PartialUtf8 {
  /** The complete code points, in order. Empty when rem is -1. */
  readonly cps: number[];
}

/**
 * Decodes bytes[start, end) continuing `partial`. With rem -1 in the result
 * the piece was invalid and no code point counts (llama.cpp returns just the
 * terminating 0 then).
 */
export function decodePiece(bytes: Uint8Array, start: number, end: number, partial: PartialUtf8): DecodedPiece {
  const cps: number[] = [];
  let pos = start;
  let value = partial.value;
  let rem = partial.rem;
  // Finish the previous token's character first.
  while (pos < end && bytes[pos] !== 0 && rem > 0) {
    const b = bytes[pos];
    if (b >> 6 !== 2) return { cps: [], value: 0, rem: -1 };
    value = (value << 6) + (b & 0x3f);
    pos++;
    rem--;
  }
  if (partial.rem > 0 && rem === 0) cps.push(value);
  while (pos < end && bytes[pos] !== 0) {
    const b = bytes[pos];
    rem = LEAD_LENGTH[b >> 4] - 1;
    if (rem < 0) return { cps: [], value: 0, rem: -1 };
    value = b & ((1 << (7 - rem)) - 1);
    pos++;
    while (pos < end && bytes[pos] !== 0 && rem > 0) {
      value = (value << 6) + (bytes[pos] & 0x3f);
      pos++;
      rem--;
    }
    if (rem === 0) cps.push(value);
  }
  return { cps, value, rem };
}

/** The length of bytes up to (not including) the first NUL. */
export function cStringLength(bytes: Uint8Array): number {
  const i = bytes.indexOf(0);
  return i < 0 ? bytes.length : i;
}

/** Whether byte b is a UTF-8 continuation byte (10xxxxxx). */
export function isContinuationByte(b: number): boolean {
  return b >> 6 === 2;
}
