/**
 * The invariants the node channel adds, checked after every step (with sim-check.ts's): a channel is
 * open exactly while the model says so; every task pushed is one the shard leased within the
 * node's credit and room (sim-leases.ts matches each lease with its push), and nothing is pushed on
 * a socket the shard closed (a node declared dead never gets a push afterwards); a pushed `leader`
 * frame agrees with one leader per term and tells the node truly whether it leads; a live node
 * with credit and room is never left idle while its region has queued work.
 */
import { scopedName } from "../../src/core/tenant-names";
import type { ShardFrame } from "../../src/schemas/channel";
import { InvariantError } from "./sim-check";
import type { SimulationRun } from "./sim-driver";
import type { SimSocket } from "./sim-sockets";

type Pushed = { id: string; leaseToken: string };

function fail(message: string): never {
  throw new InvariantError(message);
}

export function checkChannels(run: SimulationRun): void {
  const open = new Map<number, string>();
  for (const node of run.model.nodes.values()) {
    if (node.channel !== null) {
      open.set(node.channel.socket, node.id);
    }
  }
  for (const socket of run.sockets) {
    checkOpen(socket, open.has(socket.id));
    checkPushes(run, socket);
  }
  checkBusy(run);
}

/** The shard closed the socket exactly when the model says it did. */
export function checkOpen(socket: SimSocket, open: boolean): void {
  if (open && socket.closedWith !== null) {
    fail(`the shard closed the channel of ${socket.nodeId} (${socket.closedWith}); the model has it open`);
  }
  if (!open && socket.closedWith === null) {
    fail(`the channel of ${socket.nodeId} (socket ${socket.id}) is still open; the model has it closed`);
  }
}

/** What the shard pushed on a socket since the last check: the leases it granted there, and leader changes. */
function checkPushes(run: SimulationRun, socket: SimSocket): void {
  const pushed: Pushed[] = [];
  for (const { frame, late } of socket.inbox) {
    if (late && (frame.op === "tasks" || frame.op === "leader")) {
      fail(`${frame.op} pushed to ${socket.nodeId} on a socket the shard had closed (${socket.closedWith})`);
    }
    if (frame.op === "tasks") {
      pushed.push(...frame.tasks.map((t) => ({ id: t.id, leaseToken: t.leaseToken })));
    } else if (frame.op === "leader" && frame.ref === undefined) {
      checkLeaderFrame(run, socket, frame);
    } else {
      fail(`an unexpected frame to ${socket.nodeId}: ${JSON.stringify(frame)}`);
    }
  }
  const order = (list: Pushed[]) => list.map((p) => `${p.id}/${p.leaseToken}`).sort();
  if (JSON.stringify(order(pushed)) !== JSON.stringify(order(socket.expectPushed))) {
    fail(
      `pushed to ${socket.nodeId}: ${order(pushed).join(",") || "nothing"}; leased to it on its channel: ${
        order(socket.expectPushed).join(",") || "nothing"
      }`,
    );
  }
  socket.inbox = [];
  socket.expectPushed = [];
}

/** A `leader` frame names a leader that holds its term (one per term), and tells the node whether it is that leader. */
function checkLeaderFrame(
  run: SimulationRun,
  socket: SimSocket,
  frame: Extract<ShardFrame, { op: "leader" }>,
): void {
  run.stats.channels.leaderFrames++;
  if (frame.isLeader !== (frame.leader === socket.nodeId)) {
    fail(`leader frame to ${socket.nodeId}: isLeader ${frame.isLeader} with leader ${frame.leader}`);
  }
  // The node is shown its tenant's election by name; the terms are recorded by stored key.
  const tenant = run.model.nodeTenants.get(socket.nodeId) ?? "default";
  const owner = run.memory.termOwners.get(`${scopedName(tenant, frame.election)}#${frame.term}`);
  if (frame.leader !== null && owner !== undefined && !owner.startsWith(`${frame.leader}@`)) {
    fail(
      `leader frame to ${socket.nodeId}: ${frame.election} term ${frame.term} names ${frame.leader}, held by ${owner}`,
    );
  }
}

/** Liveness: a live channel node with credit and room is never left idle while its region has queued tasks. */
function checkBusy(run: SimulationRun): void {
  const m = run.model;
  for (const node of m.nodes.values()) {
    if (
      node.channel !== null &&
      node.channel.credit > 0 &&
      m.available(node) &&
      m.inFlight(node.id) < node.capacity &&
      m.queue(node.region, node.tenant).length > 0
    ) {
      fail(
        `node ${node.id} has channel credit ${node.channel.credit} and room while ${node.region} has queued tasks of its tenant`,
      );
    }
  }
}
