/**
 * One pass over a JSON text (already known to parse) for what `JSON.parse` hides: how deep it nests,
 * and the first number it cannot carry exactly. Pure, no recursion, no allocation per character.
 */

/** What the scan found. */
export interface JsonScan {
  /** The deepest nesting of arrays and objects. */
  depth: number;
  /**
   * The first number literal a JavaScript number cannot hold: one that overflows to ±Infinity
   * (`1e400`, stored as null by JSON.stringify) or an integer literal beyond 2^53 that no double
   * equals (rounded silently: `12345678901234567891` becomes `12345678901234567000`). Null when
   * there is none.
   */
  inexactNumber: string | null;
}

/** Digits a plain integer literal may have and still be exact without a closer look (2^53 has 16). */
const SURELY_SAFE_DIGITS = 15;

/** Scans a JSON text; see JsonScan. */
export function scanJson(text: string): JsonScan {
  let depth = 0;
  let deepest = 0;
  let inexactNumber: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 34 /* " */) {
      // Skips the string, escapes included.
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 92 /* \ */) {
          i++;
        } else if (c === 34) {
          break;
        }
      }
    } else if (ch === 91 /* [ */ || ch === 123 /* { */) {
      depth++;
      deepest = Math.max(deepest, depth);
    } else if (ch === 93 /* ] */ || ch === 125 /* } */) {
      depth--;
    } else if (ch === 45 /* - */ || (ch >= 48 && ch <= 57) /* 0-9 */) {
      const start = i;
      let plain = true; // no fraction, no exponent
      while (i + 1 < text.length) {
        const c = text.charCodeAt(i + 1);
        if (c === 46 /* . */ || c === 101 /* e */ || c === 69 /* E */ || c === 43 /* + */) {
          plain = false;
        } else if (!(c === 45 || (c >= 48 && c <= 57))) {
          break;
        }
        i++;
      }
      if (inexactNumber === null) {
        const literal = text.slice(start, i + 1);
        const digits = literal.length - (ch === 45 ? 1 : 0);
        if (!plain || digits > SURELY_SAFE_DIGITS) {
          const value = Number(literal);
          // An integer literal survives when the double it became is written back the same, or is
          // that very integer (10^21 comes back as 1e+21, the same number).
          const changed = plain && String(value) !== literal && BigInt(value) !== BigInt(literal);
          if (!Number.isFinite(value) || changed) {
            inexactNumber = literal;
          }
        }
      }
    }
  }
  return { depth: deepest, inexactNumber };
}
