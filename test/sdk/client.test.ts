import { describe, expect, it } from "vitest";
import { MeridianClient, MeridianError, TransportError, WaitTimeoutError } from "../../src/sdk/index.ts";
import { FakeMeridian } from "./fake-meridian.ts";
import { ManualClock } from "./manual-clock.ts";

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that answers from a list of handlers, in order, and records the requests. */
function scripted(...answers: ((seen: Seen) => Response | Promise<Response>)[]) {
  const seen: Seen[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request: Seen = {
      method: init?.method ?? "GET",
      url: String(input),
      headers: init?.headers as Record<string, string>,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
    };
    seen.push(request);
    const answer = answers.shift();
    if (!answer) {
      throw new Error(`unexpected request ${request.method} ${request.url}`);
    }
    return answer(request);
  };
  return { fetch, seen };
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const task = (over: Record<string, unknown> = {}) => ({
  id: "t_1",
  type: "resize",
  payload: null,
  status: "queued",
  priority: 0,
  region: "eu-west-1",
  nodeId: null,
  attempts: 0,
  maxAttempts: 3,
  timeoutMs: 30000,
  result: null,
  lastError: null,
  createdAt: 1,
  updatedAt: 1,
  runAt: 1,
  idempotencyKey: null,
  affinityKey: null,
  routing: { reason: "nearest", distanceKm: 12, from: { lat: 1, lon: 2 } },
  ...over,
});

describe("MeridianClient", () => {
  it("submits with the bearer token, the body as JSON, and the idempotency key as a header", async () => {
    const { fetch, seen } = scripted(json(201, task()));
    const client = new MeridianClient({ url: "http://m.test/", token: "secret", fetch });
    const created = await client.submit(
      { type: "resize", payload: { w: 10 }, location: { lat: 1, lon: 2 } },
      { idempotencyKey: "k1" },
    );
    expect(created.id).toBe("t_1");
    expect(seen[0]).toMatchObject({
      method: "POST",
      url: "http://m.test/v1/tasks",
      headers: {
        authorization: "Bearer secret",
        "idempotency-key": "k1",
        "content-type": "application/json",
      },
      body: { type: "resize", payload: { w: 10 }, location: { lat: 1, lon: 2 } },
    });
  });

  it("batches, lists with a query string, gets and cancels", async () => {
    const { fetch, seen } = scripted(
      json(200, { results: [{ task: task() }, { error: { code: "invalid_request", message: "bad" } }] }),
      json(200, { tasks: [task()], cursor: "17" }),
      json(200, { tasks: [task()], cursor: null }),
      json(200, task({ status: "leased" })),
      json(200, { status: "canceled" }),
    );
    const client = new MeridianClient({ url: "http://m.test", token: "t", fetch });
    const results = await client.batch([{ type: "a" }, { type: "b" }]);
    expect("task" in results[0]! && results[0].task.id).toBe("t_1");
    expect("error" in results[1]! && results[1].error.code).toBe("invalid_request");
    const page = await client.list({ status: "queued", region: "eu-west-1", limit: 5 });
    expect(page.cursor).toBe("17");
    // Payloads and results are asked for (lists leave them out since API v2).
    await client.list({ include: ["payload", "result"], cursor: "17" });
    expect((await client.get("t_1")).status).toBe("leased");
    expect(await client.cancel("t_1")).toEqual({ status: "canceled" });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "POST http://m.test/v1/tasks:batch",
      "GET http://m.test/v1/tasks?status=queued&region=eu-west-1&limit=5",
      "GET http://m.test/v1/tasks?include=payload%2Cresult&cursor=17",
      "GET http://m.test/v1/tasks/t_1",
      "POST http://m.test/v1/tasks/t_1/cancel",
    ]);
    expect(seen[0]!.body).toEqual({ tasks: [{ type: "a" }, { type: "b" }] });
  });

  it("retries a task, in place or rerouted, and surfaces not_terminal", async () => {
    const { fetch, seen } = scripted(
      json(200, task({ status: "queued" })),
      json(200, task({ id: "t_2", region: "eu-central-1", retryOf: "t_1" })),
      json(409, { error: { code: "conflict", message: "still queued", reason: "not_terminal" } }),
    );
    const client = new MeridianClient({ url: "http://m.test", token: "t", fetch });
    expect((await client.retryTask("t_1")).status).toBe("queued");
    expect((await client.retryTask("t_1", { reroute: true })).retryOf).toBe("t_1");
    const refused = await client.retryTask("t_1").catch((e) => e);
    expect(refused).toBeInstanceOf(MeridianError);
    expect(refused.reason).toBe("not_terminal");
    expect(seen.map((s) => [`${s.method} ${s.url}`, s.body])).toEqual([
      ["POST http://m.test/v1/tasks/t_1/retry", {}],
      ["POST http://m.test/v1/tasks/t_1/retry", { reroute: true }],
      ["POST http://m.test/v1/tasks/t_1/retry", {}],
    ]);
  });

  it("waits for a result by reading until the task has ended", async () => {
    const clock = new ManualClock();
    const startedAt = clock.now();
    const readAt: number[] = [];
    const read = (body: unknown) => () => {
      readAt.push(clock.now() - startedAt);
      return json(200, body)();
    };
    const { fetch, seen } = scripted(
      read(task({ status: "queued" })),
      read(task({ status: "leased" })),
      read(task({ status: "succeeded", result: { ok: 1 } })),
    );
    const client = new MeridianClient({ url: "http://m.test", token: "t", fetch, clock });
    const done = await clock.run(client.waitForResult("t_1", { intervalMs: 5 }));
    expect(done.result).toEqual({ ok: 1 });
    expect(seen.length).toBe(3);
    // The interval doubles after each read: 5 ms, then 10 ms.
    expect(readAt).toEqual([0, 5, 15]);
  });

  it("gives up waiting with the last state it read", async () => {
    const clock = new ManualClock();
    const startedAt = clock.now();
    const readAt: number[] = [];
    const client = new MeridianClient({
      url: "http://m.test",
      token: "t",
      clock,
      fetch: async () => {
        readAt.push(clock.now() - startedAt);
        return json(200, task({ status: "leased" }))();
      },
    });
    const error = await clock
      .run(client.waitForResult("t_1", { timeoutMs: 50, intervalMs: 10 }))
      .catch((e) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.task.status).toBe("leased");
    expect(error.message).toBe("task t_1 is still leased after 50 ms");
    // Reads at 0, 10 and 30 ms, and a last one when the 50 ms are up (the wait is cut to fit).
    expect(readAt).toEqual([0, 10, 30, 50]);
  });

  it("turns the contract's error shape into a MeridianError, and no answer into a TransportError", async () => {
    const { fetch } = scripted(
      json(409, {
        error: { code: "conflict", message: "ended", reason: "already_terminal", requestId: "r1" },
      }),
      () => new Response("rate limited", { status: 429, headers: { "retry-after": "2" } }),
      () => {
        throw new TypeError("fetch failed");
      },
    );
    const client = new MeridianClient({ url: "http://m.test", token: "t", fetch });
    const conflict = await client.cancel("t_1").catch((e) => e);
    expect(conflict).toBeInstanceOf(MeridianError);
    expect(conflict).toMatchObject({
      status: 409,
      code: "conflict",
      reason: "already_terminal",
      requestId: "r1",
    });
    const limited = await client.get("t_1").catch((e) => e);
    expect(limited).toMatchObject({ status: 429, code: "http_429", retryAfterMs: 2000 });
    expect(await client.get("t_1").catch((e) => e)).toBeInstanceOf(TransportError);
  });

  it("runs a task to its result, or throws when it failed", async () => {
    const { fetch } = scripted(
      json(201, task()),
      json(200, task({ status: "succeeded", result: 42 })),
      json(201, task({ id: "t_2" })),
      json(200, task({ id: "t_2", status: "failed", lastError: "boom" })),
    );
    const client = new MeridianClient({ url: "http://m.test", token: "t", fetch });
    expect(await client.run<number>({ type: "answer" })).toBe(42);
    await expect(client.run({ type: "answer" })).rejects.toThrow(/t_2 failed: boom/);
  });
});

describe("MeridianClient.channel: an executor of one's own", () => {
  it("opens a node's channel with the client's token, takes pushed work on credit, and reports it", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    const client = new MeridianClient({
      url: "http://meridian.test",
      token: "node-token",
      fetch: fake.fetch,
      webSocket: fake.webSocket,
      clock,
    });
    const register = await fetchJson(fake, "/v1/nodes", { region: "eu-west-1", capacity: 2 });
    const channel = client.channel(register.id, { logger: false });
    const pushed: { id: string; leaseToken: string }[] = [];
    channel.on("tasks", (tasks) => pushed.push(...tasks));
    const welcome = await clock.run(channel.connect());
    expect(welcome).toMatchObject({
      op: "welcome",
      nodeId: register.id,
      region: "eu-west-1",
      resumed: false,
    });
    expect(fake.channels.upgrades[0]).toMatchObject({
      url: `ws://meridian.test/v1/nodes/${register.id}/channel`,
      authorization: "Bearer node-token",
    });
    channel.credit(1);
    fake.enqueue("resize");
    fake.enqueue("resize");
    await fake.until("a task pushed", () => pushed.length === 1);
    await clock.advance(10);
    expect(pushed.length).toBe(1); // credit for one
    const [task] = pushed;
    const results = await clock.run(
      channel.report([{ id: task!.id, leaseToken: task!.leaseToken, outcome: "succeeded", result: "ok" }]),
    );
    expect(results).toEqual([{ id: task!.id, ok: true, status: "succeeded" }]);
    expect(fake.outcomes).toMatchObject([{ id: task!.id, outcome: "succeeded", result: "ok" }]);
    channel.close();
    expect(await clock.run(channel.closed)).toMatchObject({ code: 1000, byNode: true });
  });
});

/** A POST to the fake with the node token, as JSON. */
async function fetchJson(fake: FakeMeridian, path: string, body: unknown): Promise<any> {
  const response = await fake.fetch(`http://meridian.test${path}`, {
    method: "POST",
    headers: { authorization: "Bearer node-token" },
    body: JSON.stringify(body),
  });
  return response.json();
}
