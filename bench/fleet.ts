/**
 * Setting the stage for a measurement through the public API: tokens, a region with nodes, and
 * queued or leased tasks in bulk. Only what is measured runs under load; this runs before it.
 */
import type { Call, HttpClient } from "./load.ts";

/** A lease as poll hands it out. */
export interface Lease {
  id: string;
  leaseToken: string;
}

/** Tokens and nodes of one bench region. */
export interface Fleet {
  region: string;
  /** A point next to the region, used as every submitted task's `location`. */
  near: { lat: number; lon: number };
  clientToken: string;
  nodeToken: string;
  nodeIds: string[];
}

/** The task every bench submits: small, routed by location, with a lease long enough to outlive the run. */
export function benchTask(fleet: Fleet, n: number): Record<string, unknown> {
  return { type: "bench", payload: { n }, location: fleet.near, timeoutMs: 3_600_000 };
}

/** Creates a client token, a node token, a region and `nodes` nodes of capacity 10 000 in it. */
export async function setUpFleet(
  client: HttpClient,
  adminToken: string,
  region: string,
  at: { lat: number; lon: number },
  nodes: number,
): Promise<Fleet> {
  const token = async (role: string) =>
    (
      await client.json<{ token: string }>({
        method: "POST",
        path: "/v1/tokens",
        token: adminToken,
        body: { role, label: `bench ${role}` },
      })
    ).token;
  const clientToken = await token("client");
  const nodeToken = await token("node");
  await client.json({ method: "PUT", path: `/v1/regions/${region}`, token: adminToken, body: at });
  const nodeIds: string[] = [];
  for (let i = 0; i < nodes; i++) {
    const node = await client.json<{ id: string }>({
      method: "POST",
      path: "/v1/nodes",
      token: nodeToken,
      body: { region, capacity: 10_000 },
    });
    nodeIds.push(node.id);
  }
  return { region, near: { lat: at.lat + 0.01, lon: at.lon + 0.01 }, clientToken, nodeToken, nodeIds };
}

/** Runs `calls` with up to `concurrency` in flight; throws on the first unexpected answer. */
async function runAll<T>(
  client: HttpClient,
  calls: Call[],
  concurrency: number,
  read: (text: string) => T,
): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const call = calls[next++] as Call;
      const answer = await client.send(call);
      if (answer.status !== 200) {
        throw new Error(`${call.method} ${call.path} -> ${answer.status}: ${answer.text.slice(0, 300)}`);
      }
      results.push(read(answer.text));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** Stores `count` queued tasks through POST /v1/tasks:batch (100 per call); `extra` is merged into each. */
export async function seedTasks(
  client: HttpClient,
  fleet: Fleet,
  count: number,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const calls: Call[] = [];
  for (let done = 0; done < count; done += 100) {
    const size = Math.min(100, count - done);
    const tasks = Array.from({ length: size }, (_, i) => ({ ...benchTask(fleet, done + i), ...extra }));
    calls.push({
      method: "POST",
      path: "/v1/tasks:batch",
      token: fleet.clientToken,
      raw: JSON.stringify({ tasks }),
    });
  }
  const refused = await runAll(client, calls, 8, (text) => countItemErrors(text));
  const total = refused.reduce((a, b) => a + b, 0);
  if (total > 0) {
    throw new Error(`seeding: ${total} of ${count} tasks were refused`);
  }
}

/** Leases up to `count` queued tasks to the fleet's nodes (poll max 100, round robin). */
export async function leaseTasks(client: HttpClient, fleet: Fleet, count: number): Promise<Lease[]> {
  const leases: Lease[] = [];
  while (leases.length < count) {
    const calls: Call[] = [];
    for (let i = 0; i < Math.ceil((count - leases.length) / 100); i++) {
      const node = fleet.nodeIds[i % fleet.nodeIds.length] as string;
      calls.push({
        method: "POST",
        path: `/v1/nodes/${node}/poll`,
        token: fleet.nodeToken,
        body: { max: 100 },
      });
    }
    const got = (
      await runAll(client, calls, 8, (text) => (JSON.parse(text) as { tasks: Lease[] }).tasks)
    ).flat();
    if (got.length === 0) {
      throw new Error(`leasing: the queue ran dry after ${leases.length} of ${count} tasks`);
    }
    for (const task of got) {
      leases.push({ id: task.id, leaseToken: task.leaseToken });
    }
  }
  return leases;
}

/** Number of refused items in a batch answer: each is an `{"error": ...}` entry of `results`. */
export function countItemErrors(text: string): number {
  let count = 0;
  for (let at = text.indexOf('{"error":'); at !== -1; at = text.indexOf('{"error":', at + 1)) {
    count++;
  }
  return count;
}
