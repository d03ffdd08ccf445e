import { DurableObject } from "cloudflare:workers";
import { SETTINGS } from "../src/core/config";
import { ApiError, type Result } from "../src/core/errors";
import { EventRing, type RingLimits } from "../src/core/event-ring";
import type { EventBody, EventType } from "../src/core/events";
import { can, type Principal } from "../src/core/permissions";
import { objectConfig } from "./call-gate";
import { type ChunkLimits, EventStream } from "./event-hub/event-stream";
import { migrate } from "./migrate";

const MIGRATIONS = [
  `
  CREATE TABLE counter (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
  `,
];

/** What a hub keeps and allows; tests give smaller ones. */
export interface HubLimits extends ChunkLimits {
  ring: RingLimits;
  /** Open streams of one token (the contract's per-token cap). */
  streamsPerToken: number;
  /** Open streams of the whole deployment. */
  streams: number;
  /** Open streams of one tenant's tokens (TENANT_MAX_STREAMS; a global admin's are not counted). */
  streamsPerTenant: number;
  /** How often a quiet stream gets `: keep-alive`. */
  keepAliveMs: number;
  /**
   * How long a stream lives before the hub ends it (the reader resumes with Last-Event-ID). The
   * bound on a slot whose reader went away unnoticed: under `wrangler dev` a client's hang-up never
   * reaches the hub (measured: 16 streams closed by their clients kept their slots while events flowed).
   */
  maxStreamMs: number;
}

export const DEFAULT_HUB_LIMITS: HubLimits = {
  // ~10 s of a busy deployment's events (about 200-250 bytes each): enough for a browser's reconnect.
  ring: { maxEvents: 10_000, maxBytes: 4 * 1024 * 1024 },
  streamsPerToken: 16,
  streams: 256,
  streamsPerTenant: SETTINGS.TENANT_MAX_STREAMS.default,
  // A reader that fell behind catches up in few writes: each write is a round trip to the client.
  chunkEvents: 10_000,
  chunkBytes: 1024 * 1024,
  keepAliveMs: 15_000,
  maxStreamMs: 5 * 60_000,
};

/** How long the hub refuses a revoked token's new streams: well past every edge's auth cache (2 s). */
const REVOKED_MEMORY_MS = 60_000;
/** Revoked tokens remembered at once (a bound on memory; past it the coordinator's second push still ends them). */
const MAX_REVOKED_REMEMBERED = 10_000;

/** Ids are reserved in blocks, so the counter is written once per block, not once per event. */
const ID_BLOCK = 10_000;

/** What a reader asks for, validated by the edge. */
export interface StreamRequest {
  types: EventType[] | null;
  region: string | null;
  lastEventId: number | null;
}

/**
 * The deployment's event hub (one per deployment, named after it): takes the events its region
 * shards and coordinator send in batches, numbers them, keeps the last ones in a bounded replay ring
 * (memory only: events do not survive a restart; their ids do, from a counter in SQLite), and serves
 * every open `GET /v1/events` stream from that ring. A notification service, not a log.
 */
export class EventHub extends DurableObject<Env> {
  private limits: HubLimits = DEFAULT_HUB_LIMITS;
  /** The limits as configured (the settings the hub reads); `restartWith` overrides them. */
  private readonly configured: HubLimits;
  private ring!: EventRing;
  private readonly streams = new Set<EventStream>();
  /** The tenant of each open stream's token (a global admin's streams are not in it). */
  private readonly tenantOf = new Map<EventStream, string>();
  /** The largest id this hub may give before it reserves more (persisted). */
  private reserved = 0;
  private keepAliveTimer: ReturnType<typeof setInterval> | null = null;
  /** Tokens revoked lately, by when the hub heard (memory only: the coordinator tells it again). */
  private readonly revoked = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.configured = { ...DEFAULT_HUB_LIMITS, streamsPerTenant: objectConfig(env).tenants.maxStreams };
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
      this.start(this.configured);
    });
  }

  /**
   * (Re)starts from storage alone: a ring that begins after every id ever reserved, so ids never go
   * backwards across a restart (the events of before are gone, and a resume from them is `too_old`).
   */
  private start(limits: HubLimits): void {
    this.limits = limits;
    this.reserved =
      this.ctx.storage.sql
        .exec<{ value: number }>("SELECT value FROM counter WHERE key = 'reserved'")
        .toArray()[0]?.value ?? 0;
    this.ring = new EventRing(limits.ring, this.reserved, (slot) => {
      for (const stream of this.streams) {
        EventRing.passEvicted(stream.reader, slot);
      }
    });
  }

  /** The hub as it would restart with other limits (tests): open streams end, memory is dropped. */
  async restartWith(limits: Partial<HubLimits>): Promise<void> {
    for (const stream of [...this.streams]) {
      stream.close();
    }
    this.start({ ...this.configured, ...limits });
  }

  /**
   * Events from a producer (a shard, the coordinator), in the order they happened there: each gets
   * the next id, and every stream that wants one is woken. Internal.
   */
  async publish(events: EventBody[]): Promise<{ lastId: number }> {
    this.reserveIds(events.length);
    for (const event of events) {
      this.ring.append(event);
    }
    if (events.length > 0) {
      for (const stream of this.streams) {
        stream.notify();
      }
    }
    return { lastId: this.ring.lastId };
  }

  /** Makes sure the next `count` ids are covered by the persisted reservation. */
  private reserveIds(count: number): void {
    const needed = this.ring.lastId + count;
    if (needed > this.reserved) {
      this.reserved = needed + ID_BLOCK;
      this.ctx.storage.sql.exec(
        "INSERT INTO counter (key, value) VALUES ('reserved', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        this.reserved,
      );
    }
  }

  /**
   * Opens a stream for a reader (authenticated at the edge, role checked again here): refused with
   * 429 `rate_limited` when its token, or the deployment, has as many open as allowed, and with 409
   * `quota_exceeded` when its tenant does (TENANT_MAX_STREAMS, as the other count quotas). The stream
   * starts after `lastEventId` when the ring still holds what followed it, else with a `reset`.
   */
  async open(principal: Principal, request: StreamRequest): Promise<Result<ReadableStream<Uint8Array>>> {
    if (!can(principal.role, "events.read")) {
      return refused(ApiError.of("forbidden", `a ${principal.role} token may not do events.read`));
    }
    if (this.revoked.has(principal.tokenId)) {
      return refused(ApiError.of("unauthorized", "unknown or revoked token"));
    }
    const mine = [...this.streams].filter((s) => s.tokenId === principal.tokenId).length;
    if (mine >= this.limits.streamsPerToken) {
      return refused(
        ApiError.of("rate_limited", `a token may hold ${this.limits.streamsPerToken} open event streams`),
      );
    }
    const tenant = principal.tenant;
    const quota = this.limits.streamsPerTenant;
    if (tenant !== null && [...this.tenantOf.values()].filter((t) => t === tenant).length >= quota) {
      return refused(
        ApiError.of(
          "conflict",
          `tenant ${tenant} holds ${quota} open event streams (TENANT_MAX_STREAMS)`,
          "quota_exceeded",
        ),
      );
    }
    if (this.streams.size >= this.limits.streams) {
      return refused(
        ApiError.of("rate_limited", `the deployment holds its ${this.limits.streams} open event streams`),
      );
    }
    const filter = {
      types: request.types === null ? null : new Set(request.types),
      region: request.region,
      tenant: principal.tenant,
    };
    const stream = new EventStream(
      principal.tokenId,
      this.ring.reader(filter, request.lastEventId),
      this.ring,
      this.limits,
      (ended) => this.ended(ended),
    );
    this.streams.add(stream);
    if (tenant !== null) {
      this.tenantOf.set(stream, tenant);
    }
    this.keepAlives();
    setTimeout(() => stream.close(), this.limits.maxStreamMs);
    return { ok: true, value: stream.readable };
  }

  /**
   * A token was revoked (told by the coordinator, at least once): its open streams end now, and
   * streams it opens through an edge that still trusts it are refused (401) for as long as an edge
   * may (the coordinator tells the hub again once that time has passed). Idempotent. Internal.
   */
  async revokeToken(tokenId: string): Promise<{ closed: number }> {
    const now = Date.now();
    for (const [id, at] of this.revoked) {
      if (now - at > REVOKED_MEMORY_MS) {
        this.revoked.delete(id);
      }
    }
    if (this.revoked.size < MAX_REVOKED_REMEMBERED) {
      this.revoked.set(tokenId, now);
    }
    const mine = [...this.streams].filter((stream) => stream.tokenId === tokenId);
    for (const stream of mine) {
      stream.close();
    }
    return { closed: mine.length };
  }

  /** A stream ended: its slot is free; the keep-alive timer stops with the last one. */
  private ended(stream: EventStream): void {
    this.streams.delete(stream);
    this.tenantOf.delete(stream);
    if (this.streams.size === 0 && this.keepAliveTimer !== null) {
      clearInterval(this.keepAliveTimer);
      this.keepAliveTimer = null;
    }
  }

  /** One timer for every stream's keep-alive, running while any is open. */
  private keepAlives(): void {
    this.keepAliveTimer ??= setInterval(() => {
      for (const stream of this.streams) {
        stream.keepAlive();
      }
    }, this.limits.keepAliveMs);
  }

  /** What the hub holds (tests and operators): open streams, the ring's size and ids. */
  async stats(): Promise<{ streams: number; events: number; bytes: number; floor: number; lastId: number }> {
    return {
      streams: this.streams.size,
      events: this.ring.size,
      bytes: this.ring.byteSize,
      floor: this.ring.floor,
      lastId: this.ring.lastId,
    };
  }
}

/** A refusal as RPC data (errors cross RPC as data: thrown ones lose their fields). */
function refused(error: ApiError): Result<never> {
  return { ok: false, error: error.body };
}
