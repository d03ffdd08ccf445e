/**
 * A small populated Meridian for the auth matrix and the fuzzer: one token of each role plus a
 * revoked one, two regions (one empty), a node of the node token, a leased and a queued task, and
 * an election with a candidate. Built through the public API on a harness of its own.
 */
import { runInDurableObject } from "cloudflare:test";
import { ADMIN, type Harness, harness } from "../integration/harness";

export type Role = "admin" | "client" | "node" | "reader";

export interface Fixture {
  h: Harness;
  tokens: Record<Role | "revoked", string>;
  tokenIds: Record<Role, string>;
  nodeId: string;
  leased: { id: string; leaseToken: string };
  queuedId: string;
  /** A canceled (so finished) task: what DELETE /v1/tasks/{id} erases. */
  canceledId: string;
  term: number;
}

export async function fixture(): Promise<Fixture> {
  const h = await harness();
  const mint = async (role: Role) => {
    const reply = await h.post("/v1/tokens", { role });
    return { token: reply.body.token as string, id: reply.body.id as string };
  };
  const client = await mint("client");
  const node = await mint("node");
  const reader = await mint("reader");
  const admin = await mint("admin");
  const revoked = await mint("client");
  await h.delete(`/v1/tokens/${revoked.id}`);
  await h.region("eu-west", 53.35, -6.26);
  await h.region("empty", 0, 0);
  const nodeId = await h.node(node.token, "eu-west", 5);
  await h.submit({ type: "leased", region: "eu-west" }, client.token);
  const [leased] = await h.poll(nodeId, node.token);
  const queuedId = (await h.submit({ type: "queued", region: "eu-west" }, client.token)).body.id as string;
  const canceledId = (await h.submit({ type: "canceled", region: "eu-west" }, client.token)).body
    .id as string;
  await h.post(`/v1/tasks/${canceledId}/cancel`, {}, client.token);
  const term = (await h.post("/v1/elections/db/campaign", { candidate: nodeId, ttlMs: 60_000 }, node.token))
    .body.leader.term as number;
  return {
    h,
    tokens: {
      admin: admin.token,
      client: client.token,
      node: node.token,
      reader: reader.token,
      revoked: revoked.token,
    },
    tokenIds: { admin: admin.id, client: client.id, node: node.id, reader: reader.id },
    nodeId,
    leased: { id: leased.id, leaseToken: leased.leaseToken },
    queuedId,
    canceledId,
    term,
  };
}

const COORDINATOR_TABLES = ["tokens", "regions", "shards", "gone_nodes", "elections", "candidates"];
const SHARD_TABLES = ["shard", "nodes", "tasks", "outbox"];

/** Every row of the coordinator and of each shard the harness made, table by table. */
async function everyRow(h: Harness): Promise<Record<string, unknown[]>> {
  const rows: Record<string, unknown[]> = await runInDurableObject(h.stub, (_, ctx) =>
    Object.fromEntries(
      COORDINATOR_TABLES.map((t) => [t, ctx.storage.sql.exec(`SELECT * FROM ${t} ORDER BY 1`).toArray()]),
    ),
  );
  for (const region of h.regions) {
    for (const t of SHARD_TABLES) {
      rows[`${region}/${t}`] = await h.shardSql(region, `SELECT * FROM ${t} ORDER BY 1`);
    }
  }
  return rows;
}

/** A digest of everything the coordinator and the shards store: a call that must not change state must not change it. */
export async function stateDigest(h: Harness): Promise<string> {
  return JSON.stringify(await everyRow(h));
}

/** How many rows of each kind, for the report. */
export async function stateCounts(h: Harness): Promise<Record<string, number>> {
  const rows = await everyRow(h);
  return Object.fromEntries(Object.entries(rows).map(([t, r]) => [t, r.length]));
}

export { ADMIN };
