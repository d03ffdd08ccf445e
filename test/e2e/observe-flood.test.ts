/**
 * Issue 14, item 1, against a real `wrangler dev`: one reader token's election observers flood the
 * coordinator while a probe client keeps calling /healthz and submitting tasks. Before the fix, one
 * socket's 20,000 "ping" frames stalled every call for 7.7 s. Half the sockets send "ping", half
 * junk, each in one burst; the edge relays observer sockets and meters them (500 frames a second
 * per socket): a ping burst gets 500 pongs, then refusals; junk gets refusals; five refusals close
 * the socket with 1008. Asserted: every probe call is answered, every flooding socket is closed
 * with 1008, and a calm observer of the same token stays open until the token is revoked (then
 * 1008). The latencies are printed (never asserted: the machine is shared).
 */
import { describe, expect, it } from "vitest";
import { type ChannelSocket, globalWebSocket } from "../../src/sdk/channel-socket.ts";
import { Api, PLACES, serverForFile, waitFor } from "./harness.ts";

const SOCKETS = 4;
const FRAMES = 5000;

/** An observer socket and what it saw. */
interface Flooder {
  socket: ChannelSocket;
  kind: "ping" | "junk";
  received: number;
  errors: number;
  closed: { code: number; reason: string } | null;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `n=${sorted.length} p50=${percentile(sorted, 50).toFixed(1)} ms p99=${percentile(sorted, 99).toFixed(1)} ms max=${(sorted.at(-1) ?? Number.NaN).toFixed(1)} ms`;
}

async function timed(call: () => Promise<{ status: number }>): Promise<{ ms: number; status: number }> {
  const start = performance.now();
  const { status } = await call();
  return { ms: performance.now() - start, status };
}

describe("an observe flood (issue 14, item 1)", () => {
  // The server's default timings: the probe's node must stay healthy while it heartbeats on a timer.
  const { server } = serverForFile({ HEARTBEAT_INTERVAL_MS: 2000, NODE_DEAD_AFTER_MS: 10_000 });

  it(`${SOCKETS} observer sockets × ${FRAMES} frames: /healthz and submits are answered, flooding sockets close with 1008, revocation closes a calm one`, async () => {
    const tokens = await server.seed({ "eu-central-1": PLACES.frankfurt });
    const minted = await server.api.ok("POST", "/v1/tokens", { role: "reader", label: "flooder" });
    const client = new Api(server.url, tokens.client);
    const nodeApi = new Api(server.url, tokens.node);
    const node = await nodeApi.ok("POST", "/v1/nodes", { region: "eu-central-1", capacity: 1 });
    const beating = setInterval(() => {
      nodeApi.call("POST", `/v1/nodes/${node.id}/heartbeat`, {}).catch(() => undefined);
    }, 500);
    const healthz = () =>
      fetch(`${server.url}/healthz`).then(async (r) => ({ status: r.status, body: await r.text() }));
    const submit = () => client.call("POST", "/v1/tasks", { type: "probe", region: "eu-central-1" });

    const baseline = { healthz: [] as number[], submit: [] as number[] };
    for (let i = 0; i < 20; i++) {
      baseline.healthz.push((await timed(healthz)).ms);
      baseline.submit.push((await timed(submit)).ms);
    }

    const url = `${server.url.replace(/^http/, "ws")}/v1/elections/flood/observe`;
    const flooders: Flooder[] = [];
    for (let i = 0; i < SOCKETS; i++) {
      const socket = globalWebSocket(url, { headers: { authorization: `Bearer ${minted.token}` } });
      const f: Flooder = {
        socket,
        kind: i % 2 === 0 ? "ping" : "junk",
        received: 0,
        errors: 0,
        closed: null,
      };
      socket.addEventListener("message", (event) => {
        f.received++;
        if (typeof event.data === "string" && event.data.startsWith('{"error"')) {
          f.errors++;
        }
      });
      socket.addEventListener("close", (event) => {
        f.closed = { code: event.code, reason: event.reason };
      });
      flooders.push(f);
    }
    const calm = globalWebSocket(url, { headers: { authorization: `Bearer ${minted.token}` } });
    let calmClosed: { code: number; reason: string } | null = null;
    let calmPongs = 0;
    calm.addEventListener("message", (event) => {
      calmPongs += event.data === "pong" ? 1 : 0;
    });
    calm.addEventListener("close", (event) => {
      calmClosed = { code: event.code, reason: event.reason };
    });
    await waitFor(
      "the observers to open",
      () => flooders.every((f) => f.received >= 1) && calm.readyState === 1,
    );

    // The flood: every socket sends its frames at once (the client buffers what the server has not read).
    const floodStart = performance.now();
    for (const f of flooders) {
      for (let i = 0; i < FRAMES && f.socket.readyState === 1; i++) {
        f.socket.send(f.kind === "ping" ? "ping" : `junk ${i}`);
      }
    }
    const sentMs = performance.now() - floodStart;
    // The probe: /healthz and a submit, one after the other, while the flood is served.
    const during = { healthz: [] as number[], submit: [] as number[] };
    const statuses = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const h = await timed(healthz);
      const s = await timed(submit);
      during.healthz.push(h.ms);
      during.submit.push(s.ms);
      statuses.add(h.status).add(s.status);
    }
    const junk = flooders.filter((f) => f.kind === "junk");
    const pings = flooders.filter((f) => f.kind === "ping");
    await waitFor("the flooding sockets to close", () => flooders.every((f) => f.closed !== null), 30_000);
    const floodMs = performance.now() - floodStart;

    console.log(
      [
        `observe flood: ${SOCKETS} sockets × ${FRAMES} frames (${pings.length} sending "ping", ${junk.length} sending junk), served in ${floodMs.toFixed(0)} ms`,
        `  the client queued its frames in ${sentMs.toFixed(0)} ms; first /healthz samples during the flood: ${during.healthz
          .slice(0, 5)
          .map((ms) => ms.toFixed(0))
          .join(", ")} ms`,
        `  baseline  /healthz ${summary(baseline.healthz)}; submit ${summary(baseline.submit)}`,
        `  flood     /healthz ${summary(during.healthz)}; submit ${summary(during.submit)}`,
        `  junk sockets: ${junk.map((f) => `closed ${f.closed?.code} "${f.closed?.reason}" after ${f.errors} error frames`).join("; ")}`,
        `  ping sockets: ${pings.map((f) => `closed ${f.closed?.code} "${f.closed?.reason}" after ${f.received - 1 - f.errors} pongs and ${f.errors} error frames`).join("; ")}`,
      ].join("\n"),
    );
    expect([...statuses].sort()).toEqual([200, 201]);
    for (const f of flooders) {
      expect(f.closed?.code).toBe(1008);
    }

    // The calm observer of the same token is still served; revoking the token closes it at once.
    calm.send("ping");
    await waitFor("the calm observer's pong", () => calmPongs === 1, 10_000);
    const revokedAt = performance.now();
    await server.api.ok("DELETE", `/v1/tokens/${minted.id}`);
    await waitFor("the calm observer to close", () => calmClosed !== null, 10_000);
    const closedBy = calmClosed as { code: number; reason: string } | null;
    console.log(
      `  revocation: the calm observer closed ${closedBy?.code} "${closedBy?.reason}" within ${(performance.now() - revokedAt).toFixed(0)} ms`,
    );
    expect(closedBy?.code).toBe(1008);
    expect((await healthz()).status).toBe(200);
    clearInterval(beating);
  }, 180_000);
});
