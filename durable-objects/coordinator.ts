import { DurableObject } from "cloudflare:workers";
import { leadership, positionOf } from "../src/core/election";
import { ApiError, type ErrorBody, type Result } from "../src/core/errors";
import type { RegionLoad } from "../src/core/geo-routing";
import type { Credential, Operation, Role } from "../src/core/permissions";
import { sha256Hex } from "../src/core/sha256-hex";
import type { TaskStatus } from "../src/core/task-lifecycle";
import { mintId, mintSecret } from "./coordinator/minting";
import type { LeasedTask, SubmitCommand } from "./coordinator/scheduler";
import { CoordinatorState } from "./coordinator/state";
import type { TaskFilter } from "./coordinator/task-queue";
import { type NodeView, nodeView, type TaskView, taskView } from "./coordinator/views";

/** Limits the coordinator enforces whatever the Worker checked. */
export const MAX_CANDIDATES_PER_ELECTION = 1000;

export interface ReportInput {
  id: string;
  leaseToken: string;
  outcome: "succeeded" | "failed";
  result?: unknown;
  error?: string;
  retryable?: boolean;
}

export interface ElectionView {
  name: string;
  term: number;
  leader: ReturnType<typeof leadership>;
  candidates: { candidate: string; joinedAt: number; expiresAt: number }[];
}

/**
 * The single-writer coordinator Durable Object. Every public method is an RPC the Worker calls with
 * the caller's credential; each authorizes, applies the change and returns a `Result`.
 */
export class Coordinator extends DurableObject<Env> {
  readonly state: CoordinatorState;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new CoordinatorState(ctx);
    ctx.blockConcurrencyWhile(() => this.state.load(env));
  }

  /** The role behind a credential (the Worker ranks 401/403 above a validation error with it). */
  async whoAmI(credential: Credential, operation: Operation): Promise<Result<{ role: Role }>> {
    return this.state.call(credential, operation, (p) => ({ role: p.role }));
  }

  /** Each region's health and load, which the edge caches to route tasks. No credential: internal. */
  async routingTable(): Promise<RegionLoad[]> {
    const s = this.state;
    return s.fleet.routingTable(s.now(), (r) => s.scheduler.loadOf(r));
  }

  // ---- tokens ----

  /** Mints a token; the secret is returned once and only its hash is kept. */
  async createToken(credential: Credential, input: { role: Role; label?: string }) {
    const secret = mintSecret();
    const hash = await sha256Hex(secret);
    return this.state.call(credential, "tokens.create", (_, now) => {
      const token = { id: mintId("tok"), role: input.role, label: input.label ?? null, createdAt: now };
      this.state.tokens.create(token, hash);
      return { id: token.id, token: secret, role: token.role, label: token.label };
    });
  }

  async listTokens(credential: Credential) {
    return this.state.call(credential, "tokens.list", () => ({ tokens: this.state.tokens.list() }));
  }

  /** Revokes at once: the next call with that token is 401. */
  async revokeToken(credential: Credential, id: string) {
    return this.state.call(credential, "tokens.revoke", () => {
      if (!this.state.tokens.revoke(id)) {
        throw ApiError.of("not_found", `no token ${id}`);
      }
      return null;
    });
  }

  // ---- regions ----

  async putRegion(credential: Credential, id: string, input: { lat: number; lon: number; label?: string }) {
    return this.state.call(credential, "regions.put", (_, now) => {
      this.state.fleet.putRegion(id, input.lat, input.lon, input.label ?? null, now);
      return this.regionViews(now).find((r) => r.id === id)!;
    });
  }

  async deleteRegion(credential: Credential, id: string) {
    return this.state.call(credential, "regions.delete", (_, now) => {
      const s = this.state;
      s.fleet.requireRegion(id);
      if (s.fleet.nodesIn(id).some((n) => s.fleet.statusOf(n, now) !== "dead")) {
        throw ApiError.of("conflict", `region ${id} still has registered nodes`, "region_has_nodes");
      }
      if (s.tasks.hasLiveTasks(id)) {
        throw ApiError.of("conflict", `region ${id} still has unfinished tasks`, "region_has_tasks");
      }
      s.fleet.deleteRegion(id);
      return null;
    });
  }

  async listRegions(credential: Credential) {
    return this.state.call(credential, "regions.read", (_, now) => ({ regions: this.regionViews(now) }));
  }

  private regionViews(now: number) {
    const s = this.state;
    return s.fleet
      .routingTable(now, (r) => s.scheduler.loadOf(r))
      .map((r) => {
        const nodes = s.fleet.nodesIn(r.id).filter((n) => !n.dead);
        return {
          id: r.id,
          lat: r.lat,
          lon: r.lon,
          label: s.fleet.regions.get(r.id)?.label ?? null,
          healthy: r.healthy,
          nodes: { healthy: nodes.filter((n) => s.fleet.isAvailable(n, now)).length, total: nodes.length },
          capacity: r.capacity,
          inFlight: r.inFlight,
          queued: r.queued,
        };
      });
  }

  // ---- nodes ----

  /** Registers an executor node, bound to the calling token. */
  async registerNode(
    credential: Credential,
    input: { region: string; capacity: number; labels?: Record<string, string> },
  ) {
    return this.state.call(credential, "nodes.register", (principal, now) => {
      const s = this.state;
      s.fleet.requireRegion(input.region);
      const node = {
        id: mintId("node"),
        region: input.region,
        tokenId: principal.tokenId,
        capacity: input.capacity,
        inFlight: 0,
        load: null,
        draining: false,
        dead: false,
        labels: input.labels ?? {},
        registeredAt: now,
        lastSeenAt: now,
        persistedSeenAt: now,
      };
      s.fleet.register(node);
      s.dueAt(now + s.fleet.config.deadAfterMs);
      s.scheduler.dispatch(node.region, now);
      return {
        id: node.id,
        region: node.region,
        heartbeatIntervalMs: s.fleet.config.heartbeatIntervalMs,
        deadAfterMs: s.fleet.config.deadAfterMs,
      };
    });
  }

  async heartbeat(credential: Credential, id: string, input: { load?: number }) {
    return this.state.call(credential, "nodes.act", (principal, now) => {
      const s = this.state;
      const node = s.actingNode(principal, id, now);
      s.fleet.touch(node, now, input.load);
      s.dueAt(now + s.fleet.config.deadAfterMs);
      // A node that was suspect while it sat in a long poll was skipped by dispatch: it may take work again.
      s.scheduler.dispatch(node.region, now);
      return { status: s.fleet.statusOf(node, now) as "healthy" | "suspect" | "draining" };
    });
  }

  /** No new work; the node's leases run out normally. */
  async drainNode(credential: Credential, id: string) {
    return this.state.call(credential, "nodes.act", (principal, now) => {
      const s = this.state;
      const node = s.actingNode(principal, id, now);
      s.fleet.setDraining(node);
      s.scheduler.stopWaiting(node.id, true);
      return { status: "draining" as const };
    });
  }

  /** Deregisters: what it holds goes back to the queue, and it leaves its elections. */
  async deregisterNode(credential: Credential, id: string) {
    return this.state.call(credential, "nodes.act", (principal, now) => {
      const s = this.state;
      const node = s.ownedNode(principal, id);
      s.scheduler.reclaim(node, "node deregistered", now, (row, e) => console.error(row, e));
      s.leaveElections(node.id, now);
      s.fleet.remove(node);
      return null;
    });
  }

  async listNodes(credential: Credential, region?: string) {
    return this.state.call(credential, "nodes.read", (_, now): { nodes: NodeView[] } => {
      const fleet = this.state.fleet;
      const nodes = region === undefined ? [...fleet.nodes.values()] : fleet.nodesIn(region);
      return { nodes: nodes.map((n) => nodeView(n, fleet.statusOf(n, now))) };
    });
  }

  // ---- executing ----

  /** Leases runnable work to the node (within its free capacity), waiting up to `waitMs` for some. */
  async poll(credential: Credential, id: string, input: { max: number; waitMs: number }) {
    return this.state.call(
      credential,
      "nodes.act",
      async (principal, now): Promise<{ tasks: LeasedTask[] }> => {
        const s = this.state;
        const node = s.actingNode(principal, id, now);
        s.fleet.touch(node, now);
        s.dueAt(now + s.fleet.config.deadAfterMs);
        s.scheduler.promoteDue(now, (row, e) => console.error(row, e));
        const tasks = s.scheduler.leaseFor(node, input.max, now);
        if (tasks.length > 0 || input.waitMs === 0 || node.draining) {
          return { tasks };
        }
        const waited = await s.scheduler.waitForWork(node, input.max, input.waitMs);
        return { tasks: waited };
      },
    );
  }

  async completeTask(credential: Credential, id: string, input: { leaseToken: string; result?: unknown }) {
    return this.state.call(credential, "tasks.execute", (principal, now) => {
      const task = this.state.checkLeaseOwner(principal, id, input.leaseToken, now);
      return { status: this.state.scheduler.complete(task, input.leaseToken, input.result, now) };
    });
  }

  async failTask(
    credential: Credential,
    id: string,
    input: { leaseToken: string; error: string; retryable: boolean },
  ) {
    return this.state.call(credential, "tasks.execute", (principal, now) => {
      const task = this.state.checkLeaseOwner(principal, id, input.leaseToken, now);
      const next = this.state.scheduler.fail(task, input.leaseToken, input.error, input.retryable, now);
      return next.status === "scheduled"
        ? { status: "scheduled" as const, runAt: next.runAt }
        : { status: "failed" as const };
    });
  }

  async extendLease(credential: Credential, id: string, input: { leaseToken: string; extendMs: number }) {
    return this.state.call(credential, "tasks.execute", (principal, now) => {
      const task = this.state.checkLeaseOwner(principal, id, input.leaseToken, now);
      return { leaseExpiresAt: this.state.scheduler.extend(task, input.leaseToken, input.extendMs, now) };
    });
  }

  /** Many outcomes in one call; each item has the semantics of complete / fail and succeeds or fails alone. */
  async report(credential: Credential, nodeId: string, reports: ReportInput[]) {
    return this.state.call(credential, "tasks.execute", (principal, now) => {
      const s = this.state;
      s.actingNode(principal, nodeId, now);
      const results = reports.map(
        (r): { id: string; status: TaskStatus } | { id: string; error: ErrorBody } => {
          try {
            const task = s.checkLeaseOwner(principal, r.id, r.leaseToken, now);
            if (r.outcome === "succeeded") {
              return { id: r.id, status: s.scheduler.complete(task, r.leaseToken, r.result, now) };
            }
            const next = s.scheduler.fail(task, r.leaseToken, r.error ?? "failed", r.retryable ?? true, now);
            return { id: r.id, status: next.status };
          } catch (error) {
            if (error instanceof ApiError) {
              return { id: r.id, error: error.body };
            }
            throw error;
          }
        },
      );
      return { results };
    });
  }

  // ---- tasks ----

  /** Stores a task where the edge routed it (confirmed or corrected here). `created` is false for an idempotent repeat. */
  async submit(credential: Credential, command: SubmitCommand) {
    return this.state.call(credential, "tasks.submit", (principal, now) =>
      this.submitOne(principal.tokenId, command, now),
    );
  }

  /** Up to 100 tasks; each item is stored or refused on its own. */
  async submitBatch(credential: Credential, items: (SubmitCommand | { error: ErrorBody })[]) {
    return this.state.call(credential, "tasks.submit", (principal, now) => ({
      results: items.map((item): { task: TaskView } | { error: ErrorBody } => {
        if ("error" in item) {
          return item;
        }
        try {
          return { task: this.submitOne(principal.tokenId, item, now).task };
        } catch (error) {
          if (error instanceof ApiError) {
            return { error: error.body };
          }
          throw error;
        }
      }),
    }));
  }

  private submitOne(
    scope: string,
    command: SubmitCommand,
    now: number,
  ): { task: TaskView; created: boolean } {
    const s = this.state;
    if (command.idempotencyKey !== null) {
      const existing = s.tasks.byIdempotencyKey(scope, command.idempotencyKey);
      if (existing) {
        if (existing.requestHash !== command.requestHash) {
          throw ApiError.of(
            "conflict",
            `idempotency key ${command.idempotencyKey} was used with a different body`,
            "idempotency_mismatch",
          );
        }
        return { task: taskView(existing), created: false };
      }
    }
    return { task: taskView(s.scheduler.submit(command, scope, now)), created: true };
  }

  async getTask(credential: Credential, id: string) {
    return this.state.call(credential, "tasks.read", () => taskView(this.requireTask(id)));
  }

  async listTasks(credential: Credential, filter: TaskFilter) {
    return this.state.call(credential, "tasks.read", () => {
      const tasks = this.state.tasks.list({ ...filter, limit: filter.limit + 1 });
      const page = tasks.slice(0, filter.limit);
      const cursor = tasks.length > filter.limit ? String(page[page.length - 1]!.seq) : null;
      return { tasks: page.map(taskView), cursor };
    });
  }

  async cancelTask(credential: Credential, id: string) {
    return this.state.call(credential, "tasks.cancel", (_, now) => {
      this.state.scheduler.cancel(this.requireTask(id), now);
      return { status: "canceled" as const };
    });
  }

  private requireTask(id: string) {
    const task = this.state.tasks.get(id);
    if (!task) {
      throw ApiError.of("not_found", `no task ${id}`);
    }
    return task;
  }

  // ---- elections ----

  /**
   * Joins or renews a candidacy. A candidate named after a node of the calling token is bound to
   * that node: when the node dies or leaves, so does the candidacy.
   */
  async campaign(credential: Credential, name: string, input: { candidate: string; ttlMs: number }) {
    return this.state.call(credential, "elections.act", (principal, now) => {
      const s = this.state;
      // A candidate named after a node is that node: only its token may campaign for it (else it
      // would renew, and unbind, another token's candidacy), and a dead node may not.
      const node = s.fleet.nodes.has(input.candidate)
        ? s.actingNode(principal, input.candidate, now)
        : undefined;
      const before = s.elections.load(name);
      const known = before.candidates.some((c) => c.candidate === input.candidate && c.expiresAt > now);
      if (
        !known &&
        before.candidates.filter((c) => c.expiresAt > now).length >= MAX_CANDIDATES_PER_ELECTION
      ) {
        throw ApiError.of(
          "conflict",
          `election ${name} has ${MAX_CANDIDATES_PER_ELECTION} candidates`,
          "too_many_candidates",
        );
      }
      const change = s.elections.apply(name, { kind: "campaign", ...input }, now, node?.id ?? null);
      s.announce(change);
      const position = positionOf(change.state, input.candidate);
      return { isLeader: position === 0, position, leader: leadership(change.state) };
    });
  }

  async resign(credential: Credential, name: string, input: { candidate: string }) {
    return this.state.call(credential, "elections.act", (principal, now) => {
      const s = this.state;
      if (s.fleet.nodes.has(input.candidate)) {
        s.ownedNode(principal, input.candidate);
      }
      s.announce(s.elections.apply(name, { kind: "resign", candidate: input.candidate }, now));
      return { resigned: true };
    });
  }

  async getElection(credential: Credential, name: string) {
    return this.state.call(
      credential,
      "elections.read",
      (_, now): ElectionView => this.electionView(name, now),
    );
  }

  /** 200 while `term` is the current term of a live leadership, else 409 `stale_term`. */
  async fence(credential: Credential, name: string, input: { term: number }) {
    return this.state.call(credential, "elections.act", (_, now) => {
      const view = this.electionView(name, now);
      if (view.leader === null || view.term !== input.term) {
        throw ApiError.of("conflict", `term ${input.term} is not the current term of ${name}`, "stale_term");
      }
      return { ok: true, term: view.term };
    });
  }

  private electionView(name: string, now: number): ElectionView {
    const s = this.state;
    if (!s.elections.exists(name) && s.elections.candidateCount(name) === 0) {
      throw ApiError.of("not_found", `no election ${name}`);
    }
    const change = s.elections.apply(name, { kind: "tick" }, now);
    s.announce(change);
    return {
      name,
      term: change.state.term,
      leader: leadership(change.state),
      candidates: change.state.candidates,
    };
  }

  // ---- owners, status ----

  async owner(credential: Credential, key: string, region: string) {
    return this.state.call(credential, "owners.read", (_, now) => {
      this.state.fleet.requireRegion(region);
      return { key, region, nodeId: this.state.fleet.ownerOf(region, key, now)?.id ?? null };
    });
  }

  /** Regions, node counts by status, queue depths by status, elections and their leaders. */
  async status(credential: Credential) {
    return this.state.call(credential, "status.read", (_, now) => {
      const s = this.state;
      const nodes = { healthy: 0, suspect: 0, draining: 0, dead: 0 };
      for (const node of s.fleet.nodes.values()) {
        nodes[s.fleet.statusOf(node, now)]++;
      }
      return {
        now,
        regions: this.regionViews(now),
        nodes,
        tasks: s.tasks.depth(),
        elections: s.elections.all(),
      };
    });
  }

  // ---- time and observers ----

  override async alarm(): Promise<void> {
    await this.state.alarm();
  }

  /** WebSocket upgrade for `observe` (the Worker has authorized the caller). */
  override async fetch(request: Request): Promise<Response> {
    const name = new URL(request.url).searchParams.get("election");
    if (request.headers.get("Upgrade") !== "websocket" || !name) {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1], [name]);
    const state = this.state.elections.load(name);
    pair[1].send(JSON.stringify({ name, term: state.term, leader: leadership(state) }));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Observers only listen; "ping" is answered so clients can check the stream is alive.
    if (message === "ping") {
      ws.send("pong");
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    ws.close(code === 1005 ? 1000 : code, "closing");
  }
}
