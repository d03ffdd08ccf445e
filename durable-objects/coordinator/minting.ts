const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case: valid in identifiers

function randomChars(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = "";
  for (const byte of bytes) {
    out += ALPHABET[byte & 31];
  }
  return out;
}

/** A fresh opaque id such as `node-8f3k2m9q1z7x4c5v`, valid as an identifier (so a node id can be a candidate). */
export function mintId(prefix: string): string {
  return `${prefix}-${randomChars(prefix === "l" ? 32 : 16)}`;
}

/** A bearer secret: 160 random bits. */
export function mintSecret(): string {
  return `mrd_${randomChars(32)}`;
}
