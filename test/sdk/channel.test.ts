import { describe, expect, it } from "vitest";
import { NodeChannel, type NodeChannelOptions } from "../../src/sdk/channel.ts";
import { ChannelError, MeridianError, TransportError } from "../../src/sdk/errors.ts";
import { FakeSocket } from "./fake-channel.ts";
import { ManualClock } from "./manual-clock.ts";

// The NodeChannel alone, against a scripted shard: the test plays the server's side of one socket.

const welcome = {
  op: "welcome",
  nodeId: "n-1-eu-west-1",
  region: "eu-west-1",
  heartbeatIntervalMs: 2000,
  resumed: false,
};
const task = {
  id: "t-1",
  type: "echo",
  payload: { n: 1 },
  attempt: 1,
  leaseToken: "l_1",
  leaseExpiresAt: Date.UTC(2030, 0, 1) + 30_000,
};
const outcome = { id: "t-1", leaseToken: "l_1", outcome: "succeeded" as const, result: 1 };

function setup(options: Partial<NodeChannelOptions> = {}) {
  const clock = new ManualClock();
  const warnings: string[] = [];
  const sent: any[] = [];
  let socket: FakeSocket | null = null;
  const channel = new NodeChannel({
    url: "https://meridian.test/",
    token: "node-secret",
    nodeId: "n-1-eu-west-1",
    clock,
    webSocket: (url, init) => {
      socket = new FakeSocket(url, init.headers);
      socket.onFrame = (data) => sent.push(JSON.parse(data));
      return socket;
    },
    logger: { info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
    ...options,
  });
  const shard = {
    get socket(): FakeSocket {
      return socket!;
    },
    send: (frame: unknown) => socket!.deliver(JSON.stringify(frame)),
  };
  return { clock, channel, sent, warnings, shard };
}

async function connected(options: Partial<NodeChannelOptions> = {}) {
  const t = setup(options);
  const connecting = t.channel.connect();
  t.shard.socket.accept();
  t.shard.send(welcome);
  await t.clock.run(connecting);
  return t;
}

describe("NodeChannel", () => {
  it("connects with the node's bearer token and resolves with the shard's welcome", async () => {
    const { channel, shard } = await connected();
    expect(shard.socket.url).toBe("wss://meridian.test/v1/nodes/n-1-eu-west-1/channel");
    expect(shard.socket.headers).toEqual({ authorization: "Bearer node-secret" });
    expect(channel.state).toBe("open");
    expect(channel.welcome).toEqual(welcome);
  });

  it("rejects a connect the shard refuses, answers with an error, or never welcomes", async () => {
    const refused = setup();
    const upgrade = refused.channel.connect();
    refused.shard.socket.refuse(); // e.g. 404 from a server without the channel: only `error` fires
    await expect(refused.clock.run(upgrade)).rejects.toBeInstanceOf(ChannelError);
    await expect(refused.channel.closed).resolves.toMatchObject({ byNode: false, drained: false });

    const dead = setup();
    const answered = dead.channel.connect();
    dead.shard.socket.accept();
    dead.shard.send({ op: "error", error: { code: "conflict", message: "dead", reason: "node_dead" } });
    await expect(dead.clock.run(answered)).rejects.toMatchObject({
      name: "MeridianError",
      status: 409,
      reason: "node_dead",
    });

    const silent = setup();
    const startedAt = silent.clock.now();
    const waiting = silent.channel.connect({ timeoutMs: 5000 });
    silent.shard.socket.accept();
    await expect(silent.clock.run(waiting)).rejects.toThrow(/no welcome from the shard within 5000 ms/);
    expect(silent.clock.now() - startedAt).toBe(5000);
    expect(silent.shard.socket.readyState).toBe(3);
  });

  it("sends one credit frame per turn, with the last value, and none once draining", async () => {
    const { channel, clock, sent } = await connected();
    channel.credit(1);
    channel.credit(2);
    channel.credit(3);
    await clock.advance(0);
    expect(sent).toEqual([{ op: "credit", n: 3 }]);
    channel.credit(1);
    await clock.advance(0);
    expect(sent.at(-1)).toEqual({ op: "credit", n: 1 });
    channel.credit(4);
    expect(channel.drain()).toBe(true); // the credit of this turn is dropped
    expect(channel.credit(2)).toBe(false);
    await clock.advance(0);
    expect(sent.slice(2)).toEqual([{ op: "drain" }]);
    expect(() => channel.credit(1.5)).toThrow(RangeError);
    expect(() => channel.credit(10_001)).toThrow(RangeError);
  });

  it("matches answers to requests by ref: an error frame rejects only its own request", async () => {
    const { channel, clock, sent, shard } = await connected();
    const reporting = channel.report([outcome]);
    const extending = channel.extend("t-2", "l_2", 30_000);
    await clock.advance(0);
    const [report, extend] = sent;
    expect(report).toMatchObject({ op: "report", reports: [outcome] });
    expect(extend).toEqual({
      op: "extend",
      ref: expect.any(String),
      id: "t-2",
      leaseToken: "l_2",
      extendMs: 30_000,
    });
    expect(report.ref).not.toBe(extend.ref);
    // Answered out of order: the extension is refused first.
    shard.send({
      op: "error",
      ref: extend.ref,
      error: { code: "conflict", message: "lost", reason: "lease_lost" },
    });
    shard.send({ op: "reported", ref: report.ref, results: [{ id: "t-1", ok: true, status: "succeeded" }] });
    await expect(clock.run(extending)).rejects.toMatchObject({
      status: 409,
      code: "conflict",
      reason: "lease_lost",
    });
    await expect(extending).rejects.toBeInstanceOf(MeridianError);
    await expect(clock.run(reporting)).resolves.toEqual([{ id: "t-1", ok: true, status: "succeeded" }]);
  });

  it("times a request out on the clock, and ignores its late answer", async () => {
    const { channel, clock, sent, shard, warnings } = await connected({ requestTimeoutMs: 3000 });
    const contacts: number[] = [];
    channel.on("contact", (sentAt) => contacts.push(sentAt));
    const sentAt = clock.now();
    const extending = channel.extend("t-1", "l_1", 30_000);
    await expect(clock.run(extending)).rejects.toThrow(/extend: no answer within 3000 ms/);
    await expect(extending).rejects.toBeInstanceOf(TransportError);
    expect(clock.now() - sentAt).toBe(3000);
    shard.send({ op: "extended", ref: sent[0].ref, leaseExpiresAt: 1 });
    await clock.advance(0);
    expect(warnings.join("\n")).toMatch(/answer to no pending request/);
    // A prompt answer proves contact as of when the request was sent, not when the answer came.
    const asked = clock.now();
    const again = channel.extend("t-1", "l_1", 30_000);
    await clock.advance(700);
    shard.send({ op: "extended", ref: sent[1].ref, leaseExpiresAt: 2 });
    await expect(clock.run(again)).resolves.toEqual({ leaseExpiresAt: 2 });
    expect(contacts).toEqual([asked]);
    expect(channel.state).toBe("open");
  });

  it("ignores malformed frames from the shard, logs them, and keeps working", async () => {
    const { channel, clock, shard, warnings } = await connected();
    const pushed: unknown[] = [];
    channel.on("tasks", (tasks) => pushed.push(...tasks));
    shard.socket.deliver("{oops");
    shard.socket.deliver(new ArrayBuffer(8));
    shard.send({ op: "reboot" });
    shard.send({ op: "tasks", tasks: [{ ...task, attempt: "one" }] });
    shard.send({ op: "reported", ref: "" });
    shard.send({ op: "tasks", tasks: [task] });
    await clock.advance(0);
    expect(pushed).toEqual([task]);
    expect(warnings).toHaveLength(5);
    expect(warnings.filter((w) => w.includes("malformed"))).toHaveLength(4);
    expect(warnings.join("\n")).toMatch(/binary/);
    expect(channel.state).toBe("open");
  });

  it("hands pushed tasks and leader changes to listeners; a campaign resolves with its leader frame", async () => {
    const { channel, clock, sent, shard } = await connected();
    const pushed: { ids: string[]; at: number }[] = [];
    const leaders: unknown[] = [];
    channel.on("tasks", (tasks, at) => pushed.push({ ids: tasks.map((t) => t.id), at }));
    channel.on("leader", (frame) => leaders.push(frame));
    await clock.advance(25);
    shard.send({ op: "tasks", tasks: [task, { ...task, id: "t-2" }] });
    const campaigning = channel.campaign("leader:eu");
    await clock.advance(0);
    const standing = { election: "leader:eu", leader: "n-1-eu-west-1", term: 4, isLeader: true, position: 0 };
    shard.send({ op: "leader", ref: sent[0].ref, ...standing });
    await expect(clock.run(campaigning)).resolves.toEqual({ op: "leader", ref: sent[0].ref, ...standing });
    const change = {
      op: "leader",
      election: "leader:eu",
      leader: "n-2",
      term: 5,
      isLeader: false,
      position: 1,
    };
    shard.send(change);
    await clock.advance(0);
    expect(pushed).toEqual([{ ids: ["t-1", "t-2"], at: Date.UTC(2030, 0, 1) + 25 }]);
    expect(leaders).toEqual([change]); // the answer to the campaign is not also a change
    const resigning = channel.resign("leader:eu");
    await clock.advance(0);
    expect(sent[1]).toEqual({ op: "resign", ref: expect.any(String), election: "leader:eu" });
    shard.send({ op: "resigned", ref: sent[1].ref });
    await expect(clock.run(resigning)).resolves.toBeUndefined();
  });

  it("fails pending requests when the socket closes, and says how it ended", async () => {
    const { channel, clock, shard } = await connected();
    const reporting = channel.report([outcome]);
    await clock.advance(0);
    shard.socket.drop(1011, "restart");
    await expect(clock.run(reporting)).rejects.toThrow(/report: the node channel closed \(1011 restart\)/);
    await expect(channel.closed).resolves.toEqual({
      code: 1011,
      reason: "restart",
      byNode: false,
      drained: false,
    });
    await expect(channel.report([outcome])).rejects.toBeInstanceOf(TransportError);
    expect(channel.heartbeat(0.5)).toBe(false);
  });

  it("knows a drained channel: the shard's 1000 close after the node's drain", async () => {
    const { channel, clock, sent, shard } = await connected();
    expect(channel.heartbeat(0.25)).toBe(true);
    channel.drain();
    await clock.advance(0);
    expect(sent).toEqual([{ op: "heartbeat", load: 0.25 }, { op: "drain" }]);
    shard.socket.drop(1000, "drained");
    await expect(clock.run(channel.closed)).resolves.toMatchObject({ code: 1000, drained: true });
  });

  it("refuses a frame over the limit without sending it", async () => {
    const { channel, clock, sent } = await connected();
    const huge = { ...outcome, result: "x".repeat(300 * 1024) };
    await expect(channel.report([huge])).rejects.toMatchObject({ status: 413, code: "payload_too_large" });
    await expect(channel.report([])).rejects.toBeInstanceOf(RangeError);
    await clock.advance(0);
    expect(sent).toEqual([]);
    expect(channel.state).toBe("open");
  });
});
