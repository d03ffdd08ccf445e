import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { harness } from "./harness";

describe("input edges (issue 14, item 6)", () => {
  it("refuses a runAt further ahead than delayMs may go (its alarm could not be set), single and in a batch", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    await h.node(await h.token("node"), "eu-west", 1);
    const year = 365 * 24 * 3600 * 1000;
    const far = await h.submit({ type: "x", runAt: 9007199254740991 });
    expect(far.status).toBe(400);
    expect(far.body.error.issues[0].path).toBe("runAt");
    expect((await h.submit({ type: "x", runAt: h.now + year + 1 })).status).toBe(400);
    expect((await h.submit({ type: "x", runAt: h.now + year })).status).toBe(201);
    const batch = await h.post("/v1/tasks:batch", {
      tasks: [
        { type: "x", runAt: h.now + 1000 },
        { type: "x", runAt: 9007199254740991 },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.results[0].task.status).toBe("scheduled");
    expect(batch.body.results[1].error.issues[0].path).toBe("tasks.1.runAt");
    expect(await h.alarm("eu-west")).toBe(true); // the alarm still runs
  });

  it("refuses numbers JSON cannot carry exactly (1e400, 20-digit integers) with 400; exact ones are kept", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    await h.node(await h.token("node"), "eu-west", 1);
    const raw = (payload: string) =>
      h.app.request(
        "http://meridian.test/v1/tasks",
        {
          method: "POST",
          headers: { authorization: "Bearer test-admin-token" },
          body: `{"type":"x","payload":${payload}}`,
        },
        env,
      );
    for (const bad of ['{"n":1e400}', "[12345678901234567891]", '{"a":{"b":-1E999}}']) {
      const reply = await raw(bad);
      expect([bad, reply.status]).toEqual([bad, 400]);
      expect(((await reply.json()) as { error: { message: string } }).error.message).toContain("exactly");
    }
    const ok = await raw('{"n":9007199254740991,"f":0.1,"s":"12345678901234567891","e":1e300}');
    expect(ok.status).toBe(201);
    const { id } = (await ok.json()) as { id: string };
    expect((await h.get(`/v1/tasks/${id}`)).body.payload).toEqual({
      n: 9007199254740991,
      f: 0.1,
      s: "12345678901234567891",
      e: 1e300,
    });
  });
});
