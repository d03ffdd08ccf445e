import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { harness } from "./harness";

const BIG = JSON.stringify({ type: "x", payload: "y".repeat(255 * 1024) });

describe("refusals are decided at the edge, cheaply (issue 14, item 5)", () => {
  it("answers 401 and 403 before reading the body: an unreadable 300 KiB body changes nothing", async () => {
    const h = await harness();
    const reader = await h.token("reader");
    const junk = `{${"x".repeat(300 * 1024)}`; // neither JSON nor within the limit
    const send = (token: string | null) =>
      h.app.request(
        "http://meridian.test/v1/tasks",
        { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {}, body: junk },
        env,
      );
    expect((await send(null)).status).toBe(401);
    expect((await send(`mrd_${"a".repeat(32)}`)).status).toBe(401);
    expect((await send(reader)).status).toBe(403); // was 413: the body was read before the role check
    expect((await send(await h.token("client"))).status).toBe(413);
  });

  it("refuses a token not shaped like a minted one without asking the coordinator", async () => {
    const h = await harness();
    const calls = () => h.inside((s) => s.calls.get("authenticate") ?? 0);
    const start = await calls();
    for (const token of ["mrd_short", "nope", `mrd_${"A".repeat(32)}`, "x".repeat(500)]) {
      expect((await h.post("/v1/tasks", JSON.parse(BIG), token)).status).toBe(401);
    }
    expect(await calls()).toBe(start);
  });

  it("answers 429 to an address past its refusals, before any look-up, while known tokens go on; other addresses are not affected", async () => {
    const h = await harness();
    const client = await h.token("client");
    await h.region("eu-west", 53.35, -6.26);
    // A fresh edge on a small refusal budget: burst 3, one a second.
    const app = createApp({ deployment: h.name, clock: h.clock });
    const small = { ...env, REFUSAL_BURST: "3", REFUSALS_PER_SEC: "1" };
    const send = (token: string, address: string) =>
      app.request(
        "http://meridian.test/v1/regions",
        { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": address } },
        small,
      );
    expect((await send(client, "192.0.2.1")).status).toBe(200); // trusted from now on
    const calls = () => h.inside((s) => s.calls.get("authenticate") ?? 0);
    const made = (i: number) => `mrd_${String(i).padStart(32, "a")}`;
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await send(made(i), "192.0.2.1")).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    const before = await calls();
    const limited = await send(made(99), "192.0.2.1");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(await calls()).toBe(before); // no look-up for it
    expect((await send(client, "192.0.2.1")).status).toBe(200); // a token this edge trusts
    expect((await send(made(100), "198.51.100.7")).status).toBe(401); // another address
    h.now += 1000; // a refusal a second comes back
    expect((await send(made(101), "192.0.2.1")).status).toBe(401);
    expect((await send(made(102), "192.0.2.1")).status).toBe(429);
  });

  it("builds /openapi.json once per isolate", async () => {
    const app = createApp({ deployment: crypto.randomUUID() });
    const build = vi.spyOn(app, "getOpenAPI31Document");
    const first = await (await app.request("http://meridian.test/openapi.json", {}, env)).text();
    const second = await (await app.request("http://meridian.test/openapi.json", {}, env)).text();
    expect(second).toBe(first);
    expect(JSON.parse(first).openapi).toBe("3.1.0");
    expect(build).toHaveBeenCalledTimes(1);
  });
});
