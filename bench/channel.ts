/**
 * The node channel's benches (API-v2 §4), through the real `wrangler dev` stack, next to the HTTP
 * no-op of the same run: 32 nodes each with one raw WebSocket (Node's global WebSocket).
 *
 * - lifecycle: credit = capacity on every socket; 100-task batches submitted over HTTP
 *   (`POST /v1/tasks:batch`, pinned to the region), pushed as `tasks` frames, reported as `report`
 *   frames of up to 100; counted: outcomes the shard answered `ok` in its `reported` frames.
 * - heartbeats: each socket sends HEARTBEATS_PER_PROBE heartbeats and then `{"op": "ping"}` (with a
 *   space, so it is not the runtime's auto-response: it reaches the shard, which answers `pong`
 *   after handling every frame sent before it, in order). A heartbeat counts once the pong that
 *   follows it has come back: a round trip through the shard, not a frame written to a socket.
 * - renewals: `campaign` round trips, one in flight per socket, each answered by a `leader` frame
 *   carrying its ref.
 * - keepalives: `{"op":"ping"}` round trips, answered by the runtime without waking the shard: what
 *   the SDK sends to keep a session-bound candidacy believed, instead of campaigning again.
 * - dispatch: sequential; from a submit's 201 to the task arriving at an idle node, over its channel
 *   (a `tasks` frame) or its pending HTTP long poll (`waitMs`), 0 when it arrived first (the shard
 *   pushes before its answer has gone back through the edge); also from the submit's first byte.
 *
 * A socket may send CHANNEL_FRAMES_PER_SEC (500) frames a second; more are refused as abuse, and 5
 * refusals close it. Every socket here paces itself to FRAME_RATE with a token bucket, so the
 * heartbeat and renewal figures have a ceiling of 32 × FRAME_RATE frames a second.
 */
import { startCpuReading } from "./cpu.ts";
import { benchTask, countItemErrors, type Fleet, setUpFleet } from "./fleet.ts";
import { drive, type HttpClient } from "./load.ts";
import type { BenchServer } from "./server.ts";
import { percentile } from "./stats.ts";

type Numbers = Record<string, number>;

export interface ChannelBenchOptions {
  connections: number;
  /** Measured time of each throughput phase. */
  durationMs: number;
  warmupMs: number;
  /** Sequential dispatch samples, per transport. */
  samples: number;
  /** `http.noop.rps` of the same run, if the http part measured it; else a short noop runs here. */
  noopRps?: number;
  log: (line: string) => void;
  /** Called right before and right after each measured phase (`channel.lifecycle`, ...: the profiler hooks in here). */
  around?: (phase: string, moment: "start" | "stop") => Promise<void>;
}

/** Runs `measure` between the `around` hooks of `phase`. */
async function measured<T>(
  options: ChannelBenchOptions,
  phase: string,
  measure: () => Promise<T>,
): Promise<T> {
  await options.around?.(phase, "start");
  try {
    return await measure();
  } finally {
    await options.around?.(phase, "stop");
  }
}

/** Frames a second each socket allows itself (the shard refuses beyond 500). */
const FRAME_RATE = 450;
/** Heartbeats before each answered ping in the heartbeat phase. */
const HEARTBEATS_PER_PROBE = 4;
const CAPACITY = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Frame {
  op: string;
  ref?: string;
  tasks?: { id: string; leaseToken: string }[];
  results?: { ok: boolean }[];
  error?: { message: string };
}

/** One node's socket, with a token bucket of FRAME_RATE frames a second (burst 20). */
class Sock {
  readonly ws: WebSocket;
  onFrame: (frame: Frame) => void = () => {};
  closed: string | null = null;
  private tokens = 20;
  private last = performance.now();

  constructor(url: string, token: string) {
    // Node 22's WebSocket (undici) takes headers in its second argument.
    const Ctor = WebSocket as unknown as new (url: string, init: unknown) => WebSocket;
    this.ws = new Ctor(url, { headers: { authorization: `Bearer ${token}` } });
    this.ws.addEventListener("message", (event) => this.onFrame(JSON.parse(String(event.data)) as Frame));
    this.ws.addEventListener("close", (event) => {
      this.closed = `${event.code} ${event.reason}`;
    });
  }

  /** Resolves with the welcome. */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("channel: no welcome within 10 s")), 10_000);
      this.onFrame = (frame) => {
        clearTimeout(timer);
        frame.op === "welcome"
          ? resolve()
          : reject(new Error(`channel: first frame ${JSON.stringify(frame)}`));
      };
      this.ws.addEventListener("error", () => reject(new Error("channel: the socket failed to open")));
    });
  }

  /** Sends a frame, waiting for the bucket when it is empty. */
  async send(text: string): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      const now = performance.now();
      this.tokens = Math.min(20, this.tokens + ((now - this.last) * FRAME_RATE) / 1000);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        if (this.closed !== null) {
          throw new Error(`channel: the socket closed (${this.closed})`);
        }
        this.ws.send(text);
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) * 1000) / FRAME_RATE));
    }
    throw new Error("channel: the frame budget never refilled");
  }
}

/** Runs the channel benches on a fresh server; returns the `channel.*` and `http.dispatch.*` numbers. */
export async function benchChannel(
  server: BenchServer,
  client: HttpClient,
  options: ChannelBenchOptions,
): Promise<Numbers> {
  const { connections, log } = options;
  const out: Numbers = { "channel.sockets": connections };
  const fleet = await setUpFleet(
    client,
    server.adminToken,
    "bench-ch",
    { lat: 48.85, lon: 2.35 },
    connections,
  );
  const pinned = (n: number) => ({ ...benchTask(fleet, n), region: fleet.region });
  const wsBase = server.url.replace(/^http/, "ws");
  const socks = fleet.nodeIds.map((id) => new Sock(`${wsBase}/v1/nodes/${id}/channel`, fleet.nodeToken));
  await Promise.all(socks.map((s) => s.open()));

  let noopRps = options.noopRps;
  if (noopRps === undefined) {
    const noop = await drive(client, {
      connections,
      durationMs: options.durationMs,
      next: () => ({ method: "GET", path: "/healthz" }),
    });
    noopRps = noop.rps;
    out["channel.noop.rps"] = noop.rps;
    log(`  noop (this server)  ${noop.rps.toFixed(0)} req/s`);
  }
  out["channel.noopRps"] = noopRps;

  try {
    Object.assign(out, await lifecycle(server, client, fleet, socks, pinned, options));
    Object.assign(out, await heartbeats(server, socks, options));
    Object.assign(out, await renewals(socks, options));
    Object.assign(out, await keepalives(server, socks, options));
    Object.assign(out, await dispatch(client, fleet, socks, pinned, options));
  } finally {
    for (const s of socks) {
      s.ws.close(1000, "bench over");
    }
  }
  return out;
}

/** Submits batches over HTTP while every socket takes, runs and reports what it is pushed. */
async function lifecycle(
  server: BenchServer,
  client: HttpClient,
  fleet: Fleet,
  socks: Sock[],
  pinned: (n: number) => Record<string, unknown>,
  options: ChannelBenchOptions,
): Promise<Numbers> {
  let succeeded = 0;
  let refused = 0;
  let firstRefusal = "";
  let n = 0;
  const failures: Error[] = [];
  for (const [i, sock] of socks.entries()) {
    const pending: { id: string; leaseToken: string }[] = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      while (pending.length > 0) {
        const reports = pending.splice(0, 100).map((t) => ({ ...t, outcome: "succeeded" }));
        sock
          .send(JSON.stringify({ op: "report", ref: `r${i}-${n++}`, reports }))
          .catch((e: Error) => failures.push(e));
      }
    };
    sock.onFrame = (frame) => {
      if (frame.op === "tasks") {
        for (const t of frame.tasks ?? []) {
          pending.push({ id: t.id, leaseToken: t.leaseToken });
        }
        if (pending.length >= 100) {
          flush();
        } else if (!scheduled) {
          scheduled = true;
          setTimeout(flush, 2);
        }
      } else if (frame.op === "reported") {
        for (const r of frame.results ?? []) {
          r.ok ? succeeded++ : refused++;
          if (!r.ok && firstRefusal === "") {
            firstRefusal = JSON.stringify(r);
          }
        }
        // Credit replaces: the shard caps it at capacity minus what the node holds.
        sock.send(`{"op":"credit","n":${CAPACITY}}`).catch((e: Error) => failures.push(e));
      } else if (frame.op === "error") {
        failures.push(new Error(`channel: error frame ${JSON.stringify(frame)}`));
      }
    };
    await sock.send(`{"op":"credit","n":${CAPACITY}}`);
  }
  // Submitters: half the connections, 100 pinned tasks a call (the rest of the machine runs the nodes).
  let submitted = 0;
  const batch = () => {
    const tasks = Array.from({ length: 100 }, (_, k) => pinned(k));
    return JSON.stringify({ tasks });
  };
  const body = batch();
  const submit = (durationMs: number) =>
    drive(client, {
      connections: Math.max(1, options.connections / 2),
      durationMs,
      next: () => ({ method: "POST", path: "/v1/tasks:batch", token: fleet.clientToken, raw: body }),
      onAnswer: (_, __, answer) => {
        if (countItemErrors(answer.text) > 0) {
          throw new Error(`channel lifecycle: items were refused: ${answer.text.slice(0, 300)}`);
        }
        submitted += 100;
      },
    });
  if (options.warmupMs > 0) {
    await submit(options.warmupMs);
  }
  const stop = startCpuReading(server.pid, server.port);
  const before = succeeded;
  const began = performance.now();
  const load = await measured(options, "channel.lifecycle", () => submit(options.durationMs));
  const seconds = (performance.now() - began) / 1000;
  const done = succeeded - before;
  const cpu = stop();
  if (load.errors > 0) {
    throw new Error(`channel lifecycle: ${load.errors} submits failed; first: ${load.firstError}`);
  }
  // Let the sockets finish what was submitted (bounded), so the next phases start from an empty queue.
  for (let i = 0; i < 300 && succeeded + refused < submitted; i++) {
    await sleep(100);
  }
  if (failures.length > 0) {
    throw failures[0];
  }
  if (refused > 0) {
    throw new Error(`channel lifecycle: ${refused} reports refused; first: ${firstRefusal}`);
  }
  const out: Numbers = {
    "channel.lifecycle.tasksPerSec": done / seconds,
    "channel.lifecycle.submitP50ms": load.p50ms,
    "channel.lifecycle.leftover": submitted - succeeded,
  };
  if (cpu !== null) {
    out["channel.lifecycle.runtimeCpuMsPerTask"] = (cpu.runtime * 1000) / done;
    out["channel.lifecycle.serverCpuMsPerTask"] = (cpu.server * 1000) / done;
  }
  options.log(
    `  lifecycle   ${(done / seconds).toFixed(0).padStart(6)} tasks/s reported succeeded (${done} in ${seconds.toFixed(1)} s)`,
  );
  return out;
}

/** Closed loops of `[frames, answer]` per socket for `durationMs`; returns answered probes. */
async function loops(
  socks: Sock[],
  durationMs: number,
  probe: (sock: Sock, i: number, seq: number) => { frames: string[]; answered: (f: Frame) => boolean },
): Promise<{ probes: number; seconds: number }> {
  let probes = 0;
  const began = performance.now();
  const end = began + durationMs;
  await Promise.all(
    socks.map(async (sock, i) => {
      for (let seq = 0; performance.now() < end; seq++) {
        const { frames, answered } = probe(sock, i, seq);
        const answer = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("channel: no answer within 10 s")), 10_000);
          sock.onFrame = (frame) => {
            if (frame.op === "error") {
              clearTimeout(timer);
              reject(new Error(`channel: error frame ${JSON.stringify(frame)}`));
            } else if (answered(frame)) {
              clearTimeout(timer);
              resolve();
            }
          };
        });
        for (const f of frames) {
          await sock.send(f);
        }
        await answer;
        probes++;
      }
    }),
  );
  return { probes, seconds: (performance.now() - began) / 1000 };
}

async function heartbeats(
  server: BenchServer,
  socks: Sock[],
  options: ChannelBenchOptions,
): Promise<Numbers> {
  const frames = [
    ...Array.from({ length: HEARTBEATS_PER_PROBE }, () => '{"op":"heartbeat","load":0.5}'),
    '{"op": "ping"}',
  ];
  const probe = () => ({ frames, answered: (f: Frame) => f.op === "pong" });
  if (options.warmupMs > 0) {
    await loops(socks, options.warmupMs, probe);
  }
  const stop = startCpuReading(server.pid, server.port);
  const { probes, seconds } = await measured(options, "channel.heartbeats", () =>
    loops(socks, options.durationMs, probe),
  );
  const cpu = stop();
  const beats = probes * HEARTBEATS_PER_PROBE;
  const out: Numbers = {
    "channel.heartbeatsPerSec": beats / seconds,
    "channel.heartbeat.framesPerSec": (probes * frames.length) / seconds,
    "channel.framesPerSecCeiling": socks.length * FRAME_RATE,
  };
  if (cpu !== null) {
    out["channel.heartbeat.runtimeCpuMsPerFrame"] = (cpu.runtime * 1000) / (probes * frames.length);
  }
  options.log(
    `  heartbeats  ${(beats / seconds).toFixed(0).padStart(6)} /s (${HEARTBEATS_PER_PROBE} per answered ping; frames ${((probes * frames.length) / seconds).toFixed(0)}/s, ceiling ${socks.length * FRAME_RATE})`,
  );
  return out;
}

/**
 * What keeps a channel candidacy believed by the SDK (API-v2 §4: no ttl renewals while the session
 * lasts): `{"op":"ping"}`, answered `{"op":"pong"}` by the runtime without waking the shard. Printed
 * next to the campaign round trips, which a session-bound candidacy no longer needs.
 */
async function keepalives(
  server: BenchServer,
  socks: Sock[],
  options: ChannelBenchOptions,
): Promise<Numbers> {
  const probe = () => ({ frames: ['{"op":"ping"}'], answered: (f: Frame) => f.op === "pong" });
  if (options.warmupMs > 0) {
    await loops(socks, options.warmupMs, probe);
  }
  const stop = startCpuReading(server.pid, server.port);
  const { probes, seconds } = await measured(options, "channel.keepalives", () =>
    loops(socks, options.durationMs, probe),
  );
  const cpu = stop();
  options.log(
    `  keepalives  ${(probes / seconds).toFixed(0).padStart(6)} ping → pong round trips/s (the runtime answers; the shard sleeps)`,
  );
  return {
    "channel.keepalivesPerSec": probes / seconds,
    ...(cpu === null ? {} : { "channel.keepalive.runtimeCpuMs": (cpu.runtime * 1000) / probes }),
  };
}

async function renewals(socks: Sock[], options: ChannelBenchOptions): Promise<Numbers> {
  const probe = (_: Sock, i: number, seq: number) => {
    const ref = `c${seq}`;
    return {
      frames: [`{"op":"campaign","ref":"${ref}","election":"bench-r${i}"}`],
      answered: (f: Frame) => f.op === "leader" && f.ref === ref,
    };
  };
  if (options.warmupMs > 0) {
    await loops(socks, options.warmupMs, probe);
  }
  const { probes, seconds } = await measured(options, "channel.renewals", () =>
    loops(socks, options.durationMs, probe),
  );
  options.log(`  renewals    ${(probes / seconds).toFixed(0).padStart(6)} campaign round trips/s`);
  return { "channel.renewalsPerSec": probes / seconds };
}

/** Sequential: submit, then time from its 201 to the task reaching an idle node. */
async function dispatch(
  client: HttpClient,
  fleet: Fleet,
  socks: Sock[],
  pinned: (n: number) => Record<string, unknown>,
  options: ChannelBenchOptions,
): Promise<Numbers> {
  // One channel node with credit; every other one takes nothing.
  for (const s of socks) {
    s.onFrame = () => {};
    await s.send('{"op":"credit","n":0}');
  }
  const idle = socks[0] as Sock;
  await idle.send('{"op":"credit","n":1}');
  const submit = async (n: number) => {
    const answer = await client.send({
      method: "POST",
      path: "/v1/tasks",
      token: fleet.clientToken,
      raw: JSON.stringify(pinned(n)),
    });
    if (answer.status !== 201) {
      throw new Error(`dispatch: submit -> ${answer.status}: ${answer.text.slice(0, 200)}`);
    }
    return performance.now();
  };
  const channel: number[] = [];
  const channelFromSubmit: number[] = [];
  const httpFromSubmit: number[] = [];
  let early = 0;
  for (let i = 0; i < options.samples; i++) {
    let arrivedAt = 0;
    let task: { id: string; leaseToken: string } | undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("dispatch: no task frame within 10 s")), 10_000);
      idle.onFrame = (f) => {
        if (f.op === "tasks" && f.tasks?.[0]) {
          arrivedAt = performance.now();
          task = f.tasks[0];
          clearTimeout(timer);
          resolve();
        }
      };
    });
    const sentAt = performance.now();
    const ackAt = await submit(i);
    await arrived;
    channelFromSubmit.push(arrivedAt - sentAt);
    early += arrivedAt < ackAt ? 1 : 0;
    channel.push(Math.max(0, arrivedAt - ackAt));
    // Report it and take one more: the node is idle again for the next sample.
    const reported = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("dispatch: no reported frame within 10 s")), 10_000);
      idle.onFrame = (f) => {
        if (f.op === "reported" || f.op === "error") {
          clearTimeout(timer);
          f.op === "reported" ? resolve() : reject(new Error(`dispatch: ${JSON.stringify(f)}`));
        }
      };
    });
    await idle.send(
      JSON.stringify({
        op: "report",
        ref: `d${i}`,
        reports: [{ id: task?.id, leaseToken: task?.leaseToken, outcome: "succeeded" }],
      }),
    );
    await reported;
    await idle.send('{"op":"credit","n":1}');
  }
  await idle.send('{"op":"credit","n":0}');

  // HTTP: a node without a channel, its long poll pending when the task is submitted.
  const node = await client.json<{ id: string }>({
    method: "POST",
    path: "/v1/nodes",
    token: fleet.nodeToken,
    body: { region: fleet.region, capacity: CAPACITY },
  });
  const http: number[] = [];
  for (let i = 0; i < options.samples; i++) {
    let answeredAt = 0;
    const poll = client
      .send({
        method: "POST",
        path: `/v1/nodes/${node.id}/poll`,
        token: fleet.nodeToken,
        raw: '{"max":1,"waitMs":10000}',
      })
      .then((answer) => {
        answeredAt = performance.now();
        return answer;
      });
    await sleep(25); // the poll reaches the shard and waits
    const sentAt = performance.now();
    const ackAt = await submit(options.samples + i);
    const answer = await poll;
    httpFromSubmit.push(answeredAt - sentAt);
    const tasks = (JSON.parse(answer.text) as { tasks: { id: string; leaseToken: string }[] }).tasks;
    if (answer.status !== 200 || tasks.length !== 1) {
      throw new Error(`dispatch: poll -> ${answer.status}: ${answer.text.slice(0, 200)}`);
    }
    http.push(Math.max(0, answeredAt - ackAt));
    const task = tasks[0] as { id: string; leaseToken: string };
    await client.json({
      method: "POST",
      path: `/v1/tasks/${task.id}/complete`,
      token: fleet.nodeToken,
      body: { leaseToken: task.leaseToken, result: { ok: true } },
    });
  }
  const p = (xs: number[], q: number) => percentile(Float64Array.from(xs).sort(), q);
  options.log(
    `  dispatch    channel p50 ${p(channel, 0.5).toFixed(2)} ms p99 ${p(channel, 0.99).toFixed(2)} ms; http long poll p50 ${p(http, 0.5).toFixed(2)} ms p99 ${p(http, 0.99).toFixed(2)} ms (${options.samples} each; ${early} task frames before the 201); from the submit's first byte: channel p50 ${p(channelFromSubmit, 0.5).toFixed(2)} ms, http ${p(httpFromSubmit, 0.5).toFixed(2)} ms`,
  );
  return {
    "channel.dispatch.p50ms": p(channel, 0.5),
    "channel.dispatch.p99ms": p(channel, 0.99),
    "channel.dispatch.beforeAck": early,
    "channel.dispatch.fromSubmitP50ms": p(channelFromSubmit, 0.5),
    "channel.dispatch.fromSubmitP99ms": p(channelFromSubmit, 0.99),
    "http.dispatch.fromSubmitP50ms": p(httpFromSubmit, 0.5),
    "http.dispatch.fromSubmitP99ms": p(httpFromSubmit, 0.99),
    "http.dispatch.p50ms": p(http, 0.5),
    "http.dispatch.p99ms": p(http, 0.99),
    "dispatch.samples": options.samples,
  };
}
