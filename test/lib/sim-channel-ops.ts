/**
 * The simulation's steps on node channels (API-v2 §4; the sockets are sim-sockets.ts'): opening
 * (fresh, resumed within the grace period, refused after it), credit, frames in bursts that may be
 * duplicated and reordered (batched reports, extends, heartbeats), drain, the socket dropped without
 * a close, frames of an old socket arriving late, and campaigns over the channel. Each frame is
 * judged by the model when it arrives, then the shard's replies are compared; what the shard pushes
 * (tasks, leader changes) is matched by the checks (sim-channel-check.ts).
 */
import type { ElectionLink, ElectionPush } from "../../durable-objects/messages";
import { SESSION_TTL_MS } from "../../src/core/election";
import { ApiError, type Result } from "../../src/core/errors";
import type { NodeFrame, ShardFrame } from "../../src/schemas/channel";
import { checkOpen } from "./sim-channel-check";
import { adoptRunAts, InvariantError } from "./sim-check";
import { ELECTIONS, type SimulationRun } from "./sim-driver";
import { advance, endWait, queueSnapshot, reconcileLeases } from "./sim-leases";
import { type Expect, err, type ModelNode, type ModelTask, ok } from "./sim-model";
import { expectReported, expectSame, pickReports, type ReportPick, unknownTaskId } from "./sim-ops";
import { deliver, drop, openSocket, type SimSocket } from "./sim-sockets";
import type { Region } from "./sim-sut";

/** An election change the coordinator pushed to a shard (delivered after the step). */
export interface ElectionPushed {
  region: Region;
  change: ElectionPush;
}

/** A frame as sent, with what the model needs to judge its outcome (a report's picks). */
type Outgoing = { frame: NodeFrame; picks?: ReportPick[] };

/** The tasks a node holds now. */
const heldBy = (run: SimulationRun, node: ModelNode): ModelTask[] =>
  [...run.model.tasks.values()].filter((t) => t.status === "leased" && t.nodeId === node.id);

/**
 * The shard's link to the coordinator for channel elections, as the runtime's (region-shard.ts):
 * a request into the coordinator from inside the shard; a refusal is thrown as the ApiError it is.
 */
export function simElectionLink(run: SimulationRun): ElectionLink {
  const value = <T>(result: Result<T>): T => {
    if (!result.ok) {
      throw new ApiError(result.error);
    }
    return result.value;
  };
  return {
    campaign: async (nodeId, tokenId, tenant, election, watcher) =>
      value(await run.sut.fromShard((c) => c.campaignForChannel(nodeId, tokenId, tenant, election, watcher))),
    resign: async (nodeId, tokenId, tenant, election) => {
      value(
        await run.sut.fromShard((c) =>
          c.resign({ role: "node", tokenId, tenant }, election, { candidate: nodeId }, nodeId),
        ),
      );
    },
    observe: async (tenant, election, watcher) =>
      value(await run.sut.fromShard((c) => c.observeForChannel(tenant, election, watcher))),
  };
}

/** Delivers the election changes the coordinator pushed, in order, each to its shard. */
export async function deliverElectionPushes(run: SimulationRun): Promise<void> {
  while (run.electionPushes.length > 0) {
    const { region, change } = run.electionPushes.shift()!;
    expectSame("election push", await run.sut.onShard(region, (s) => s.electionChanged(change)), {
      ok: true,
      value: null,
    });
  }
}

/** The replies to the frames just handled (pushed work and leader changes stay for the checks). */
function takeReplies(socket: SimSocket): ShardFrame[] {
  const isPush = (f: ShardFrame) => f.op === "tasks" || (f.op === "leader" && f.ref === undefined);
  const replies = socket.inbox.filter((entry) => !isPush(entry.frame)).map((entry) => entry.frame);
  socket.inbox = socket.inbox.filter((entry) => isPush(entry.frame));
  return replies;
}

/** A refused request's error frame, by code and reason (the message is the shard's). */
function errorOf(
  frame: ShardFrame | undefined,
): [string | undefined, string, string | undefined] | ShardFrame | undefined {
  return frame?.op === "error" ? [frame.ref, frame.error.code, frame.error.reason] : frame;
}

/** Opens a node's channel: welcomed (resumed within its grace period, with its leases) or refused as the contract says. */
export async function openChannel(run: SimulationRun, node: ModelNode): Promise<void> {
  const m = run.model;
  const region = node.region as Region;
  const expected = run.acting(node);
  const resumed = node.channelClosedAt !== null || node.channel !== null;
  run.note(`${node.id}${resumed ? " (again)" : ""}`);
  const opened = await run.sut.onShard(region, (shard, ctx) =>
    openSocket(shard, ctx, node.id, region, node.tenant),
  );
  if (!opened.ok) {
    expectSame(
      "channel refused",
      [opened.status, opened.error.code, opened.error.reason],
      [409, ...(expected.ok ? ["(open)", undefined] : [expected.code, expected.reason])],
    );
    if (!expected.ok && expected.reason === "node_dead") {
      run.stats.channels.lapsed++;
    }
    return;
  }
  run.sockets.push(opened.socket);
  if (!expected.ok) {
    throw new InvariantError(
      `the channel of ${node.id} opened, the model expects ${JSON.stringify(expected)}`,
    );
  }
  run.stats.channels.opened++;
  expectSame(`welcome of ${node.id}`, opened.welcome, {
    op: "welcome",
    nodeId: node.id,
    region,
    heartbeatIntervalMs: m.config.heartbeatIntervalMs,
    graceMs: m.config.channelGraceMs,
    resumed,
  });
  if (resumed) {
    run.stats.channels.resumed++;
    // A resumed session keeps exactly its leases: each it held at the close is still its own, unless it ended since.
    const kept = node.heldAtClose.filter((id) => m.tasks.get(id)?.nodeId === node.id);
    const rows = run.sut.shardState.get(region)!.tasks;
    expectSame(
      `leases of ${node.id} across its resumed session`,
      kept.map((id) => rows.find((r) => r.id === id)?.node_id),
      kept.map(() => node.id),
    );
  }
  node.channelClosedAt = null;
  node.heldAtClose = [];
  node.channel = { socket: opened.socket.id, credit: 0, draining: false };
}

/** The node's socket goes away without a close frame; the grace period starts unless it had drained. */
export async function dropChannel(run: SimulationRun, node: ModelNode): Promise<void> {
  const channel = node.channel!;
  run.note(node.id);
  run.stats.channels.dropped++;
  node.channel = null;
  const held = heldBy(run, node);
  if (!(channel.draining && held.length === 0)) {
    node.channelClosedAt = run.model.now;
    node.heldAtClose = held.map((t) => t.id);
  }
  const socket = run.socket(channel.socket);
  await run.sut.onShard(socket.region, (shard) => drop(shard, socket));
}

/** Reconnects once the grace period has lapsed: the node is dead (409), its leases gone back to the queue. */
export async function lateReconnect(run: SimulationRun, node: ModelNode): Promise<void> {
  const m = run.model;
  const left = node.channelClosedAt! + m.config.channelGraceMs - m.now;
  await advance(run, Math.max(0, left) + run.rng.int(0, 1000));
  await openChannel(run, node);
}

/** Gives the node's channel credit: runnable work is pushed within it (and within the node's room). */
export async function giveCredit(run: SimulationRun, node: ModelNode): Promise<void> {
  await sendFrames(run, node, [{ frame: { op: "credit", n: run.rng.int(0, 4) } }]);
}

/** Drains over the channel: nothing more is pushed; the shard closes it (1000) once the node holds nothing. */
export async function drainChannel(run: SimulationRun, node: ModelNode): Promise<void> {
  await sendFrames(run, node, [{ frame: { op: "drain" } }]);
}

/** A burst of frames (reports of batches, extends, heartbeats, credit, pings), some sent twice, some out of order. */
export async function channelFrames(run: SimulationRun, node: ModelNode): Promise<void> {
  const { rng } = run;
  const region = node.region as Region;
  const mine = heldBy(run, node);
  const frames: Outgoing[] = [];
  for (let i = rng.int(1, 3); i > 0; i--) {
    const kind = rng.weighted({ report: 4, extend: 2, heartbeat: 1, credit: 2, ping: 1 });
    const ref = `f${rng.int(0, 1e6)}`;
    if (kind === "report") {
      const picks = pickReports(run, region, 4, mine.length > 0 && rng.bool(0.8) ? mine : undefined);
      frames.push({ frame: { op: "report", ref, reports: picks.map((p) => p.item) }, picks });
    } else if (kind === "extend") {
      const task = run.pickTask(mine.length > 0 ? mine : undefined);
      const frame: NodeFrame = {
        op: "extend",
        ref,
        id: task?.id ?? unknownTaskId(region),
        leaseToken: task ? run.pickToken(task) : "l-none",
        extendMs: rng.int(1000, 20_000),
      };
      frames.push({ frame });
    } else if (kind === "credit") {
      frames.push({ frame: { op: "credit", n: rng.int(0, 4) } });
    } else {
      frames.push({
        frame: kind === "ping" ? { op: "ping" } : { op: "heartbeat", load: rng.int(0, 10) / 10 },
      });
    }
  }
  if (rng.bool(0.3)) {
    // A frame sent twice (a retry after a lost reply): its second copy must change nothing more.
    const twice = rng.pick(frames);
    frames.splice(rng.int(frames.indexOf(twice) + 1, frames.length), 0, twice);
    run.stats.channels.duplicated++;
  }
  if (frames.length > 1 && rng.bool(0.3)) {
    // Sent in another order than the node made them (say, a report before the credit that came first).
    const [a, b] = [rng.int(0, frames.length - 1), rng.int(0, frames.length - 1)];
    [frames[a], frames[b]] = [frames[b]!, frames[a]!];
    run.stats.channels.reordered++;
  }
  await sendFrames(run, node, frames);
}

/** Campaign, observe or resign over the channel: bound to the node's session, answered by a `leader` or `resigned` frame. */
export async function channelElection(run: SimulationRun, node: ModelNode): Promise<void> {
  const { rng } = run;
  const election = rng.pick(ELECTIONS);
  const op = rng.weighted({ campaign: 4, observe: 2, resign: 1 });
  const ref = `e${rng.int(0, 1e6)}`;
  await sendFrames(run, node, [
    { frame: op === "observe" ? { op, election } : { op: op as "campaign" | "resign", ref, election } },
  ]);
}

/** Frames of a socket the shard closed or replaced, arriving late: the shard must ignore them. */
export async function staleFrames(run: SimulationRun, socket: SimSocket): Promise<void> {
  const node = run.model.nodes.get(socket.nodeId);
  const held = node ? heldBy(run, node) : [];
  // The most tempting one: the outcome of a task the node still holds, with its current token.
  const task = held.length > 0 ? run.rng.pick(held) : undefined;
  const frame: NodeFrame = task
    ? {
        op: "report",
        ref: "stale",
        reports: [{ id: task.id, leaseToken: task.leaseToken!, outcome: "succeeded", result: null }],
      }
    : { op: "credit", n: 3 };
  run.note(`${socket.nodeId} socket ${socket.id} ${frame.op}`);
  run.stats.channels.stale++;
  const shardFrames = socket.inbox.length;
  await run.sut.onShard(socket.region, (shard) => deliver(shard, socket, frame));
  if (socket.inbox.length !== shardFrames) {
    throw new InvariantError(`a frame of a closed socket of ${socket.nodeId} was answered`);
  }
}

/** Sends frames on the node's current socket, one at a time, each judged by the model as it arrives. */
async function sendFrames(run: SimulationRun, node: ModelNode, frames: Outgoing[]): Promise<void> {
  const socket = run.socket(node.channel!.socket);
  run.note(`${node.id} ${frames.map((f) => f.frame.op).join(",")}`);
  for (const outgoing of frames) {
    if (node.channel?.socket !== socket.id) {
      return; // the shard closed it meanwhile (drained, or the node died)
    }
    await frameArrives(run, node, socket, outgoing);
  }
}

/**
 * One frame: the model's expectation, the shard's handling (photographed after it, like a call),
 * the replies compared, the leases it handed out reconciled.
 */
async function frameArrives(
  run: SimulationRun,
  node: ModelNode,
  socket: SimSocket,
  { frame, picks }: Outgoing,
): Promise<void> {
  const m = run.model;
  const region = node.region as Region;
  const arrive = () => run.sut.onShard(region, (shard) => deliver(shard, socket, frame));
  run.stats.channels.frames++;
  const acting = run.acting(node);
  const ref = "ref" in frame ? frame.ref : undefined;
  if (!acting.ok) {
    // Dead (silent too long): refused, and the shard closes the socket.
    await arrive();
    expectSame("frame of a dead node", takeReplies(socket).map(errorOf), [[ref, acting.code, acting.reason]]);
    return;
  }
  node.lastSeen = m.now;
  adoptRunAts(m, run.sut);
  const before = queueSnapshot(m);
  const expect = judge(run, node, frame);
  await arrive();
  const replies = takeReplies(socket);
  if (frame.op === "report") {
    const reply = replies.shift();
    if (reply?.op !== "reported" || reply.ref !== frame.ref) {
      throw new InvariantError(`report ${frame.ref} answered ${JSON.stringify(reply)}`);
    }
    expectReported(
      run,
      region,
      node.tenant,
      picks!,
      reply.results.map((r) => (r.ok ? { id: r.id, status: r.status } : { id: r.id, error: r.error })),
    );
    closeIfDrained(run, node);
  } else if (frame.op === "campaign" || frame.op === "resign" || frame.op === "observe") {
    electionReply(run, node, frame, replies);
  }
  // Once the model has applied the frame: a report that ends a drained node's last lease closes its channel.
  checkOpen(socket, node.channel?.socket === socket.id);
  expectSame(`replies to ${frame.op}`, replies.map(errorOf), expect);
  reconcileLeases(run, before, null, true);
}

/**
 * What the model says of a frame of a live node, applied to it, and the replies expected besides a
 * report's `reported` and an election's answer (judged on their own).
 */
function judge(run: SimulationRun, node: ModelNode, frame: NodeFrame): unknown[] {
  const m = run.model;
  const channel = node.channel!;
  switch (frame.op) {
    case "credit":
      if (!channel.draining) {
        channel.credit = Math.max(0, Math.min(frame.n, node.capacity - m.inFlight(node.id)));
      }
      return [];
    case "extend": {
      // A task of another region is not in this shard; one of another tenant is not there for this node.
      const task = [m.tasks.get(frame.id)].find((t) => t?.region === node.region && t.tenant === node.tenant);
      const refusal = task ? m.leaseRefusal(task, frame.leaseToken) : null;
      const expected: Expect = !task ? err("not_found") : refusal ? err("conflict", refusal) : ok;
      if (!expected.ok) {
        return [[frame.ref, expected.code, expected.reason]];
      }
      task!.leaseExpiresAt = Math.max(task!.leaseExpiresAt!, m.now + frame.extendMs);
      return [{ op: "extended", ref: frame.ref, leaseExpiresAt: task!.leaseExpiresAt }];
    }
    case "drain":
      node.draining = true;
      channel.draining = true;
      channel.credit = 0;
      endWait(run, node);
      closeIfDrained(run, node);
      return [];
    case "ping":
      return [{ op: "pong" }];
    default:
      return [];
  }
}

/** A node that drained over its channel and holds nothing more: the shard closes the channel (1000), no grace. */
function closeIfDrained(run: SimulationRun, node: ModelNode): void {
  if (node.channel?.draining && run.model.inFlight(node.id) === 0) {
    node.channel = null;
  }
}

/** An election frame's answer, compared with the model's election after the coordinator applied it. */
function electionReply(
  run: SimulationRun,
  node: ModelNode,
  frame: Extract<NodeFrame, { op: "campaign" | "resign" | "observe" }>,
  replies: ShardFrame[],
): void {
  const m = run.model;
  const e = m.election(node.tenant, frame.election);
  if (frame.op === "observe") {
    return; // its `leader` frame carries no ref: the checks judge it with the pushed ones
  }
  const reply = replies.shift();
  if (frame.op === "resign") {
    e.apply({ kind: "resign", candidate: node.id }, m.now);
    expectSame(`resign ${frame.election} over the channel`, reply, { op: "resigned", ref: frame.ref });
    return;
  }
  if (m.coordinatorGone.has(node.id)) {
    throw new InvariantError(`${node.id} campaigns over its channel, but the coordinator heard it is gone`);
  }
  e.apply({ kind: "campaign", candidate: node.id, ttlMs: SESSION_TTL_MS, nodeId: node.id }, m.now);
  const position = e.candidates.findIndex((c) => c.candidate === node.id);
  expectSame(`campaign ${frame.election} over the channel`, reply, {
    op: "leader",
    ref: frame.ref,
    election: frame.election,
    leader: e.leader,
    term: e.term,
    isLeader: e.leader === node.id,
    position,
  });
}

/** The sockets a step may send stale frames on: closed by the shard, or replaced. */
export function closedSockets(run: SimulationRun, region: Region | null): SimSocket[] {
  return run.sockets.filter((s) => s.closedWith !== null && (region === null || s.region === region));
}
