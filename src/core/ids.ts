/**
 * Ids that name their shard. A task id or a node id carries the region whose shard holds it, so the
 * edge sends every call about it straight there, without a lookup:
 *
 *   task  t-<9 time chars><12 random chars>-<region>     e.g. t-1jd5v2q8hm7x9k2c4f0ab-eu-west
 *   node  node-<12 random chars>-<region>                e.g. node-8f3k2m9q1z7x-eu-west
 *
 * The part before the region has a fixed length, so the region (which may itself contain `-`, `.`,
 * `:`) is read by position. Both are valid identifiers when the region is short enough (a node id is
 * a valid candidate name for regions of up to 110 characters). Task ids sort by creation time.
 * Pure: the caller passes the random characters.
 */

/** Crockford base32, lower case: valid in identifiers. */
export const ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

const TASK_PREFIX = "t-";
const TASK_TIME_CHARS = 9;
const TASK_RANDOM_CHARS = 12;
const TASK_HEAD = TASK_PREFIX.length + TASK_TIME_CHARS + TASK_RANDOM_CHARS + 1;
const NODE_PREFIX = "node-";
const NODE_RANDOM_CHARS = 12;
const NODE_HEAD = NODE_PREFIX.length + NODE_RANDOM_CHARS + 1;

/** Random characters of the id alphabet, from random bytes. */
export function randomIdChars(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    out += ID_ALPHABET[byte & 31];
  }
  return out;
}

/** The id characters that follow `chars` (base 32, carrying; all-last wraps to all-first). */
export function nextIdChars(chars: string): string {
  const digits = [...chars].map((ch) => ID_ALPHABET.indexOf(ch));
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i]!++;
      break;
    }
    digits[i] = 0;
  }
  return digits.map((d) => ID_ALPHABET[d]).join("");
}

/** 9 characters of milliseconds, so ids minted later sort later (until the year 3084). */
function timeChars(now: number): string {
  let time = "";
  for (let t = Math.max(0, Math.floor(now)), i = 0; i < TASK_TIME_CHARS; i++, t = Math.floor(t / 32)) {
    time = ID_ALPHABET[t % 32] + time;
  }
  return time;
}

export function formatTaskId(region: string, now: number, random: string): string {
  return `${TASK_PREFIX}${timeChars(now)}${random.slice(0, TASK_RANDOM_CHARS)}-${region}`;
}

export function formatNodeId(region: string, random: string): string {
  return `${NODE_PREFIX}${random.slice(0, NODE_RANDOM_CHARS)}-${region}`;
}

const REGION = /^[a-z0-9][a-z0-9._:-]{0,127}$/;
const BODY = /^[0-9a-hjkmnp-tv-z]+$/;

function regionAfter(id: string, prefix: string, headLength: number): string | null {
  if (!id.startsWith(prefix) || id.length <= headLength || id[headLength - 1] !== "-") {
    return null;
  }
  const body = id.slice(prefix.length, headLength - 1);
  const region = id.slice(headLength);
  return BODY.test(body) && REGION.test(region) ? region : null;
}

/** The region whose shard holds a task, or null for a string that is not a task id Meridian minted. */
export function regionOfTaskId(id: string): string | null {
  return regionAfter(id, TASK_PREFIX, TASK_HEAD);
}

/** The region of a node, or null for a string that is not a node id Meridian minted. */
export function regionOfNodeId(id: string): string | null {
  return regionAfter(id, NODE_PREFIX, NODE_HEAD);
}
