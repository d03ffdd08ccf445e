const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case: valid in identifiers

function randomChars(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = "";
  for (const byte of bytes) {
    out += ALPHABET[byte & 31];
  }
  return out;
}

/**
 * A fresh opaque id such as `node-8f3k2m9q1z7x4c5v`, valid as an identifier (so a node id can be a
 * candidate). Given `now`, it sorts by that time (9 characters of milliseconds, then 12 random ones,
 * such as `t-1jd5v2q8hm7x9k2c4f0ab`): rows keyed by it land at the end of their index, where a
 * random key dirtied a page anywhere in it on every insert.
 */
export function mintId(prefix: string, now?: number): string {
  if (now === undefined) {
    return `${prefix}-${randomChars(prefix === "l" ? 32 : 16)}`;
  }
  let time = "";
  for (let t = Math.max(0, Math.floor(now)), i = 0; i < 9; i++, t = Math.floor(t / 32)) {
    time = ALPHABET[t % 32] + time;
  }
  return `${prefix}-${time}${randomChars(12)}`;
}

/** A bearer secret: 160 random bits. */
export function mintSecret(): string {
  return `mrd_${randomChars(32)}`;
}
