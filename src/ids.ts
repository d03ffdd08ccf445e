import { formatNodeId, formatTaskId, nextIdChars, randomIdChars } from "./core/ids";

/** Random id characters from the platform's CSPRNG. */
function randomChars(length: number): string {
  return randomIdChars(crypto.getRandomValues(new Uint8Array(length)));
}

let lastTime = 0;
let lastRandom = "";

/**
 * A fresh task id naming its region's shard, sorting by `now`. Ids minted by one isolate within one
 * millisecond (or while its clock stands still) follow each other: the random part of the previous
 * one plus one, as monotonic ULIDs do, so a page of tasks lists them in the order they came.
 */
export function mintTaskId(region: string, now: number): string {
  if (now <= lastTime && lastRandom !== "") {
    lastRandom = nextIdChars(lastRandom);
  } else {
    lastTime = now;
    lastRandom = randomChars(12);
  }
  return formatTaskId(region, lastTime, lastRandom);
}

/** A fresh node id naming its region's shard. */
export function mintNodeId(region: string): string {
  return formatNodeId(region, randomChars(12));
}

/** An opaque id such as `tok-8f3k2m9q1z7x4c5v` (tokens) or a lease token (`l-` and 32 characters). */
export function mintId(prefix: string): string {
  return `${prefix}-${randomChars(prefix === "l" ? 32 : 16)}`;
}

/** A bearer secret: 160 random bits. */
export function mintSecret(): string {
  return `mrd_${randomChars(32)}`;
}
