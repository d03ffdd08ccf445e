/**
 * Push delivery's bench (API-v2 §6), through the real `wrangler dev` stack: one region served only by
 * a push endpoint of capacity 32, pointed at a no-op HTTP executor in this process (node:http on
 * 127.0.0.1, answers `200 {}` at once, does not verify: the receiver's cost is not Meridian's).
 * Submitters keep a backlog of about BACKLOG tasks queued (100-task batches pinned to the region), so
 * the endpoint never waits for work and the queue does not grow without bound; counted: deliveries
 * the shard recorded as succeeded (`meridian_push_deliveries_total{outcome="succeeded"}`), over the
 * measured window. Compare with `channel.lifecycle.tasksPerSec` (the same lifecycle over node channels).
 */
import { createServer } from "node:http";
import type { HttpClient } from "./load.ts";
import type { BenchServer } from "./server.ts";

type Numbers = Record<string, number>;

export interface PushBenchOptions {
  durationMs: number;
  warmupMs: number;
  /** The endpoint's capacity: deliveries in flight at once. */
  capacity: number;
  log: (line: string) => void;
}

/** Tasks kept waiting ahead of the endpoint. */
const BACKLOG = 2000;
const SUBMITTERS = 4;
const REGION = "push-bench";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchPush(
  server: BenchServer,
  client: HttpClient,
  options: PushBenchOptions,
): Promise<Numbers> {
  let answered = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      answered++;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  receiver.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const address = receiver.address();
  const port = typeof address === "object" && address ? address.port : 0;
  try {
    const admin = server.adminToken;
    const clientToken = (
      await client.json<{ token: string }>({
        method: "POST",
        path: "/v1/tokens",
        token: admin,
        body: { role: "client" },
      })
    ).token;
    await client.json({
      method: "PUT",
      path: `/v1/regions/${REGION}`,
      token: admin,
      body: { lat: 50.1, lon: 8.7 },
    });
    await client.json({
      method: "PUT",
      path: `/v1/regions/${REGION}/endpoints/noop`,
      token: admin,
      body: { url: `http://127.0.0.1:${port}/`, capacity: options.capacity, timeoutMs: 30_000 },
    });
    const succeeded = async () => {
      const text = (await client.send({ method: "GET", path: "/metrics", token: admin })).text;
      const line = text
        .split("\n")
        .find((l) => l.startsWith(`meridian_push_deliveries_total{region="${REGION}",outcome="succeeded"}`));
      return Number(line?.split(" ").pop() ?? 0);
    };
    const batch = JSON.stringify({
      tasks: Array.from({ length: 100 }, (_, n) => ({ type: "bench", payload: { n }, region: REGION })),
    });
    let submitted = 0;
    let running = true;
    let failure: Error | null = null;
    const submitter = async () => {
      while (running) {
        if (submitted - answered > BACKLOG) {
          await sleep(2);
          continue;
        }
        submitted += 100;
        const answer = await client.send({
          method: "POST",
          path: "/v1/tasks:batch",
          token: clientToken,
          raw: batch,
        });
        if (answer.status !== 200 || answer.text.includes('"error"')) {
          failure ??= new Error(`push bench: submit answered ${answer.status}: ${answer.text.slice(0, 300)}`);
          running = false;
        }
      }
    };
    const submitters = Array.from({ length: SUBMITTERS }, submitter);
    await sleep(options.warmupMs);
    const before = await succeeded();
    const began = performance.now();
    await sleep(options.durationMs);
    const after = await succeeded();
    const seconds = (performance.now() - began) / 1000;
    running = false;
    await Promise.all(submitters);
    if (failure) {
      throw failure;
    }
    const done = after - before;
    options.log(
      `  push        ${(done / seconds).toFixed(0).padStart(6)} tasks/s delivered and recorded succeeded (${done} in ${seconds.toFixed(1)} s, capacity ${options.capacity})`,
    );
    return { "push.tasksPerSec": done / seconds, "push.capacity": options.capacity };
  } finally {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  }
}
