/**
 * A node channel's frames as the shard reads and writes them (API-v2 §4): sending, the error and
 * leader frames, and reading a node's frame (its size, its parse, the ref a refusal echoes).
 */
import type { ErrorBody } from "../../src/core/errors";
import { MAX_NODE_FRAME_BYTES, NodeFrame, type ShardFrame } from "../../src/schemas/channel";
import type { ElectionPush } from "../messages";

/** Sends a frame; a socket that is closing is logged, not thrown at. */
export function send(ws: WebSocket, frame: ShardFrame): void {
  try {
    ws.send(JSON.stringify(frame));
  } catch (error) {
    console.warn("channel: send failed", error);
  }
}

/** An `error` frame for a refusal, with the refused request's ref when it had one. */
export function errorFrame(error: ErrorBody, ref?: string): ShardFrame {
  const detail = {
    code: error.code,
    message: error.message,
    ...(error.reason ? { reason: error.reason } : {}),
  };
  return ref === undefined ? { op: "error", error: detail } : { op: "error", ref, error: detail };
}

/** A `leader` frame as one node sees the election (its place in line; null when it only observes). */
export function leaderFrame(nodeId: string, change: ElectionPush, ref: string | undefined): ShardFrame {
  const index = change.order.indexOf(nodeId);
  return {
    op: "leader",
    ...(ref === undefined ? {} : { ref }),
    election: change.election,
    leader: change.leader,
    term: change.term,
    isLeader: change.leader === nodeId,
    position: index < 0 ? null : index,
  };
}

/** A node's frame, or null when it is not JSON or not a frame of the channel. */
export function parseFrame(text: string): NodeFrame | null {
  try {
    const parsed = NodeFrame.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Whether a text frame is over MAX_NODE_FRAME_BYTES in UTF-8 (a character may take up to 3 bytes, so
 * its length alone would let a 768 KiB frame through); encoded only when its length leaves a doubt.
 */
export function oversized(text: string): boolean {
  if (text.length > MAX_NODE_FRAME_BYTES) {
    return true;
  }
  return (
    text.length * 3 > MAX_NODE_FRAME_BYTES && new TextEncoder().encode(text).byteLength > MAX_NODE_FRAME_BYTES
  );
}

/** The ref of a refused frame, when it has a usable one (so the node can match the error); an oversized frame is not parsed. */
export function refOf(data: string | ArrayBuffer): string | undefined {
  if (typeof data !== "string" || oversized(data)) {
    return undefined;
  }
  try {
    const ref = (JSON.parse(data) as { ref?: unknown }).ref;
    return typeof ref === "string" && ref.length > 0 && ref.length <= 64 ? ref : undefined;
  } catch {
    return undefined;
  }
}
