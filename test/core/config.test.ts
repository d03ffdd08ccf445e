import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, SETTINGS } from "../../src/core/config";

const ADMIN = { ADMIN_TOKEN: "secret" };

/** The ConfigError `env` makes parseConfig throw (fails the test when it parses). */
function refusal(env: Record<string, unknown>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error(`parsed: ${JSON.stringify(env)}`);
}

describe("settings (src/core/config.ts)", () => {
  it("takes each default when a setting is absent, and digits (as wrangler gives [vars]) otherwise", () => {
    expect(parseConfig(ADMIN)).toEqual({
      heartbeatIntervalMs: SETTINGS.HEARTBEAT_INTERVAL_MS.default,
      deadAfterMs: SETTINGS.NODE_DEAD_AFTER_MS.default,
      channelGraceMs: SETTINGS.CHANNEL_GRACE_MS.default,
      rateLimit: {
        ratePerSec: SETTINGS.RATE_LIMIT_PER_SEC.default,
        burst: SETTINGS.RATE_LIMIT_BURST.default,
      },
      taskRetentionMs: SETTINGS.TASK_RETENTION_MS.default,
      listByteBudget: SETTINGS.LIST_BYTE_BUDGET.default,
      electionRetentionMs: SETTINGS.ELECTION_RETENTION_MS.default,
      endpoints: {
        breakerFailures: SETTINGS.ENDPOINT_BREAKER_FAILURES.default,
        breakerPauseMs: SETTINGS.ENDPOINT_BREAKER_PAUSE_MS.default,
        privateAddresses: "deny",
      },
      sockets: {
        framesPerSec: SETTINGS.SOCKET_FRAMES_PER_SEC.default,
        bytesPerSec: SETTINGS.SOCKET_BYTES_PER_SEC.default,
        tokenFramesPerSec: SETTINGS.TOKEN_FRAMES_PER_SEC.default,
        objectFramesPerSec: SETTINGS.OBJECT_FRAMES_PER_SEC.default,
        maxStrikes: SETTINGS.SOCKET_MAX_STRIKES.default,
      },
      observers: { perToken: SETTINGS.OBSERVERS_PER_TOKEN.default, total: SETTINGS.OBSERVERS.default },
      refusals: { ratePerSec: SETTINGS.REFUSALS_PER_SEC.default, burst: SETTINGS.REFUSAL_BURST.default },
      tenants: {
        tasksPerSec: SETTINGS.TENANT_TASKS_PER_SEC.default,
        tasksBurst: SETTINGS.TENANT_TASKS_BURST.default,
        maxTasks: SETTINGS.TENANT_MAX_TASKS.default,
        maxNodes: SETTINGS.TENANT_MAX_NODES.default,
        maxElections: SETTINGS.TENANT_MAX_ELECTIONS.default,
        maxStreams: SETTINGS.TENANT_MAX_STREAMS.default,
        maxObservers: SETTINGS.TENANT_MAX_OBSERVERS.default,
        maxChannels: SETTINGS.TENANT_MAX_CHANNELS.default,
      },
    });
    expect(
      parseConfig({
        ...ADMIN,
        HEARTBEAT_INTERVAL_MS: "500",
        NODE_DEAD_AFTER_MS: 2500,
        CHANNEL_GRACE_MS: " 700 ",
      }),
    ).toMatchObject({ heartbeatIntervalMs: 500, deadAfterMs: 2500, channelGraceMs: 700 });
  });

  it("refuses a value it cannot use instead of falling back to the default, naming the setting", () => {
    for (const bad of ["10s", "1e4", "-1", "", "2000.5", "0x10", "9007199254740993"]) {
      const error = refusal({ ...ADMIN, NODE_DEAD_AFTER_MS: bad });
      expect(error.setting).toBe("NODE_DEAD_AFTER_MS");
      expect(error.message).toContain(JSON.stringify(bad));
    }
    expect(refusal({ ...ADMIN, RATE_LIMIT_BURST: "0" }).setting).toBe("RATE_LIMIT_BURST");
    // Under a day: idempotency keys would be honoured less than the contract's 24 h.
    expect(refusal({ ...ADMIN, TASK_RETENTION_MS: "86399999" }).setting).toBe("TASK_RETENTION_MS");
    expect(parseConfig({ ...ADMIN, TASK_RETENTION_MS: "86400000" }).taskRetentionMs).toBe(86_400_000);
    expect(refusal({ ...ADMIN, HEARTBEAT_INTERVAL_MS: "600001" }).message).toMatch(/from 100 to 600000/);
    // A page budget past 16 MiB could not cross a Durable Object call with room to spare (32 MiB).
    expect(refusal({ ...ADMIN, LIST_BYTE_BUDGET: "16777217" }).setting).toBe("LIST_BYTE_BUDGET");
    expect(refusal({ ...ADMIN, ELECTION_RETENTION_MS: "59999" }).setting).toBe("ELECTION_RETENTION_MS");
  });

  it("checks settings against each other: a node may not be dead before its first missed heartbeat", () => {
    const error = refusal({ ...ADMIN, HEARTBEAT_INTERVAL_MS: "5000", NODE_DEAD_AFTER_MS: "5000" });
    expect(error.setting).toBe("NODE_DEAD_AFTER_MS");
    expect(error.message).toMatch(/more than HEARTBEAT_INTERVAL_MS/);
  });

  it("ENDPOINT_PRIVATE_ADDRESSES takes deny, loopback or allow, and nothing else", () => {
    expect(parseConfig({ ...ADMIN, ENDPOINT_PRIVATE_ADDRESSES: "loopback" }).endpoints.privateAddresses).toBe(
      "loopback",
    );
    const error = refusal({ ...ADMIN, ENDPOINT_PRIVATE_ADDRESSES: "yes" });
    expect(error.setting).toBe("ENDPOINT_PRIVATE_ADDRESSES");
    expect(error.message).toMatch(/deny, loopback, allow/);
  });

  it("requires the admin token", () => {
    expect(refusal({}).setting).toBe("ADMIN_TOKEN");
    expect(refusal({ ADMIN_TOKEN: "  " }).setting).toBe("ADMIN_TOKEN");
  });
});
