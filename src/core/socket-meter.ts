/**
 * What a WebSocket may send, metered at three levels: the socket itself (frames and bytes a second,
 * counted in its attachment so hibernation keeps them), its token and its object (frames a second,
 * token buckets in memory). Pure: time comes in as `now`. Shared by the node channel and the
 * election observers, so both read one set of limits (src/core/config.ts).
 */
import { TokenBuckets } from "./token-bucket";

/** The limits (SOCKET_FRAMES_PER_SEC, SOCKET_BYTES_PER_SEC, TOKEN_/OBJECT_FRAMES_PER_SEC, SOCKET_MAX_STRIKES). */
export interface SocketLimits {
  framesPerSec: number;
  bytesPerSec: number;
  tokenFramesPerSec: number;
  objectFramesPerSec: number;
  maxStrikes: number;
}

/** A socket's own count, kept in its attachment (it survives the object's hibernation). */
export interface SocketWindow {
  windowStart: number;
  windowFrames: number;
  /** Absent in attachments written before bytes were metered: read as 0. */
  windowBytes?: number;
  strikes: number;
}

/** A fresh count for a socket opened at `now`. */
export function openWindow(now: number): SocketWindow {
  return { windowStart: now, windowFrames: 0, windowBytes: 0, strikes: 0 };
}

/** The one key of the object's own bucket (token ids never take this form). */
const OBJECT_KEY = "*";

/**
 * One object's meter: its sockets' windows live in their attachments; the token and object buckets
 * here, in memory (after hibernation they start full again: a socket's own window still holds).
 */
export class SocketMeter {
  private readonly tokens: TokenBuckets;
  private readonly object: TokenBuckets;
  private sweptAt = 0;

  constructor(readonly limits: SocketLimits) {
    this.tokens = new TokenBuckets({ ratePerSec: limits.tokenFramesPerSec, burst: limits.tokenFramesPerSec });
    this.object = new TokenBuckets({
      ratePerSec: limits.objectFramesPerSec,
      burst: limits.objectFramesPerSec,
    });
  }

  /**
   * Counts one frame of `bytes` from a socket of `tokenId` (updating `window`): null when it may be
   * handled, else why it is refused. Every frame counts in its socket's window, refused or not; only
   * frames within the socket's own limits spend from the token's and the object's buckets.
   */
  admit(window: SocketWindow, tokenId: string, bytes: number, now: number): string | null {
    const { framesPerSec, bytesPerSec, tokenFramesPerSec, objectFramesPerSec } = this.limits;
    if (now - window.windowStart >= 1000 || now < window.windowStart) {
      window.windowStart = now;
      window.windowFrames = 0;
      window.windowBytes = 0;
    }
    window.windowFrames++;
    window.windowBytes = (window.windowBytes ?? 0) + bytes;
    if (window.windowFrames > framesPerSec) {
      return `more than ${framesPerSec} frames a second`;
    }
    if (window.windowBytes > bytesPerSec) {
      return `more than ${bytesPerSec} bytes a second`;
    }
    if (now - this.sweptAt >= 60_000) {
      this.sweptAt = now;
      this.tokens.sweep(now);
    }
    if (this.tokens.take(tokenId, now) > 0) {
      return `this token's sockets sent more than ${tokenFramesPerSec} frames a second`;
    }
    if (this.object.take(OBJECT_KEY, now) > 0) {
      return `this object's sockets sent more than ${objectFramesPerSec} frames a second`;
    }
    return null;
  }

  /** Records a refused frame; true when the socket has used up its strikes (close it with 1008). */
  strike(window: SocketWindow): boolean {
    window.strikes++;
    return window.strikes >= this.limits.maxStrikes;
  }
}
