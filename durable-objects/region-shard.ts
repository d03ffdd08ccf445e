import { DurableObject } from "cloudflare:workers";
import { regionDeletionRefusal, shardRefusal } from "../src/core/admission";
import type { BreakerState } from "../src/core/circuit-breaker";
import { echoClose } from "../src/core/close-codes";
import { endpointUrlRefusal } from "../src/core/endpoint-url";
import { ApiError, ERROR_STATUS, type ErrorBody, type Result } from "../src/core/errors";
import { regionOfTaskId } from "../src/core/ids";
import { MAX_ANSWER_BYTES } from "../src/core/list-pages";
import { GLOBAL_TENANT_HEADER, type Principal, sees, tenantOf } from "../src/core/permissions";
import type { Refusal } from "../src/core/placement";
import { eraseRefusal } from "../src/core/retention";
import type { LeasedTask, ReportInput, SubmitCommand, TaskRouting } from "../src/core/task-commands";
import { type RetryClaim, retryRefusal, type TaskStatus } from "../src/core/task-lifecycle";
import type { TaskMetrics } from "../src/core/task-metrics";
import { newWebhookSecret } from "../src/core/webhook-signature";
import { Edge } from "../src/http/edge";
import { placeTasks } from "../src/http/task-placement";
import type { PutScheduleInput } from "../src/schemas/schedules";
import { objectConfig } from "./call-gate";
import type { CoordinatorLink, ElectionLink, ElectionPush, ShardConfig } from "./messages";
import { type NodePageQuery, nodePage } from "./region-shard/node-pages";
import type { NodeRecord, NodeStatus } from "./region-shard/node-table";
import type { DeliveryCounts } from "./region-shard/push-deliveries";
import type { ScheduleLink, ScheduleView } from "./region-shard/schedules";
import { type ShardDependencies, ShardEngine } from "./region-shard/shard-engine";
import { nodeDown, nodeUp } from "./region-shard/shard-events";
import { type TaskPageQuery, taskPage } from "./region-shard/task-pages";
import { type EndpointView, endpointView, type TaskView, taskView } from "./region-shard/views";
import { coordinatorStub, eventHubStub } from "./stubs";

/**
 * One submitted task's fate at a shard: stored (`created: false` when a keyed task with that id was
 * already there), refused (the edge offers it elsewhere) or refused for good.
 */
export type SubmitResult = { task: TaskView; created?: false } | { refused: Refusal } | { error: ErrorBody };

/** A region's live numbers, for `/v1/regions`, `/v1/status` and `/metrics`. */
export interface ShardStats {
  healthy: boolean;
  capacity: number;
  inFlight: number;
  queued: number;
  nodes: { healthy: number; total: number };
  nodeStatus: Record<NodeStatus, number>;
  tasks: Record<TaskStatus, number>;
  /** Rows stored per table (tasks and nodes are what retention bounds), for meridian_stored_rows. */
  storedRows: { tasks: number; nodes: number };
  /** The shard's task counters and histograms (meridian_tasks_*_total, meridian_dispatch_seconds, ...). */
  metrics: TaskMetrics;
  /** The region's push endpoints' breakers and loads, and what their deliveries did (counted in memory). */
  endpoints: { name: string; state: BreakerState; inFlight: number; capacity: number }[];
  pushDeliveries: DeliveryCounts;
}

/**
 * One region's shard (one object per region, named after it): its tasks, leases, retries, delays,
 * nodes' liveness and in-flight counts, long polls and alarm. The edge calls it directly with the
 * caller's principal (authenticated and role-checked at the edge, checked again here); it tells the
 * coordinator of its load and of node deaths. Each method reads: authorize, load, decide, save, answer.
 */
export class RegionShard extends DurableObject<Env> {
  private current!: ShardEngine;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const defaults = ShardEngine.defaults(
      objectConfig(env),
      (deployment) => coordinatorLink(env, deployment),
      (deployment) => electionLink(env, deployment),
      (deployment) => (events) => eventHubStub(env, deployment).publish(events),
      (deployment, clock) => scheduleLink(env, deployment, clock),
    );
    ctx.blockConcurrencyWhile(async () => {
      this.current = await ShardEngine.load(ctx, defaults);
    });
  }

  /**
   * The object as it would restart with other dependencies (a test's clock, the simulation's network):
   * memory is dropped and reloaded from storage, as after an eviction.
   */
  async restartWith(deps: Partial<ShardDependencies>): Promise<void> {
    this.current = await ShardEngine.load(this.ctx, { ...this.current.deps, ...deps });
  }

  /** What the shard holds in memory (read by tests inside the object). */
  get engine(): ShardEngine {
    return this.current;
  }

  private get s(): ShardEngine {
    return this.current;
  }

  private region(): string {
    const config = this.s.config;
    if (config === null) {
      throw ApiError.of("not_found", "no such region");
    }
    return config.region;
  }

  // ---- the region's lifecycle (called by the coordinator) ----

  /** Serves `config.region` from now on (the region was created or moved). Internal. */
  async configure(config: ShardConfig) {
    return this.s.gate.run(null, null, () => {
      this.s.configure(config);
      return null;
    });
  }

  /**
   * The region is being deleted: refused while it has live nodes or unfinished tasks. Overdue nodes
   * are declared dead first, so what storage holds and what memory holds agree (every node then
   * dead is deleted, by one rule). Internal.
   */
  async retire() {
    return this.s.gate.run(null, null, (now) => {
      const s = this.s;
      s.reaper.run(now);
      const refusal = regionDeletionRefusal({
        // An endpoint is capacity of the region like a node: delete it first.
        liveNodes: [...s.nodes.nodes.values()].filter((n) => !n.dead).length + s.endpoints.endpoints.size,
        unfinishedTasks: s.tasks.hasLiveTasks() ? 1 : 0,
        schedules: s.schedules.table.count(),
      });
      if (refusal === "region_has_nodes") {
        throw ApiError.of(
          "conflict",
          `region ${this.region()} still has registered nodes or endpoints`,
          refusal,
        );
      }
      if (refusal === "region_has_tasks") {
        throw ApiError.of("conflict", `region ${this.region()} still has unfinished tasks`, refusal);
      }
      if (refusal === "region_has_schedules") {
        throw ApiError.of("conflict", `region ${this.region()} is the home of schedules`, refusal);
      }
      s.nodes.removeAll();
      s.configure(null);
      return null;
    });
  }

  /**
   * The region's live numbers. Its health, capacity and load are the region's (regions are shared);
   * node and task counts and endpoints are the caller's tenant's (a global admin: everyone's).
   */
  async stats(principal: Principal) {
    return this.s.gate.run(principal, "regions.read", (now): ShardStats => {
      const s = this.s;
      const report = s.report(now);
      return {
        healthy: report.healthy,
        capacity: report.capacity,
        inFlight: report.inFlight,
        queued: report.queued,
        nodes: report.nodes,
        nodeStatus: s.nodes.statusCounts(now, principal.tenant),
        tasks: principal.tenant === null ? s.tasks.depth() : s.tasks.tenantDepth(principal.tenant),
        storedRows: storedRows(s),
        // A copy: the live counters go on changing while the answer is serialised.
        metrics: structuredClone(s.metrics.tasks),
        endpoints: [...s.endpoints.endpoints.values()]
          .filter((e) => sees(principal, e.tenant))
          .map((e) => ({
            name: e.name,
            state: e.breaker.state,
            inFlight: e.holder.inFlight,
            capacity: e.capacity,
          })),
        pushDeliveries: { ...s.deliveries.counts },
      };
    });
  }

  // ---- nodes ----

  /** Registers an executor node, bound to the calling token. `id` is minted by the edge. */
  async registerNode(
    principal: Principal,
    input: { id: string; capacity: number; labels?: Record<string, string> },
  ) {
    return this.s.gate.run(principal, "nodes.register", (now) => {
      const s = this.s;
      const region = this.region();
      const tenant = tenantOf(principal);
      const quota = s.deps.config.tenants.maxNodes;
      let live = 0;
      for (const n of s.nodes.nodes.values()) {
        live += n.tenant === tenant && !n.dead ? 1 : 0;
      }
      if (live >= quota) {
        throw ApiError.of(
          "conflict",
          `tenant ${tenant} has ${quota} live nodes in region ${region} (TENANT_MAX_NODES)`,
          "quota_exceeded",
        );
      }
      const node: NodeRecord = {
        id: input.id,
        region,
        tokenId: principal.tokenId,
        tenant,
        capacity: input.capacity,
        inFlight: 0,
        load: null,
        draining: false,
        dead: false,
        labels: input.labels ?? {},
        registeredAt: now,
        lastSeenAt: now,
        persistedSeenAt: now,
        channelClosedAt: null,
      };
      s.nodes.register(node);
      s.events.record(nodeUp(node, "http", now));
      s.dueAt(now + 2 * s.deps.config.heartbeatIntervalMs + 1);
      s.scheduler.dispatch(now);
      return {
        id: input.id,
        region,
        heartbeatIntervalMs: s.deps.config.heartbeatIntervalMs,
        deadAfterMs: s.deps.config.deadAfterMs,
      };
    });
  }

  /**
   * The node a caller acts as: 404 unknown, 403 bound to another token, 409 `node_dead` once it has
   * missed its deadline (declared dead on the spot if the alarm has not done it yet).
   */
  private actingNode(principal: Principal, nodeId: string, now: number): NodeRecord {
    return this.liveNode(this.s.access.ownedNode(principal, nodeId), now);
  }

  /** The node if it is alive, else 409 `node_dead` (declared dead on the spot if its deadline or grace has passed). */
  private liveNode(node: NodeRecord, now: number): NodeRecord {
    const s = this.s;
    if (!node.dead && s.nodes.statusOf(node, now) === "dead") {
      s.nodeDied(node, "node missed its heartbeat deadline", now);
    }
    const grace = s.deps.config.channelGraceMs;
    if (!node.dead && node.channelClosedAt !== null && now - node.channelClosedAt >= grace) {
      s.nodeDied(node, "node channel closed and did not come back within its grace period", now);
    }
    if (node.dead) {
      throw ApiError.of("conflict", `node ${node.id} was declared dead; register again`, "node_dead");
    }
    return node;
  }

  /** A sign of life from a node: it may take work again if it was suspect. */
  private contact(node: NodeRecord, now: number, load?: number): void {
    const s = this.s;
    s.nodes.touch(node, now, load);
    s.dueAt(now + 2 * s.deps.config.heartbeatIntervalMs + 1);
  }

  async heartbeat(principal: Principal, id: string, input: { load?: number }) {
    return this.s.gate.run(principal, "nodes.act", (now) => {
      const s = this.s;
      const node = this.actingNode(principal, id, now);
      this.contact(node, now, input.load);
      // A node that was suspect while it sat in a long poll was skipped by dispatch: it may take work again.
      s.scheduler.dispatch(now);
      return { status: s.nodes.statusOf(node, now) as "healthy" | "suspect" | "draining" };
    });
  }

  /** No new work; the node's leases run out normally. */
  async drainNode(principal: Principal, id: string) {
    return this.s.gate.run(principal, "nodes.act", (now) => {
      const s = this.s;
      s.drain(this.actingNode(principal, id, now), now);
      return { status: "draining" as const };
    });
  }

  /** Deregisters: what it holds goes back to the queue, and its candidacies end (the coordinator is told). */
  async deregisterNode(principal: Principal, id: string) {
    return this.s.gate.run(principal, "nodes.act", (now) => {
      const s = this.s;
      const node = s.access.ownedNode(principal, id);
      if (!node.dead) {
        // A dead node already went down; recorded before its work is reclaimed, as for a death.
        s.events.record(nodeDown(node, "deregistered", now));
      }
      s.scheduler.reclaim(node, "node deregistered", now, (row, e) => console.error(row, e));
      s.channels.end(node.id, "node deregistered");
      s.nodes.remove(node);
      s.outbox.nodesGone([node.id]);
      return null;
    });
  }

  /**
   * Whether the principal may campaign (`act`: the node must be alive) or resign (`own`) as a node
   * of this region; the coordinator then records the candidacy bound to the node.
   */
  async authorizeNode(principal: Principal, id: string, mode: "act" | "own") {
    return this.s.gate.run(principal, "elections.act", (now) => {
      if (mode === "act") {
        this.actingNode(principal, id, now);
      } else {
        this.s.access.ownedNode(principal, id);
      }
      return null;
    });
  }

  /** A page of this shard's nodes by id, within `query.maxBytes`; the edge merges the pages of every shard. */
  async listNodes(principal: Principal, query: Omit<NodePageQuery, "tenant">) {
    return this.s.gate.run(principal, "nodes.read", (now) => {
      // A node in its channel's grace period (socket closed, may resume) still counts as a channel node.
      const transport = (n: NodeRecord) =>
        this.s.channels.socketOf(n.id) || n.channelClosedAt !== null ? "channel" : "http";
      const maxBytes = Math.min(query.maxBytes, MAX_ANSWER_BYTES);
      return nodePage(this.s.nodes, { ...query, maxBytes, tenant: principal.tenant }, now, transport);
    });
  }

  /** The owner of an affinity key among the region's healthy nodes. */
  async owner(principal: Principal, key: string) {
    return this.s.gate.run(principal, "owners.read", (now) => {
      const region = this.region();
      return { key, region, nodeId: this.s.nodes.ownerOf(key, tenantOf(principal), now)?.id ?? null };
    });
  }

  // ---- push endpoints ----

  /**
   * Creates or replaces a push endpoint (admin). The URL is checked against ENDPOINT_PRIVATE_ADDRESSES
   * here, where the setting is read. Created: its new signing secret is in the answer, the only time
   * it is shown; replaced: the secret and the breaker stay.
   */
  async putEndpoint(
    principal: Principal,
    name: string,
    input: { url: string; capacity: number; timeoutMs?: number },
  ) {
    return this.s.gate.run(
      principal,
      "endpoints.put",
      (now): { endpoint: EndpointView; secret?: string; created: boolean } => {
        const s = this.s;
        const region = this.region();
        const refusal = endpointUrlRefusal(input.url, s.deps.config.endpoints.privateAddresses);
        if (refusal !== null) {
          throw new ApiError({
            code: "invalid_request",
            message: refusal,
            issues: [{ path: "url", message: refusal }],
          });
        }
        const taken = s.endpoints.get(name);
        if (taken !== undefined && !sees(principal, taken.tenant)) {
          // Endpoint names are per region, not per tenant (docs/API-NOTES.md, Tenants).
          throw ApiError.of("conflict", `endpoint name ${name} is taken in region ${region}: choose another`);
        }
        const { endpoint, created } = s.endpoints.put(
          name,
          tenantOf(principal),
          { url: input.url, capacity: input.capacity, timeoutMs: input.timeoutMs ?? null },
          now,
          () => newWebhookSecret((bytes) => crypto.getRandomValues(bytes)),
        );
        s.deliveries.offer(endpoint, now);
        return {
          endpoint: endpointView(endpoint, region),
          created,
          ...(created ? { secret: endpoint.secret } : {}),
        };
      },
    );
  }

  async getEndpoint(principal: Principal, name: string) {
    return this.s.gate.run(principal, "endpoints.read", () =>
      endpointView(this.endpoint(principal, name), this.region()),
    );
  }

  async listEndpoints(principal: Principal) {
    return this.s.gate.run(principal, "endpoints.read", (): { endpoints: EndpointView[] } => {
      const region = this.region();
      return {
        endpoints: [...this.s.endpoints.endpoints.values()]
          .filter((e) => sees(principal, e.tenant))
          .map((e) => endpointView(e, region)),
      };
    });
  }

  /** Deletes a push endpoint (admin): the tasks it holds go back to the queue, each a failed attempt. */
  async deleteEndpoint(principal: Principal, name: string) {
    return this.s.gate.run(principal, "endpoints.delete", (now) => {
      const s = this.s;
      const endpoint = this.endpoint(principal, name);
      s.deliveries.abandon(name);
      s.scheduler.closeChannel(endpoint.holder.id);
      s.scheduler.reclaim(endpoint.holder, "endpoint deleted", now, (row, e) => console.error(row, e));
      s.endpoints.remove(endpoint);
      return null;
    });
  }

  private endpoint(principal: Principal, name: string) {
    this.region();
    const endpoint = this.s.endpoints.get(name);
    if (endpoint === undefined || !sees(principal, endpoint.tenant)) {
      throw ApiError.of("not_found", `no endpoint ${name} in region ${this.region()}`);
    }
    return endpoint;
  }

  // ---- executing ----

  /** Leases runnable work to the node (within its free capacity), waiting up to `waitMs` for some. */
  async poll(principal: Principal, id: string, input: { max: number; waitMs: number }) {
    return this.s.gate.run(principal, "nodes.act", async (now): Promise<{ tasks: LeasedTask[] }> => {
      const s = this.s;
      const node = this.actingNode(principal, id, now);
      this.contact(node, now);
      s.scheduler.promoteDue(now, (row, e) => console.error(row, e));
      const tasks = s.scheduler.leaseFor(node, input.max, now);
      if (tasks.length > 0 || input.waitMs === 0 || node.draining) {
        return { tasks };
      }
      const waited = await s.scheduler.waitForWork(node, input.max, input.waitMs);
      if (s.isRevoked(principal.tokenId)) {
        // Its token was revoked while it waited: the node died, so the wait ended with nothing leased.
        throw ApiError.of("unauthorized", "the token was revoked");
      }
      return { tasks: waited };
    });
  }

  async completeTask(principal: Principal, id: string, input: { leaseToken: string; result?: unknown }) {
    return this.s.gate.run(principal, "tasks.execute", (now) => {
      const task = this.s.access.leaseOwner(principal, id, input.leaseToken, now);
      return { status: this.s.scheduler.complete(task, input.leaseToken, input.result, now) };
    });
  }

  async failTask(
    principal: Principal,
    id: string,
    input: { leaseToken: string; error: string; retryable: boolean },
  ) {
    return this.s.gate.run(principal, "tasks.execute", (now) => {
      const task = this.s.access.leaseOwner(principal, id, input.leaseToken, now);
      const next = this.s.scheduler.fail(task, input.leaseToken, input.error, input.retryable, now);
      return next.status === "scheduled"
        ? { status: "scheduled" as const, runAt: next.runAt }
        : { status: "failed" as const };
    });
  }

  async extendLease(principal: Principal, id: string, input: { leaseToken: string; extendMs: number }) {
    return this.s.gate.run(principal, "tasks.execute", (now) => {
      const task = this.s.access.leaseOwner(principal, id, input.leaseToken, now);
      return { leaseExpiresAt: this.s.scheduler.extend(task, input.leaseToken, input.extendMs, now) };
    });
  }

  /** Many outcomes in one call; each item has the semantics of complete / fail and succeeds or fails alone. */
  async report(principal: Principal, nodeId: string, reports: ReportInput[]) {
    return this.s.gate.run(principal, "tasks.execute", (now) => {
      const s = this.s;
      this.actingNode(principal, nodeId, now);
      const results = reports.map((r) =>
        itemResult<{ id: string; status: TaskStatus } | { id: string; error: ErrorBody }>(
          () => {
            const task = s.access.leaseOwner(principal, r.id, r.leaseToken, now);
            if (r.outcome === "succeeded") {
              return { id: r.id, status: s.scheduler.complete(task, r.leaseToken, r.result, now) };
            }
            const next = s.scheduler.fail(task, r.leaseToken, r.error ?? "failed", r.retryable ?? true, now);
            return { id: r.id, status: next.status };
          },
          (error) => ({ id: r.id, error }),
        ),
      );
      return { results };
    });
  }

  // ---- tasks ----

  /**
   * Stores tasks the edge routed here, each on its own: a task is refused (and offered elsewhere by
   * the edge) when the region has no healthy node, or is full and the task was sent for its room.
   * Tasks taken earlier in the call count against the room of later ones.
   */
  async submit(principal: Principal, commands: SubmitCommand[]) {
    const body = (now: number) => {
      const s = this.s;
      const region = s.config?.region ?? null;
      const tenant = tenantOf(principal);
      const wait = s.tenantSubmits?.take(tenant, now, commands.length) ?? 0;
      if (wait > 0) {
        throw new ApiError({
          code: "rate_limited",
          message: `tenant ${tenant} submits more tasks a second to this region than TENANT_TASKS_PER_SEC allows (each item of a batch counts)`,
          retryAfter: wait,
        });
      }
      return {
        results: commands.map(
          (command): SubmitResult =>
            itemResult(
              (): SubmitResult => {
                // A keyed task may come twice under one id (a repeat completing a submit that never
                // stored it, and that submit arriving late): the second finds the first.
                const existing = command.idempotencyKey === null ? null : s.tasks.get(command.id);
                if (existing !== null) {
                  return { task: taskView(existing), created: false };
                }
                const refusal =
                  region === null ? "unhealthy" : shardRefusal(s.report(now), command.requireRoom);
                if (refusal !== null || region === null) {
                  return { refused: refusal ?? "unhealthy" };
                }
                const quota = s.deps.config.tenants.maxTasks;
                if (s.tasks.storedBy(tenant) >= quota) {
                  throw ApiError.of(
                    "conflict",
                    `tenant ${tenant} holds ${quota} tasks in region ${region} (TENANT_MAX_TASKS)`,
                    "quota_exceeded",
                  );
                }
                return {
                  task: taskView(s.scheduler.submit(command, region, principal.tokenId, tenant, now)),
                };
              },
              (error) => ({ error }),
            ),
        ),
      };
    };
    // Each task spends a unit of the token's rate limit: a batch of 100 is 100 calls' worth.
    return this.s.gate.run(principal, "tasks.submit", body, commands.length);
  }

  async getTask(principal: Principal, id: string) {
    return this.s.gate.run(principal, "tasks.read", () => taskView(this.s.access.task(principal, id)));
  }

  /**
   * A page of this shard's tasks, newest first, as JSON texts within `query.maxBytes` (capped at
   * MAX_ANSWER_BYTES whatever is asked); the edge merges the pages of every shard.
   */
  async listTasks(principal: Principal, query: Omit<TaskPageQuery, "tenant">) {
    return this.s.gate.run(principal, "tasks.read", () => {
      this.s.tasks.flush();
      return taskPage(this.ctx.storage.sql, {
        ...query,
        tenant: principal.tenant,
        maxBytes: Math.min(query.maxBytes, MAX_ANSWER_BYTES),
      });
    });
  }

  async cancelTask(principal: Principal, id: string) {
    return this.s.gate.run(principal, "tasks.cancel", (now) => {
      this.s.scheduler.cancel(this.s.access.task(principal, id), now);
      return { status: "canceled" as const };
    });
  }

  /**
   * Runs a failed or canceled task again in this region: queued, attempts from 0 (409 `not_terminal`
   * otherwise, `already_retried` once a reroute moved it). `reroute`: the edge routed it anew and
   * chose this region, with `routing` explaining it; like a submit, it is refused when the region
   * cannot take it (then the edge tries the next region). `claim` is what the edge expects the task
   * to name in `retriedAs` (see `retryRefusal`).
   */
  async retryTask(
    principal: Principal,
    id: string,
    claim: RetryClaim,
    reroute: { routing: TaskRouting; requireRoom: boolean } | null,
  ) {
    return this.s.gate.run(principal, "tasks.retry", (now): { task: TaskView } | { refused: Refusal } => {
      const s = this.s;
      const task = s.access.task(principal, id);
      this.refuseRetry(task, claim, now);
      if (reroute !== null) {
        const refusal = shardRefusal(s.report(now), reroute.requireRoom);
        if (refusal !== null) {
          return { refused: refusal };
        }
      }
      return { task: taskView(s.scheduler.replay(task, reroute?.routing ?? task.routing, now)) };
    });
  }

  /**
   * A reroute moves a finished task to another region: this records (before that task is created),
   * moves or releases (`next` null) the id it will have there, as a compare-and-set on `retriedAs`:
   * two retries cannot both move one task.
   */
  async reserveRetry(principal: Principal, id: string, claim: RetryClaim, next: string | null) {
    return this.s.gate.run(principal, "tasks.retry", (now) => {
      const task = this.s.access.task(principal, id);
      this.refuseRetry(task, claim, now);
      this.s.tasks.setRetriedAs(task, next, now);
      // The edge stores the moved task in the same tenant (the caller may be a global admin).
      return { tenant: task.tenant };
    });
  }

  private refuseRetry(
    task: { id: string; status: TaskStatus; retriedAs: string | null; updatedAt: number },
    claim: RetryClaim,
    now: number,
  ): void {
    const refusal = retryRefusal(task, claim, now);
    if (refusal === "already_retried") {
      throw ApiError.of(
        "conflict",
        task.retriedAs === null
          ? `task ${task.id} was retried meanwhile by another call; read it and try again`
          : `task ${task.id} was retried as ${task.retriedAs} in another region: retry that one`,
        refusal,
      );
    }
    if (refusal === "not_terminal") {
      throw ApiError.of(
        "conflict",
        `task ${task.id} is ${task.status}: only a failed or canceled task can be retried`,
        refusal,
      );
    }
  }

  /**
   * Erases a finished task on demand (admin; an erasure request): the row goes, payload and result
   * with it. Answers the idempotency key it was submitted under, which the edge then releases.
   */
  async eraseTask(principal: Principal, id: string) {
    return this.s.gate.run(principal, "tasks.erase", () => {
      const task = this.s.access.task(principal, id);
      const refusal = eraseRefusal(task.status);
      if (refusal !== null) {
        throw ApiError.of(
          "conflict",
          `task ${id} is ${task.status}: only a finished task can be erased`,
          refusal,
        );
      }
      this.s.tasks.erase(task);
      return { idempotencyScope: task.idempotencyScope, idempotencyKey: task.idempotencyKey };
    });
  }

  // ---- schedules whose home is this region (API-v2 §5) ----

  /** Creates or replaces a schedule (the edge chose this shard, or found it in the coordinator's index). */
  async putSchedule(
    principal: Principal,
    id: string,
    input: PutScheduleInput,
    origin: { lat: number; lon: number } | null,
  ) {
    return this.s.gate.run(principal, "schedules.write", (now) => {
      this.region();
      this.s.schedules.checkTenant(principal, id, true);
      return this.s.schedules.put(principal, id, input, origin, now);
    });
  }

  async getSchedule(principal: Principal, id: string) {
    return this.s.gate.run(principal, "schedules.read", (): ScheduleView => {
      this.s.schedules.checkTenant(principal, id, false);
      return this.s.schedules.get(id);
    });
  }

  /** A page of this shard's schedules by id, after `after`; the edge merges every shard's page. */
  async listSchedules(principal: Principal, limit: number, after?: string) {
    return this.s.gate.run(principal, "schedules.read", () => ({
      schedules: this.s.schedules.list(principal, limit, after) as ScheduleView[],
    }));
  }

  async pauseSchedule(principal: Principal, id: string) {
    return this.s.gate.run(principal, "schedules.write", (now): ScheduleView => {
      this.s.schedules.checkTenant(principal, id, false);
      return this.s.schedules.pause(id, now);
    });
  }

  async resumeSchedule(principal: Principal, id: string) {
    return this.s.gate.run(principal, "schedules.write", (now): ScheduleView => {
      this.s.schedules.checkTenant(principal, id, false);
      return this.s.schedules.resume(id, now);
    });
  }

  /** One run now, routed as any task; answers the schedule with that run's task as `lastTaskId`. */
  async triggerSchedule(principal: Principal, id: string) {
    return this.s.gate.run(principal, "schedules.write", (now): Promise<ScheduleView> => {
      this.s.schedules.checkTenant(principal, id, false);
      return this.s.schedules.trigger(id, now);
    });
  }

  async deleteSchedule(principal: Principal, id: string) {
    return this.s.gate.run(principal, "schedules.write", () => {
      this.s.schedules.checkTenant(principal, id, false);
      this.s.schedules.remove(id);
      return null;
    });
  }

  override async alarm(): Promise<void> {
    await this.s.alarm();
  }

  // ---- the node channel (WebSocket, hibernatable) ----

  /** An election that channel nodes of this shard campaign in or observe changed: pushed to them. Internal. */
  async electionChanged(change: ElectionPush) {
    return this.s.gate.run(null, null, () => {
      this.s.channels.electionChanged(change);
      return null;
    });
  }

  /**
   * A token was revoked (told by the coordinator, at least once): its channels here close with 1008
   * and its nodes here are dead. Idempotent. Internal.
   */
  async tokenRevoked(tokenId: string) {
    return this.s.gate.run(null, null, (now) => {
      this.s.tokenRevoked(tokenId, now);
      return null;
    });
  }

  /**
   * Opens a node's channel. The edge has authenticated the caller and passes who it is in
   * `x-meridian-token-id` / `x-meridian-role` (a shard is reachable only through the edge).
   */
  override async fetch(request: Request): Promise<Response> {
    const nodeId = request.headers.get("x-meridian-node") ?? "";
    const tenant = request.headers.get("x-meridian-tenant") ?? "";
    const principal: Principal = {
      tokenId: request.headers.get("x-meridian-token-id") ?? "",
      role: (request.headers.get("x-meridian-role") ?? "") as Principal["role"],
      tenant: tenant === GLOBAL_TENANT_HEADER ? null : tenant,
    };
    if (
      request.headers.get("upgrade")?.toLowerCase() !== "websocket" ||
      !nodeId ||
      !principal.tokenId ||
      !tenant
    ) {
      return Response.json(
        { error: { code: "invalid_request", message: "expected a node channel upgrade" } },
        { status: 400 },
      );
    }
    const result = await this.s.gate.run(principal, "nodes.act", (now) =>
      this.s.channels.accept(principal, this.actingNode(principal, nodeId, now), now),
    );
    return result.ok
      ? result.value
      : Response.json({ error: result.error }, { status: ERROR_STATUS[result.error.code] });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.s.gate.run(null, null, (now) =>
      this.s.channels.message(ws, message, now, (node) => this.liveNode(node, now)),
    );
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    await this.s.gate.run(null, null, (now) => this.s.channels.closed(ws, now));
    // Completes the closing handshake. 1005 (no code), 1006 (abnormal), 1015 (TLS) may not be sent back.
    echoClose(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.s.gate.run(null, null, (now) => this.s.channels.closed(ws, now));
  }
}

/** Rows per table, from memory: the task counts by status and the node map mirror their tables. */
function storedRows(s: ShardEngine): { tasks: number; nodes: number } {
  const depth = s.tasks.depth();
  return {
    tasks: Object.values(depth).reduce((sum, n) => sum + n, 0),
    nodes: s.nodes.nodes.size,
  };
}

/** Runs one item of a batch: an ApiError becomes that item's error, the others go on. */
function itemResult<T>(body: () => T, failed: (error: ErrorBody) => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof ApiError) {
      return failed(error.body);
    }
    throw error;
  }
}

/** The coordinator of a deployment, for its channel nodes' elections: a refusal is thrown as the ApiError it is. */
function electionLink(env: Env, deployment: string): ElectionLink {
  const stub = () => coordinatorStub(env, deployment);
  const value = <T>(result: Result<T>): T => {
    if (!result.ok) {
      throw new ApiError(result.error);
    }
    return result.value;
  };
  return {
    campaign: async (nodeId, tokenId, tenant, election, watcher) =>
      value(await stub().campaignForChannel(nodeId, tokenId, tenant, election, watcher)),
    resign: async (nodeId, tokenId, tenant, election) => {
      // The node's own channel: this shard vouches for it, as it does for an HTTP resignation.
      value(await stub().resign({ role: "node", tokenId, tenant }, election, { candidate: nodeId }, nodeId));
    },
    observe: async (tenant, election, watcher) =>
      value(await stub().observeForChannel(tenant, election, watcher)),
  };
}

/**
 * How a shard submits its schedules' runs: the edge's own placement (routing table, idempotency
 * keys, refusals and spill-over), built from the shard's env on the shard's clock.
 */
function scheduleLink(env: Env, deployment: string, clock: () => number): ScheduleLink {
  const edge = new Edge(env, deployment, clock);
  return {
    place: (principal, bodies) => placeTasks(edge, principal, bodies, () => null),
    taskStatus: async (principal, taskId) => {
      const region = regionOfTaskId(taskId);
      if (region === null) {
        return null;
      }
      // A task's payload is `unknown`, which RPC's types cannot express: the result is typed here.
      const found = (await edge.shard(region).getTask(principal, taskId)) as Result<TaskView>;
      return found.ok ? found.value.status : null;
    },
  };
}

/** The coordinator of a deployment, as a shard's link to it: a refusal counts as not delivered. */
function coordinatorLink(env: Env, deployment: string): CoordinatorLink {
  const stub = () => coordinatorStub(env, deployment);
  const delivered = (result: { ok: boolean }) => {
    if (!result.ok) {
      throw new Error(`the coordinator refused: ${JSON.stringify(result)}`);
    }
  };
  return {
    reportLoad: async (region, report) => delivered(await stub().reportLoad(region, report)),
    nodesGone: async (region, nodeIds) => delivered(await stub().nodesGone(region, nodeIds)),
  };
}
