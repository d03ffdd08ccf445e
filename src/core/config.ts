import { z } from "zod";
import { PRIVATE_ADDRESS_POLICIES, type PrivateAddressPolicy } from "./endpoint-url";
import type { SocketLimits } from "./socket-meter";

/**
 * Meridian's settings: `[vars]` of wrangler.toml (overridable in `.dev.vars` or with `--var`) and
 * the `ADMIN_TOKEN` secret, each parsed once by this schema. A bad value is never replaced by a
 * default: every request then answers 500 `misconfigured` naming the setting (a Worker cannot refuse
 * to start). docs/CONFIGURATION.md is generated from SETTINGS (`npm run docs`), and a test keeps it so.
 */

interface NumberSetting {
  kind: "ms" | "count";
  default: number;
  min: number;
  max: number;
  describe: string;
}

/** The numeric settings, with their defaults and bounds. */
export const SETTINGS = {
  HEARTBEAT_INTERVAL_MS: {
    kind: "ms",
    default: 2000,
    min: 100,
    max: 600_000,
    describe:
      "How often a node sends a heartbeat (told to nodes when they register). A node silent for two intervals is suspect: it is given no new work.",
  },
  NODE_DEAD_AFTER_MS: {
    kind: "ms",
    default: 10_000,
    min: 200,
    max: 3_600_000,
    describe:
      "A node silent this long is dead: its leases go back to the queue and its leaderships pass on. Must be more than HEARTBEAT_INTERVAL_MS.",
  },
  CHANNEL_GRACE_MS: {
    kind: "ms",
    default: 1000,
    min: 1,
    max: 600_000,
    describe:
      "A node whose channel closed without a drain may reconnect and keep its leases this long; then it is dead (a kill -9 is detected in about this time).",
  },
  RATE_LIMIT_PER_SEC: {
    kind: "count",
    default: 500,
    min: 1,
    max: 1_000_000,
    describe:
      "Requests a second one token may make to one object (the coordinator, or one region shard); a submit counts each of its tasks (a batch of 100 counts 100).",
  },
  RATE_LIMIT_BURST: {
    kind: "count",
    default: 1000,
    min: 1,
    max: 1_000_000,
    describe: "Requests one token may make at once to one object before RATE_LIMIT_PER_SEC applies.",
  },
  TASK_RETENTION_MS: {
    kind: "ms",
    default: 604_800_000,
    min: 86_400_000,
    max: 31_622_400_000,
    describe:
      "Finished tasks (succeeded, failed, canceled) are deleted this long after they finished, dead nodes this long after they died, and idempotency keys this long after they were first used (a repeat after that is a new submit). At least 24 h: the contract honours idempotency keys for at least a day.",
  },
  LIST_BYTE_BUDGET: {
    kind: "count",
    default: 1_048_576,
    min: 65_536,
    max: 16_777_216,
    describe:
      "Bytes one page of a list (GET /v1/tasks, /v1/nodes, /v1/elections) may hold: the page ends early when the next item would pass it, and its cursor continues from there. Far below the 32 MiB a Durable Object call can carry.",
  },
  ELECTION_RETENTION_MS: {
    kind: "ms",
    default: 86_400_000,
    min: 60_000,
    max: 31_622_400_000,
    describe:
      "An election left without candidates this long is deleted by the coordinator's alarm (GET then answers 404); its term is remembered, so the name's next leader gets a higher one.",
  },
  ENDPOINT_BREAKER_FAILURES: {
    kind: "count",
    default: 5,
    min: 1,
    max: 1000,
    describe:
      "Failed deliveries in a row (5xx, other unexpected statuses, timeouts, unreachable) that open a push endpoint's circuit breaker: it takes no tasks, and stops counting as its region's capacity, until a probe succeeds.",
  },
  ENDPOINT_BREAKER_PAUSE_MS: {
    kind: "ms",
    default: 30_000,
    min: 100,
    max: 3_600_000,
    describe:
      "How long an open breaker waits before it is half open: the endpoint then takes one task (the probe), and its success closes the breaker.",
  },
  SOCKET_FRAMES_PER_SEC: {
    kind: "count",
    default: 500,
    min: 1,
    max: 100_000,
    describe:
      "Frames a second one WebSocket (a node channel, an election observer) may send; each frame past it is refused with an `error` frame and counts as a strike.",
  },
  SOCKET_BYTES_PER_SEC: {
    kind: "count",
    default: 1_048_576,
    min: 1024,
    max: 1_073_741_824,
    describe:
      "Bytes a second one WebSocket may send (frame lengths summed); past it, as past SOCKET_FRAMES_PER_SEC.",
  },
  TOKEN_FRAMES_PER_SEC: {
    kind: "count",
    default: 5000,
    min: 1,
    max: 1_000_000,
    describe:
      "Frames a second all the WebSockets of one token may send to one object (a region shard, the coordinator); past it, as past SOCKET_FRAMES_PER_SEC.",
  },
  OBJECT_FRAMES_PER_SEC: {
    kind: "count",
    default: 20_000,
    min: 1,
    max: 10_000_000,
    describe:
      "Frames a second all the WebSockets of one object may send together; past it, as past SOCKET_FRAMES_PER_SEC. What one object serves stays bounded however many sockets it holds.",
  },
  SOCKET_MAX_STRIKES: {
    kind: "count",
    default: 5,
    min: 1,
    max: 1000,
    describe:
      "Refused frames (malformed, oversized, over a rate) after which a WebSocket is closed with 1008.",
  },
  OBSERVERS_PER_TOKEN: {
    kind: "count",
    default: 16,
    min: 1,
    max: 100_000,
    describe:
      "Open election observers (`GET /v1/elections/{name}/observe`, WebSocket or Server-Sent Events) of one token; past it 429.",
  },
  OBSERVERS: {
    kind: "count",
    default: 1024,
    min: 1,
    max: 1_000_000,
    describe:
      "Open election observers of the whole deployment (one coordinator holds them all); past it 429.",
  },
  REFUSALS_PER_SEC: {
    kind: "count",
    default: 20,
    min: 1,
    max: 1_000_000,
    describe:
      "401 and 403 answers a second one client address (CF-Connecting-IP) may get from one edge isolate; past it (and REFUSAL_BURST) its calls are answered 429 before any lookup. Under `wrangler dev` every client shares one address.",
  },
  REFUSAL_BURST: {
    kind: "count",
    default: 200,
    min: 1,
    max: 1_000_000,
    describe: "401 and 403 answers one client address may get at once before REFUSALS_PER_SEC applies.",
  },
  TENANT_TASKS_PER_SEC: {
    kind: "count",
    default: 1000,
    min: 1,
    max: 1_000_000,
    describe:
      "Tasks a second one tenant may submit to one region shard, each item of a batch counted (API-v2 §8); past it (and TENANT_TASKS_BURST) 429 with Retry-After. Per shard: a tenant spread over n regions may submit n times this.",
  },
  TENANT_TASKS_BURST: {
    kind: "count",
    default: 2000,
    min: 100,
    max: 1_000_000,
    describe:
      "Tasks one tenant may submit at once to one region shard before TENANT_TASKS_PER_SEC applies (at least one full batch, 100).",
  },
  TENANT_MAX_TASKS: {
    kind: "count",
    default: 1_000_000,
    min: 1,
    max: 100_000_000,
    describe:
      "Tasks one tenant may hold stored in one region shard, finished ones included until retention deletes them; a submit past it is answered 409 `quota_exceeded`. Counted per shard, not across the deployment.",
  },
  TENANT_MAX_NODES: {
    kind: "count",
    default: 10_000,
    min: 1,
    max: 1_000_000,
    describe:
      "Live (not dead) nodes one tenant may have registered in one region; a registration past it is answered 409 `quota_exceeded`.",
  },
  TENANT_MAX_ELECTIONS: {
    kind: "count",
    default: 100_000,
    min: 1,
    max: 10_000_000,
    describe:
      "Elections one tenant may hold (the coordinator counts them all); a campaign that would create one more is answered 409 `quota_exceeded`.",
  },
  TENANT_MAX_STREAMS: {
    kind: "count",
    default: 256,
    min: 1,
    max: 1_000_000,
    describe:
      "Open event streams (`GET /v1/events`) the tokens of one tenant may hold together (a global admin's are not counted); past it 409 `quota_exceeded`. The default is the deployment's own bound (256): lower it to keep one tenant from taking every stream.",
  },
  TENANT_MAX_OBSERVERS: {
    kind: "count",
    default: 1024,
    min: 1,
    max: 1_000_000,
    describe:
      "Open election observers (WebSocket or Server-Sent Events) the tokens of one tenant may hold together (a global admin's are not counted); past it 409 `quota_exceeded`. The default is OBSERVERS's: lower it to keep one tenant from taking every observer.",
  },
  TENANT_MAX_CHANNELS: {
    kind: "count",
    default: 10_000,
    min: 1,
    max: 1_000_000,
    describe:
      "Node channels (WebSockets, `GET /v1/nodes/{id}/channel`) of one tenant's nodes in one region, closing ones included; an upgrade past it is answered 409 `quota_exceeded`.",
  },
} as const satisfies Record<string, NumberSetting>;

/** Settings that take one of a few words. */
export const CHOICE_SETTINGS = {
  ENDPOINT_PRIVATE_ADDRESSES: {
    default: "deny",
    choices: PRIVATE_ADDRESS_POLICIES,
    describe:
      "Whether a push endpoint's URL may name a private or loopback IP literal (or localhost): `deny` (production), `loopback` (127.0.0.0/8, ::1 and localhost only: `npm run dev`, `npm start` and the tests pass it), `allow` (any). A hostname cannot be resolved in a Worker: only literals are checked.",
  },
} as const;

export type SettingName = keyof typeof SETTINGS | keyof typeof CHOICE_SETTINGS | "ADMIN_TOKEN";

/** The parsed settings every part of Meridian reads. */
export interface Config {
  heartbeatIntervalMs: number;
  deadAfterMs: number;
  channelGraceMs: number;
  rateLimit: { ratePerSec: number; burst: number };
  /** How long finished tasks, dead nodes and idempotency keys are kept (TASK_RETENTION_MS). */
  taskRetentionMs: number;
  /** Bytes one list page may hold (LIST_BYTE_BUDGET). */
  listByteBudget: number;
  /** How long an election without candidates is kept (ELECTION_RETENTION_MS). */
  electionRetentionMs: number;
  /** Push endpoints: their breaker, and which addresses their URLs may name. */
  endpoints: { breakerFailures: number; breakerPauseMs: number; privateAddresses: PrivateAddressPolicy };
  /** What every WebSocket may send (node channels, election observers). */
  sockets: SocketLimits;
  /** Open election observers per token and per deployment. */
  observers: { perToken: number; total: number };
  /** 401/403 answers per client address before it is answered 429 unheard. */
  refusals: { ratePerSec: number; burst: number };
  /** Per-tenant quotas (API-v2 §8): submit rate and stored tasks per shard, live nodes per region, elections. */
  tenants: {
    tasksPerSec: number;
    tasksBurst: number;
    maxTasks: number;
    maxNodes: number;
    maxElections: number;
    /** Open event streams of the tenant's tokens (the hub counts them). */
    maxStreams: number;
    /** Open election observers of the tenant's tokens (the coordinator counts them). */
    maxObservers: number;
    /** Node channels of the tenant's nodes per region (each shard counts its own). */
    maxChannels: number;
  };
}

/** A setting that cannot be used: named, with what was wrong. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly setting: SettingName,
    reason: string,
  ) {
    super(`${setting}: ${reason}`);
  }
}

/** A whole number within its bounds, written as digits (`"10s"`, `"1e4"`, `"-1"` and `""` are refused). */
function numberSchema(setting: NumberSetting) {
  const unit = setting.kind === "ms" ? " milliseconds" : "";
  return z
    .union([z.string(), z.number()])
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) {
        return setting.default;
      }
      const text = String(value).trim();
      const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < setting.min || n > setting.max) {
        ctx.addIssue({
          code: "custom",
          message: `expected a whole number of${unit} from ${setting.min} to ${setting.max}, got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return n;
    });
}

const EnvSchema = z
  .object({
    HEARTBEAT_INTERVAL_MS: numberSchema(SETTINGS.HEARTBEAT_INTERVAL_MS),
    NODE_DEAD_AFTER_MS: numberSchema(SETTINGS.NODE_DEAD_AFTER_MS),
    CHANNEL_GRACE_MS: numberSchema(SETTINGS.CHANNEL_GRACE_MS),
    RATE_LIMIT_PER_SEC: numberSchema(SETTINGS.RATE_LIMIT_PER_SEC),
    RATE_LIMIT_BURST: numberSchema(SETTINGS.RATE_LIMIT_BURST),
    TASK_RETENTION_MS: numberSchema(SETTINGS.TASK_RETENTION_MS),
    LIST_BYTE_BUDGET: numberSchema(SETTINGS.LIST_BYTE_BUDGET),
    ELECTION_RETENTION_MS: numberSchema(SETTINGS.ELECTION_RETENTION_MS),
    ENDPOINT_BREAKER_FAILURES: numberSchema(SETTINGS.ENDPOINT_BREAKER_FAILURES),
    ENDPOINT_BREAKER_PAUSE_MS: numberSchema(SETTINGS.ENDPOINT_BREAKER_PAUSE_MS),
    ENDPOINT_PRIVATE_ADDRESSES: z
      .enum(CHOICE_SETTINGS.ENDPOINT_PRIVATE_ADDRESSES.choices, {
        error: (issue) =>
          `expected one of ${PRIVATE_ADDRESS_POLICIES.join(", ")}, got ${JSON.stringify(issue.input)}`,
      })
      .default(CHOICE_SETTINGS.ENDPOINT_PRIVATE_ADDRESSES.default),
    SOCKET_FRAMES_PER_SEC: numberSchema(SETTINGS.SOCKET_FRAMES_PER_SEC),
    SOCKET_BYTES_PER_SEC: numberSchema(SETTINGS.SOCKET_BYTES_PER_SEC),
    TOKEN_FRAMES_PER_SEC: numberSchema(SETTINGS.TOKEN_FRAMES_PER_SEC),
    OBJECT_FRAMES_PER_SEC: numberSchema(SETTINGS.OBJECT_FRAMES_PER_SEC),
    SOCKET_MAX_STRIKES: numberSchema(SETTINGS.SOCKET_MAX_STRIKES),
    OBSERVERS_PER_TOKEN: numberSchema(SETTINGS.OBSERVERS_PER_TOKEN),
    OBSERVERS: numberSchema(SETTINGS.OBSERVERS),
    REFUSALS_PER_SEC: numberSchema(SETTINGS.REFUSALS_PER_SEC),
    REFUSAL_BURST: numberSchema(SETTINGS.REFUSAL_BURST),
    TENANT_TASKS_PER_SEC: numberSchema(SETTINGS.TENANT_TASKS_PER_SEC),
    TENANT_TASKS_BURST: numberSchema(SETTINGS.TENANT_TASKS_BURST),
    TENANT_MAX_TASKS: numberSchema(SETTINGS.TENANT_MAX_TASKS),
    TENANT_MAX_NODES: numberSchema(SETTINGS.TENANT_MAX_NODES),
    TENANT_MAX_ELECTIONS: numberSchema(SETTINGS.TENANT_MAX_ELECTIONS),
    TENANT_MAX_STREAMS: numberSchema(SETTINGS.TENANT_MAX_STREAMS),
    TENANT_MAX_OBSERVERS: numberSchema(SETTINGS.TENANT_MAX_OBSERVERS),
    TENANT_MAX_CHANNELS: numberSchema(SETTINGS.TENANT_MAX_CHANNELS),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_DEAD_AFTER_MS <= env.HEARTBEAT_INTERVAL_MS) {
      ctx.addIssue({
        code: "custom",
        path: ["NODE_DEAD_AFTER_MS"],
        message: `must be more than HEARTBEAT_INTERVAL_MS (${env.HEARTBEAT_INTERVAL_MS}), got ${env.NODE_DEAD_AFTER_MS}: a node would be dead before its first missed heartbeat`,
      });
    }
  });

/** The settings of `env`, or a ConfigError naming the first one that cannot be used. */
export function parseConfig(env: Record<string, unknown>): Config {
  if (typeof env.ADMIN_TOKEN !== "string" || env.ADMIN_TOKEN.trim() === "") {
    throw new ConfigError(
      "ADMIN_TOKEN",
      "missing: set it with `wrangler secret put ADMIN_TOKEN` (locally, `npm run dev` writes one to .dev.vars)",
    );
  }
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(issue.path[0] as SettingName, issue.message);
  }
  const v = parsed.data;
  return {
    heartbeatIntervalMs: v.HEARTBEAT_INTERVAL_MS,
    deadAfterMs: v.NODE_DEAD_AFTER_MS,
    channelGraceMs: v.CHANNEL_GRACE_MS,
    rateLimit: { ratePerSec: v.RATE_LIMIT_PER_SEC, burst: v.RATE_LIMIT_BURST },
    taskRetentionMs: v.TASK_RETENTION_MS,
    listByteBudget: v.LIST_BYTE_BUDGET,
    electionRetentionMs: v.ELECTION_RETENTION_MS,
    endpoints: {
      breakerFailures: v.ENDPOINT_BREAKER_FAILURES,
      breakerPauseMs: v.ENDPOINT_BREAKER_PAUSE_MS,
      privateAddresses: v.ENDPOINT_PRIVATE_ADDRESSES,
    },
    sockets: {
      framesPerSec: v.SOCKET_FRAMES_PER_SEC,
      bytesPerSec: v.SOCKET_BYTES_PER_SEC,
      tokenFramesPerSec: v.TOKEN_FRAMES_PER_SEC,
      objectFramesPerSec: v.OBJECT_FRAMES_PER_SEC,
      maxStrikes: v.SOCKET_MAX_STRIKES,
    },
    observers: { perToken: v.OBSERVERS_PER_TOKEN, total: v.OBSERVERS },
    refusals: { ratePerSec: v.REFUSALS_PER_SEC, burst: v.REFUSAL_BURST },
    tenants: {
      tasksPerSec: v.TENANT_TASKS_PER_SEC,
      tasksBurst: v.TENANT_TASKS_BURST,
      maxTasks: v.TENANT_MAX_TASKS,
      maxNodes: v.TENANT_MAX_NODES,
      maxElections: v.TENANT_MAX_ELECTIONS,
      maxStreams: v.TENANT_MAX_STREAMS,
      maxObservers: v.TENANT_MAX_OBSERVERS,
      maxChannels: v.TENANT_MAX_CHANNELS,
    },
  };
}
