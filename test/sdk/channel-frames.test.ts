import { describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../../src/core/errors.ts";
import { MAX_NODE_FRAME_BYTES, ShardFrame } from "../../src/schemas/channel.ts";
import {
  channelError,
  MAX_FRAME_BYTES,
  parseShardFrame,
  STATUS_OF_CODE,
} from "../../src/sdk/channel-frames.ts";

// The SDK checks the shard's frames by hand (no zod at run time); this holds it to the schema: on
// every valid frame of each op and on every one-field change of them, both must say the same.

const task = {
  id: "t-1-eu-west-1",
  type: "thumbnail.render",
  payload: { w: 10 },
  attempt: 1,
  leaseToken: "l_1",
  leaseExpiresAt: 1_900_000_000_000,
};

const valid: object[] = [
  { op: "welcome", nodeId: "n-1-eu-west-1", region: "eu-west-1", heartbeatIntervalMs: 2000, resumed: false },
  { op: "tasks", tasks: [task, { ...task, id: "t-2", payload: null }] },
  { op: "tasks", tasks: [] },
  {
    op: "reported",
    ref: "7",
    results: [
      { id: "t-1", ok: true, status: "succeeded" },
      { id: "t-2", ok: false, error: { code: "conflict", message: "lease lost", reason: "lease_lost" } },
    ],
  },
  { op: "extended", ref: "a".repeat(64), leaseExpiresAt: 1_900_000_000_000 },
  { op: "leader", election: "leader:eu", leader: "n-1", term: 3, isLeader: true, position: 0 },
  { op: "leader", ref: "9", election: "leader:eu", leader: null, term: 0, isLeader: false, position: null },
  { op: "resigned", ref: "3" },
  { op: "error", ref: "4", error: { code: "conflict", message: "no", reason: "node_dead" } },
  { op: "error", error: { code: "invalid_request", message: "not a frame" } },
];

const wrongValues: unknown[] = [
  undefined,
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  "",
  "x",
  "Not An Id!",
  "a".repeat(65),
  [],
  {},
];

/** Every path into `value` (object keys and array items). */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) {
    return [];
  }
  return Object.entries(value).flatMap(([key, child]) => {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    return [path, ...paths(child, path)];
  });
}

/** A deep copy of `frame` with the value at `path` replaced (undefined: removed). */
function withValue(frame: object, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(frame) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) {
    parent = parent[key] as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (value === undefined) {
    delete parent[last];
  } else {
    parent[last] = value;
  }
  return copy;
}

function sdkAccepts(value: unknown): boolean {
  return !("invalid" in parseShardFrame(JSON.stringify(value)));
}

describe("parseShardFrame", () => {
  it("accepts every valid frame", () => {
    for (const frame of valid) {
      expect(ShardFrame.safeParse(frame).success, JSON.stringify(frame)).toBe(true);
      expect(sdkAccepts(frame), JSON.stringify(frame)).toBe(true);
    }
  });

  it("agrees with the ShardFrame schema on every one-field change of a valid frame", () => {
    let cases = 0;
    let refused = 0;
    for (const frame of valid) {
      for (const path of paths(frame)) {
        for (const value of [...wrongValues, { op: "tasks" }]) {
          const changed = withValue(frame, path, value);
          const schema = ShardFrame.safeParse(changed).success;
          expect(sdkAccepts(changed), `${JSON.stringify(changed)} (schema: ${schema})`).toBe(schema);
          cases++;
          refused += schema ? 0 : 1;
        }
      }
    }
    expect(cases).toBeGreaterThan(900);
    expect(refused).toBeGreaterThan(600);
  });

  it("says why a frame is refused", () => {
    expect(parseShardFrame("{oops")).toEqual({ invalid: "not JSON" });
    expect(parseShardFrame("[1]")).toEqual({ invalid: "not a JSON object" });
    expect(parseShardFrame('{"op":"reboot"}')).toEqual({ invalid: "reboot: unknown op" });
    expect(parseShardFrame('{"op":"extended","ref":"1"}')).toEqual({
      invalid: "extended: bad or missing leaseExpiresAt",
    });
  });

  it("uses the schemas' frame limit and the contract's status for each error code", () => {
    expect(MAX_FRAME_BYTES).toBe(MAX_NODE_FRAME_BYTES);
    expect(STATUS_OF_CODE).toEqual(ERROR_STATUS);
    expect(channelError({ code: "rate_limited", message: "slow down" })).toMatchObject({ status: 429 });
    expect(channelError({ code: "something_new", message: "?" })).toMatchObject({ status: 400 });
  });
});
