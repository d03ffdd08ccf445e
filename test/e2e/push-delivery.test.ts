import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, PLACES, serverForFile, TIMINGS, waitFor } from "./harness.ts";
import { PushReceiver } from "./push-receiver.ts";

// A breaker that opens after 3 failures and probes again after 1.5 s: seconds, not minutes.
const BREAKER = { ENDPOINT_BREAKER_FAILURES: 3, ENDPOINT_BREAKER_PAUSE_MS: 1500 };

// Each test has regions of its own, served by push endpoints only (no agent anywhere).
const REGIONS = {
  sig: PLACES.tokyo,
  retry: PLACES.seoul,
  slow: PLACES.osaka,
  refuse: PLACES.saoPaulo,
  brk: PLACES.frankfurt,
  "brk-b": PLACES.warsaw,
  cfg: PLACES.capeTown,
  cancel: PLACES.buenosAires,
  crash: PLACES.johannesburg,
};

describe("push delivery to HTTP executors (real wrangler dev, real HTTP receivers)", () => {
  const { server } = serverForFile({ ...TIMINGS, ...BREAKER });
  const receivers: PushReceiver[] = [];
  let admin: Api;
  let client: Api;

  beforeAll(async () => {
    const tokens = await server.seed(REGIONS);
    admin = server.api;
    client = new Api(server.url, tokens.client);
  });

  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.stop()));
  });

  /** A receiver behind endpoint `name` of `region`, holding the secret the PUT answered. */
  async function endpoint(region: string, name: string, body: Record<string, unknown> = {}) {
    const receiver = await new PushReceiver().start();
    receivers.push(receiver);
    const put = await admin.call("PUT", `/v1/regions/${region}/endpoints/${name}`, {
      url: receiver.url,
      capacity: 4,
      ...body,
    });
    expect(put.status).toBe(201);
    receiver.secret = put.body.secret;
    return receiver;
  }

  const task = async (id: string) => (await client.ok("GET", `/v1/tasks/${id}`)) as any;
  const finished = (id: string) =>
    waitFor(`task ${id} to finish`, async () => {
      const t = await task(id);
      return ["succeeded", "failed", "canceled"].includes(t.status) ? t : undefined;
    });
  const submit = async (body: Record<string, unknown>) =>
    (await client.ok("POST", "/v1/tasks", body)).id as string;

  const metrics = async () =>
    (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.admin}` } })).text();

  it("refuses bad endpoints with 400 (never 500) and checks roles", async () => {
    const put = (body: unknown, path = "/v1/regions/cfg/endpoints/bad") =>
      admin.call("PUT", path, body).then((r) => r.status);
    const good = { url: "https://executor.example.com/run", capacity: 2 };
    expect(await put({ ...good, url: "ftp://executor.example.com/run" })).toBe(400);
    expect(await put({ ...good, url: "https://user:secret@executor.example.com/run" })).toBe(400);
    // Loopback is allowed locally (ENDPOINT_PRIVATE_ADDRESSES=loopback); other private ranges are not.
    expect(await put({ ...good, url: "http://10.0.0.5/run" })).toBe(400);
    expect(await put({ ...good, url: "http://169.254.169.254/latest" })).toBe(400);
    expect(await put({ ...good, url: "http://[fd00::1]/run" })).toBe(400);
    expect(await put({ ...good, url: "not a url" })).toBe(400);
    expect(await put({ ...good, url: `https://x.example.com/${"a".repeat(3000)}` })).toBe(400);
    expect(await put({ ...good, capacity: 0 })).toBe(400);
    expect(await put({ ...good, capacity: 1001 })).toBe(400);
    expect(await put({ ...good, timeoutMs: 5 })).toBe(400);
    expect(await put({ ...good, extra: 1 })).toBe(400);
    expect(await put({ capacity: 2 })).toBe(400);
    expect(await put(good, "/v1/regions/cfg/endpoints/Bad%20Name")).toBe(400);
    expect(await put(good, "/v1/regions/nowhere/endpoints/x")).toBe(404);
    const raw = await fetch(`${server.url}/v1/regions/cfg/endpoints/bad`, {
      method: "PUT",
      headers: { authorization: `Bearer ${server.admin}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(raw.status).toBe(400);
    expect((await client.call("PUT", "/v1/regions/cfg/endpoints/bad", good)).status).toBe(403);
    // The refusal says why, on the url.
    const refused = await admin.call("PUT", "/v1/regions/cfg/endpoints/bad", {
      ...good,
      url: "http://10.0.0.5/",
    });
    expect(refused.body.error.issues[0].path).toBe("url");
    expect((await admin.call("GET", "/v1/regions/cfg/endpoints")).body).toEqual({ endpoints: [] });
  });

  it("shows the secret once: a replacing PUT keeps it; GET, list and DELETE as for nodes", async () => {
    const created = await admin.call("PUT", "/v1/regions/cfg/endpoints/hooks", {
      url: "http://127.0.0.1:9/run",
      capacity: 2,
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(created.body.breaker).toEqual({ state: "closed", failures: 0, openedAt: null });
    const replaced = await admin.call("PUT", "/v1/regions/cfg/endpoints/hooks", {
      url: "http://127.0.0.1:9/other",
      capacity: 3,
      timeoutMs: 2000,
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.secret).toBeUndefined();
    expect(replaced.body).toMatchObject({
      name: "hooks",
      region: "cfg",
      url: "http://127.0.0.1:9/other",
      capacity: 3,
    });
    const one = await admin.ok("GET", "/v1/regions/cfg/endpoints/hooks");
    expect(one.secret).toBeUndefined();
    expect(one.timeoutMs).toBe(2000);
    expect((await admin.ok("GET", "/v1/regions/cfg/endpoints")).endpoints.map((e: any) => e.name)).toEqual([
      "hooks",
    ]);
    expect((await admin.call("DELETE", "/v1/regions/cfg/endpoints/hooks")).status).toBe(204);
    expect((await admin.call("GET", "/v1/regions/cfg/endpoints/hooks")).status).toBe(404);
    expect((await admin.call("DELETE", "/v1/regions/cfg/endpoints/hooks")).status).toBe(404);
  });

  it("delivers signed tasks that the receiver verifies; a region with only an endpoint is healthy", async () => {
    const receiver = await endpoint("sig", "executor");
    receiver.answer = (t) => ({ status: 200, body: { echoed: t.payload } });
    await waitFor("the region to be healthy", async () => {
      const { regions } = await client.ok("GET", "/v1/regions");
      return regions.find((r: any) => r.id === "sig")?.healthy;
    });
    const id = await submit({ type: "echo", payload: { n: 7 }, region: "sig" });
    const done = await finished(id);
    expect(done.status).toBe("succeeded");
    expect(done.result).toEqual({ echoed: { n: 7 } });
    expect(done.nodeId).toBe("endpoint:executor");
    const [delivery] = receiver.of(id);
    expect(delivery?.refused).toBe(null);
    expect(delivery?.headers["webhook-id"]).toBe(`${id}:1`);
    expect(delivery?.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // The same signature over another body is refused by the receiver (401): the check is real.
    const forged = await fetch(receiver.url, {
      method: "POST",
      headers: {
        "webhook-id": String(delivery!.headers["webhook-id"]),
        "webhook-timestamp": String(delivery!.headers["webhook-timestamp"]),
        "webhook-signature": String(delivery!.headers["webhook-signature"]),
      },
      body: JSON.stringify({ task: { ...delivery!.task, payload: { n: 8 } } }),
    });
    expect(forged.status).toBe(401);
  });

  it("retries after a 500 and after a timeout, with the task's back-off, then succeeds", async () => {
    const receiver = await endpoint("retry", "flaky", { timeoutMs: 1000 });
    receiver.answer = (t) =>
      t.attempt === 1
        ? { status: 500, body: { error: "boom" } }
        : t.attempt === 2
          ? { status: 200, body: "too late", delayMs: 2500 }
          : { status: 200, body: { attempt: t.attempt } };
    const id = await submit({ type: "work", region: "retry", maxAttempts: 5 });
    const done = await finished(id);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(3);
    expect(done.result).toEqual({ attempt: 3 });
    expect(receiver.of(id).map((d) => d.headers["webhook-id"])).toEqual([`${id}:1`, `${id}:2`, `${id}:3`]);
    // Two failures in a row are fewer than the breaker's three: it stayed closed, and the success reset it.
    expect((await admin.ok("GET", "/v1/regions/retry/endpoints/flaky")).breaker.state).toBe("closed");
  });

  it("no double success: a 2xx that comes after the timeout and the retry changes nothing", async () => {
    const receiver = await endpoint("slow", "sluggish", { timeoutMs: 1000 });
    receiver.answer = (t) =>
      t.attempt === 1
        ? { status: 200, body: { attempt: 1 }, delayMs: 3000 }
        : { status: 200, body: { attempt: t.attempt } };
    const id = await submit({ type: "work", region: "slow", maxAttempts: 3 });
    const done = await finished(id);
    expect(done).toMatchObject({ status: "succeeded", attempts: 2, result: { attempt: 2 } });
    // The first attempt's answer has now been written (late): the task still has one outcome, the second's.
    await waitFor("the slow answer to be written", () => receiver.of(id)[0]?.answeredAt != null);
    await waitFor(
      "the first attempt's late answer to settle",
      async () => (await task(id)).status === "succeeded",
    );
    expect(await task(id)).toMatchObject({ status: "succeeded", attempts: 2, result: { attempt: 2 } });
    expect(receiver.of(id)).toHaveLength(2);
  });

  it("409, 410 and 422 fail the task without a retry", async () => {
    const receiver = await endpoint("refuse", "picky");
    receiver.answer = (t) => ({ status: (t.payload as { status: number }).status, body: { why: "no" } });
    for (const status of [409, 410, 422]) {
      const id = await submit({ type: "work", region: "refuse", payload: { status }, maxAttempts: 5 });
      const done = await finished(id);
      expect({ status, outcome: done.status, attempts: done.attempts }).toEqual({
        status,
        outcome: "failed",
        attempts: 1,
      });
      expect(done.lastError).toContain(String(status));
      expect(receiver.of(id)).toHaveLength(1);
    }
    // Refusals are answers: the endpoint is working, its breaker stays closed.
    expect((await admin.ok("GET", "/v1/regions/refuse/endpoints/picky")).breaker.state).toBe("closed");
  });

  it("the breaker opens after 3 failures (the region turns unhealthy, tasks go elsewhere or 503) and closes once the endpoint recovers", async () => {
    const broken = await endpoint("brk", "main");
    broken.answer = () => ({ status: 503, body: { error: "down" } });
    const backup = await endpoint("brk-b", "backup");
    backup.answer = () => ({ status: 200, body: { by: "backup" } });
    const stuck = await submit({ type: "work", region: "brk", maxAttempts: 20 });
    const open = await waitFor("the breaker to open", async () => {
      const e = await admin.ok("GET", "/v1/regions/brk/endpoints/main");
      return e.breaker.state === "open" ? e : undefined;
    });
    expect(open.breaker.failures).toBe(3);
    expect(await metrics()).toContain('meridian_endpoint_breaker_open{region="brk",endpoint="main"} 1');
    // The dashboard reads the breaker from /v1/status.
    const status = await admin.ok("GET", "/v1/status");
    expect(status.endpoints).toContainEqual({
      region: "brk",
      name: "main",
      state: "open",
      inFlight: 0,
      capacity: 4,
    });
    const regions = (await client.ok("GET", "/v1/regions")).regions;
    expect(regions.find((r: any) => r.id === "brk").healthy).toBe(false);
    // Pinned to the region: nothing can run it there now.
    const pinned = await client.call("POST", "/v1/tasks", { type: "work", region: "brk" });
    expect(pinned.status).toBe(503);
    expect(pinned.body.error.code).toBe("no_healthy_region");
    // From Paris, Frankfurt (brk) is nearest, but unhealthy: Warsaw takes it.
    const rerouted = await client.ok("POST", "/v1/tasks", { type: "work", location: PLACES.paris });
    expect(rerouted.region).toBe("brk-b");
    expect((await finished(rerouted.id)).result).toEqual({ by: "backup" });

    // The endpoint recovers: after the pause one probe goes through, closes the breaker, and the
    // region is healthy again; the task that waited succeeds.
    broken.answer = () => ({ status: 200, body: { by: "main" } });
    const done = await finished(stuck);
    expect(done).toMatchObject({ status: "succeeded", result: { by: "main" } });
    expect((await admin.ok("GET", "/v1/regions/brk/endpoints/main")).breaker.state).toBe("closed");
    const text = await metrics();
    expect(text).toContain('meridian_endpoint_breaker_open{region="brk",endpoint="main"} 0');
    expect(text).toMatch(/meridian_push_deliveries_total\{region="brk",outcome="failed"\} [3-9]/);
    await waitFor("the region to be healthy again", async () => {
      const { regions } = await client.ok("GET", "/v1/regions");
      return regions.find((r: any) => r.id === "brk")?.healthy;
    });
    const after = await client.ok("POST", "/v1/tasks", { type: "work", location: PLACES.paris });
    expect(after.region).toBe("brk");
  });
  it("a task canceled while its delivery runs stays canceled when the 2xx comes: the answer is late, and ignored", async () => {
    const receiver = await endpoint("cancel", "slowpoke");
    receiver.answer = () => ({ status: 200, body: { done: true }, delayMs: 1500 });
    const id = await submit({ type: "work", region: "cancel" });
    await waitFor("the delivery to arrive", () => receiver.of(id).length === 1);
    expect((await client.call("POST", `/v1/tasks/${id}/cancel`)).status).toBe(200);
    await waitFor("the late answer to be recorded as late", async () =>
      (await metrics()).includes('meridian_push_deliveries_total{region="cancel",outcome="late"} 1'),
    );
    expect(await task(id)).toMatchObject({ status: "canceled", result: null });
    expect((await admin.ok("GET", "/v1/regions/cancel/endpoints/slowpoke")).inFlight).toBe(0);
  });

  // Last: it restarts the server.
  it("a crash of the runtime mid-delivery loses nothing: the lease expires and the task is delivered again", async () => {
    const receiver = await endpoint("crash", "survivor", { timeoutMs: 2000 });
    receiver.answer = (t) =>
      t.attempt === 1
        ? { status: 200, body: { attempt: 1 }, delayMs: 60_000 }
        : { status: 200, body: { attempt: t.attempt } };
    const id = await submit({ type: "work", region: "crash", maxAttempts: 5 });
    await waitFor("the first delivery to arrive", () => receiver.of(id).length === 1);
    await server.stop("SIGKILL");
    await server.start();
    const done = await finished(id);
    expect(done).toMatchObject({ status: "succeeded", attempts: 2, result: { attempt: 2 } });
    expect(receiver.of(id).map((d) => d.headers["webhook-id"])).toEqual([`${id}:1`, `${id}:2`]);
    expect((await admin.ok("GET", "/v1/regions/crash/endpoints/survivor")).inFlight).toBe(0);
  });
});
