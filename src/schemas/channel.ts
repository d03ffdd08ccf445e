/**
 * The node channel's frames (API-v2 §4): JSON text, one object each, `{op, ...}`. The shard
 * validates every frame a node sends with `NodeFrame`; what the shard sends is typed by
 * `ShardFrame`. Both sides (the shard and the SDK's channel) use these schemas.
 */
import { z } from "@hono/zod-openapi";
import { Identifier, MintedId } from "./common";
import { LeasedTask, MAX_REPORTS, ReportItem } from "./nodes";

/** A request's reference, echoed in its reply. */
export const Ref = z.string().min(1).max(64);

/** The largest frame a node may send (a report of 100 outcomes with results fits). */
export const MAX_NODE_FRAME_BYTES = 256 * 1024;

export const CreditFrame = z
  .object({ op: z.literal("credit"), n: z.number().int().min(0).max(10_000) })
  .strict();
export const ReportFrame = z
  .object({ op: z.literal("report"), ref: Ref, reports: z.array(ReportItem).min(1).max(MAX_REPORTS) })
  .strict();
export const ExtendFrame = z
  .object({
    op: z.literal("extend"),
    ref: Ref,
    id: MintedId,
    leaseToken: z.string().min(1).max(200),
    extendMs: z.number().int().min(1000).max(3_600_000),
  })
  .strict();
export const HeartbeatFrame = z
  .object({ op: z.literal("heartbeat"), load: z.number().min(0).max(1).optional() })
  .strict();
export const CampaignFrame = z.object({ op: z.literal("campaign"), ref: Ref, election: Identifier }).strict();
export const ResignFrame = z.object({ op: z.literal("resign"), ref: Ref, election: Identifier }).strict();
export const ObserveFrame = z.object({ op: z.literal("observe"), election: Identifier }).strict();
export const DrainFrame = z.object({ op: z.literal("drain") }).strict();
/**
 * `{"op":"ping"}` exactly (no other field, no spaces) is answered `{"op":"pong"}` by the runtime
 * without waking the shard, and counts as contact (API-v2 §4's "a WebSocket ping"); the frame with
 * other spacing reaches the shard and gets the same answer.
 */
export const PingFrame = z.object({ op: z.literal("ping") }).strict();
export const PING = '{"op":"ping"}';
export const PONG = '{"op":"pong"}';

/** Every frame a node may send. */
export const NodeFrame = z.discriminatedUnion("op", [
  CreditFrame,
  ReportFrame,
  ExtendFrame,
  HeartbeatFrame,
  CampaignFrame,
  ResignFrame,
  ObserveFrame,
  DrainFrame,
  PingFrame,
]);
export type NodeFrame = z.infer<typeof NodeFrame>;

const ErrorDetail = z.object({ code: z.string(), message: z.string(), reason: z.string().optional() });

/** Every frame a shard sends. */
export const ShardFrame = z.discriminatedUnion("op", [
  z.object({
    op: z.literal("welcome"),
    nodeId: MintedId,
    region: Identifier,
    heartbeatIntervalMs: z.number().int(),
    /** How long the node may be away (socket closed) and come back with its leases: CHANNEL_GRACE_MS (absent: one heartbeat interval). */
    graceMs: z.number().int().optional(),
    resumed: z.boolean(),
  }),
  z.object({ op: z.literal("tasks"), tasks: z.array(LeasedTask) }),
  z.object({
    op: z.literal("reported"),
    ref: Ref,
    results: z.array(
      z.union([
        z.object({ id: z.string(), ok: z.literal(true), status: z.string() }),
        z.object({ id: z.string(), ok: z.literal(false), error: ErrorDetail }),
      ]),
    ),
  }),
  z.object({ op: z.literal("extended"), ref: Ref, leaseExpiresAt: z.number().int() }),
  z.object({
    op: z.literal("leader"),
    ref: Ref.optional(),
    election: Identifier,
    leader: z.string().nullable(),
    term: z.number().int(),
    isLeader: z.boolean(),
    /** The node's place in line (0 leads); null when it only observes. */
    position: z.number().int().nullable(),
  }),
  z.object({ op: z.literal("resigned"), ref: Ref }),
  z.object({ op: z.literal("error"), ref: Ref.optional(), error: ErrorDetail }),
  z.object({ op: z.literal("pong") }),
]);
export type ShardFrame = z.infer<typeof ShardFrame>;
