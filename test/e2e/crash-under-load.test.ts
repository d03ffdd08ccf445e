import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, Server, waitFor } from "./harness.ts";

/**
 * kill -9 of the whole runtime (wrangler and its workerd, one process group) while clients submit
 * and a node executes, then a restart on the same --persist-to state: every task acknowledged with
 * 201 is there and ends with exactly one outcome; tokens, node bindings, terms and idempotency keys
 * survive. Nothing acknowledged may be lost.
 */
const SUBMITTERS = 6;
const LOAD_MS = 2500;

interface Attempt {
  key: string;
  body: Record<string, unknown>;
  /** The task id if the server acknowledged it (201, or 200 for a repeat). */
  id?: string;
}

describe("crash-restart durability under load", () => {
  const server = new Server();
  let tokens: Awaited<ReturnType<Server["seed"]>>;

  beforeAll(async () => {
    await server.start();
    tokens = await server.seed({ "eu-west": { lat: 53.35, lon: -6.26 } });
  });

  afterAll(async () => {
    await server.dispose();
  });

  it("loses nothing acknowledged, and every task ends with one outcome", async () => {
    const client = new Api(server.url, tokens.client);
    const node = new Api(server.url, tokens.node);
    const nodeId = (await node.ok("POST", "/v1/nodes", { region: "eu-west", capacity: 50 })).id as string;
    const campaign = await node.ok("POST", "/v1/elections/e2e-db/campaign", {
      candidate: "svc-a",
      ttlMs: 300_000,
    });
    const term = campaign.leader.term as number;

    // Load: submitters with idempotency keys, and a node completing what it polls, until the kill.
    const attempts: Attempt[] = [];
    let running = true;
    const submitter = async (w: number) => {
      for (let i = 0; running; i++) {
        const key = `w${w}-${i}`;
        const attempt: Attempt = {
          key,
          body: {
            type: "job",
            region: "eu-west",
            idempotencyKey: key,
            payload: { key },
            timeoutMs: 2000,
            maxAttempts: 10,
          },
        };
        attempts.push(attempt);
        try {
          const reply = await client.call("POST", "/v1/tasks", attempt.body);
          if (reply.status === 201) {
            attempt.id = reply.body.id;
          }
        } catch {
          return; // the server is gone
        }
      }
    };
    let completedBeforeKill = 0;
    const executor = async () => {
      while (running) {
        try {
          const { tasks } = await node.ok("POST", `/v1/nodes/${nodeId}/poll`, { max: 10 });
          for (const t of tasks) {
            const done = await node.call("POST", `/v1/tasks/${t.id}/complete`, {
              leaseToken: t.leaseToken,
              result: t.payload,
            });
            completedBeforeKill += done.status === 200 ? 1 : 0;
          }
        } catch {
          return;
        }
      }
    };
    const load = [...Array.from({ length: SUBMITTERS }, (_, w) => submitter(w)), executor()];
    await new Promise((r) => setTimeout(r, LOAD_MS));
    await server.stop("SIGKILL");
    running = false;
    await Promise.all(load);
    const acked = attempts.filter((a) => a.id !== undefined);
    expect(acked.length).toBeGreaterThan(50);

    await server.start(); // same port, same state directory

    // Tokens authenticate; the node is still bound to its token (alive or declared dead, never someone else's).
    expect((await client.call("GET", "/v1/regions")).status).toBe(200);
    expect([200, 409]).toContain((await node.call("POST", `/v1/nodes/${nodeId}/heartbeat`, {})).status);
    expect(
      (await new Api(server.url, tokens.reader).call("POST", `/v1/nodes/${nodeId}/heartbeat`, {})).status,
    ).toBe(403);
    // The term survives.
    const election = await node.ok("GET", "/v1/elections/e2e-db");
    expect(election).toMatchObject({ term, leader: { candidate: "svc-a", term } });
    // Every acknowledged task is stored.
    for (const a of acked) {
      expect((await client.call("GET", `/v1/tasks/${a.id}`)).status).toBe(200);
    }
    // A fresh node (the old one may have been declared dead while the runtime was down), kept beating.
    const worker = (await node.ok("POST", "/v1/nodes", { region: "eu-west", capacity: 100 })).id as string;
    const beat = setInterval(() => {
      node.call("POST", `/v1/nodes/${worker}/heartbeat`, {}).catch(() => undefined);
    }, 400);

    // Idempotency keys survive: a repeat returns the first task; a key the crash swallowed stores now.
    const byKey = new Map<string, string>();
    for (const a of attempts) {
      const reply = await client.call("POST", "/v1/tasks", a.body);
      expect([200, 201]).toContain(reply.status);
      if (a.id !== undefined) {
        expect([reply.status, reply.body.id]).toEqual([200, a.id]);
      }
      byKey.set(a.key, reply.body.id);
    }
    const ids = new Set(byKey.values());
    expect(ids.size).toBe(attempts.length); // one task per key, no duplicates

    // The node executes until every task has ended (leases cut by the crash expire and retry).
    const repeats: { id: string; leaseToken: string }[] = [];
    try {
      await waitFor(
        "every task to end",
        async () => {
          const { tasks } = await node.ok("POST", `/v1/nodes/${worker}/poll`, { max: 100 });
          for (const t of tasks) {
            await node.ok("POST", `/v1/tasks/${t.id}/complete`, {
              leaseToken: t.leaseToken,
              result: t.payload,
            });
            repeats.push({ id: t.id, leaseToken: t.leaseToken });
          }
          const live = await Promise.all(
            ["scheduled", "queued", "leased"].map(
              async (status) => (await client.ok("GET", `/v1/tasks?status=${status}&limit=500`)).tasks.length,
            ),
          );
          return live.every((n) => n === 0);
        },
        60_000,
        250,
      );
    } finally {
      clearInterval(beat);
    }
    let succeeded = 0;
    for (const [key, id] of byKey) {
      const task = await client.ok("GET", `/v1/tasks/${id}`);
      expect([key, task.status, task.result]).toEqual([key, "succeeded", { key }]);
      succeeded++;
    }
    // Exactly one outcome: completing again is refused and changes nothing.
    for (const r of repeats.slice(0, 20)) {
      const again = await node.call("POST", `/v1/tasks/${r.id}/complete`, {
        leaseToken: r.leaseToken,
        result: "twice",
      });
      expect([again.status, again.body.error?.reason]).toEqual([409, "already_terminal"]);
    }
    console.log(
      `crash-restart: ${attempts.length} submissions during the load, ${acked.length} acknowledged, ` +
        `${completedBeforeKill} completed before kill -9; after restart ${succeeded} tasks succeeded, lost 0`,
    );
  });
});
