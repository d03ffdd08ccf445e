/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the secret is `whsec_` + base64
 * bytes; a delivery is signed as `v1,<base64 HMAC-SHA256(secret bytes, "${id}.${timestamp}.${body}")>`.
 * Pure (WebCrypto only, no clock): the shard signs with it and the SDK's verifyWebhook checks with
 * it, so both sides are one implementation, checked against the standard's published test vector.
 */

export const SECRET_PREFIX = "whsec_";
/** How far a delivery's `webhook-timestamp` may be from the receiver's clock (the standard's 5 minutes). */
export const TIMESTAMP_TOLERANCE_SEC = 300;

/** Bytes as standard base64 (with padding). */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    text += String.fromCharCode(byte);
  }
  return btoa(text);
}

/** Standard base64 as bytes; throws on anything else. */
export function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    bytes[i] = raw.charCodeAt(i);
  }
  return bytes;
}

/** A new signing secret from 24 random bytes (`random` fills them: crypto.getRandomValues). */
export function newWebhookSecret(random: (bytes: Uint8Array) => Uint8Array): string {
  return SECRET_PREFIX + toBase64(random(new Uint8Array(24)));
}

/** The key bytes of a secret: base64 after the optional `whsec_` prefix. */
export function secretBytes(secret: string): Uint8Array {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  try {
    return fromBase64(encoded);
  } catch {
    throw new Error("the webhook secret is not base64 after whsec_");
  }
}

/** The HMAC key of a secret (a sender signing many deliveries imports it once). */
export async function webhookKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", secretBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
}

/** The `webhook-signature` header value for one delivery: `v1,<base64>`. */
export async function signWebhook(
  secret: string | CryptoKey,
  id: string,
  timestampSec: number,
  body: string,
): Promise<string> {
  const key = typeof secret === "string" ? await webhookKey(secret) : secret;
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`${id}.${timestampSec}.${body}`),
  );
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

/** Equal strings, in time that depends only on their length (no early exit on the first difference). */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) {
    return false;
  }
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  }
  return diff === 0;
}

/** Why a delivery's headers do not verify, or null when one of its `v1` signatures matches within the tolerance. */
export async function signatureRefusal(
  secret: string,
  headers: { id: string | null; timestamp: string | null; signature: string | null },
  body: string,
  nowSec: number,
  toleranceSec = TIMESTAMP_TOLERANCE_SEC,
): Promise<string | null> {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) {
    return "missing webhook-id, webhook-timestamp or webhook-signature";
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    return "webhook-timestamp is not unix seconds";
  }
  const at = Number(timestamp);
  if (Math.abs(nowSec - at) > toleranceSec) {
    return `webhook-timestamp is more than ${toleranceSec} s from now`;
  }
  const expected = await signWebhook(secret, id, at, body);
  // The header may carry several space-separated signatures (a secret being rotated): any one will do.
  const matches = signature.split(" ").filter((s) => constantTimeEqual(s, expected));
  return matches.length > 0 ? null : "no signature matches";
}

/** The `webhook-id` of one attempt at a task: the same id never names two deliveries. */
export function webhookId(taskId: string, attempt: number): string {
  return `${taskId}:${attempt}`;
}
