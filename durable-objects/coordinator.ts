import { DurableObject } from "cloudflare:workers";
import {
  type CandidacyHold,
  candidacyOwner,
  candidacyRefusal,
  candidateRefusal,
} from "../src/core/admission";
import { echoClose } from "../src/core/close-codes";
import { leadership, positionOf, SESSION_TTL_MS } from "../src/core/election";
import { ApiError, type Result } from "../src/core/errors";
import type { RegionLoad } from "../src/core/geo-routing";
import { MAX_ANSWER_BYTES } from "../src/core/list-pages";
import {
  ADMIN_TOKEN_ID,
  can,
  DEFAULT_TENANT,
  GLOBAL_TENANT_HEADER,
  mintedTenant,
  type Operation,
  type Principal,
  type Role,
  tenantOf,
} from "../src/core/permissions";
import { sha256Hex } from "../src/core/sha256-hex";
import { scopedName, shownName, splitScoped } from "../src/core/tenant-names";
import { mintId, mintSecret } from "../src/ids";
import { MAX_CANDIDATES } from "../src/schemas/elections";
import { objectConfig } from "./call-gate";
import {
  type CoordinatorDependencies,
  CoordinatorEngine,
  electionPush,
} from "./coordinator/coordinator-engine";
import { RESET_COMMAND } from "./coordinator/schema";
import { DEFAULT_DEPLOYMENT, EVENT_HUB_TARGET, type RegionReport, type Watcher } from "./messages";
import { eventHubStub, shardStub } from "./stubs";

/**
 * The runtime's dependencies: the wall clock, the configuration, pushes through shard stubs, and
 * the event hub of `deployment` (the coordinator's own name).
 */
function defaultDependencies(env: Env, deployment: string): CoordinatorDependencies {
  return CoordinatorEngine.defaults(
    objectConfig(env),
    async (shard, message) => {
      if (shard.region === EVENT_HUB_TARGET) {
        // The revocation outbox's row for the event hub: the token's event streams end.
        if (message.kind === "token_revoked") {
          await eventHubStub(env, shard.deployment).revokeToken(message.tokenId);
        }
        return;
      }
      const stub = shardStub(env, shard.deployment, shard.region);
      const result =
        message.kind === "election"
          ? await stub.electionChanged(message.change)
          : await stub.tokenRevoked(message.tokenId);
      unwrapInternal(result);
    },
    (events) => eventHubStub(env, deployment).publish(events),
  );
}

/**
 * The deployment a coordinator serves: the name it was reached by (`idFromName(deployment)`,
 * durable-objects/stubs.ts). Only an id made otherwise has none; it can only be the default one.
 */
function deploymentOf(ctx: DurableObjectState): string {
  return ctx.id.name ?? DEFAULT_DEPLOYMENT;
}

export interface ElectionView {
  name: string;
  term: number;
  leader: ReturnType<typeof leadership>;
  candidates: { candidate: string; joinedAt: number; expiresAt: number }[];
}

/** What the edge routes by: each region's coordinates, health and load, and every shard ever made. */
export interface RoutingTable {
  regions: RegionLoad[];
  shards: string[];
}

/** The answer of every call while the storage is the single-object Meridian's (see coordinator/schema.ts). */
const LEGACY: Result<never> = {
  ok: false,
  error: {
    code: "unavailable",
    reason: "legacy_state",
    message: `this state was written by Meridian v1 (one Durable Object holding every task); round 2 keeps tasks in region shards and cannot adopt them. Finish or drop that work, then reset local state with \`${RESET_COMMAND}\``,
  },
};

/**
 * The coordinator (one per deployment): tokens, regions and the load table edges route by (kept
 * current by the shards), elections with their fencing terms. It is the single writer of leadership
 * and of load state; nothing on the task hot path calls it. Each method reads: authorize, load,
 * decide (core), save, answer.
 */
export class Coordinator extends DurableObject<Env> {
  private current: CoordinatorEngine | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.current = await CoordinatorEngine.load(ctx, defaultDependencies(env, deploymentOf(ctx)));
    });
  }

  /** The object as it would restart with other dependencies (a test's clock): memory reloaded from storage. */
  async restartWith(deps: Partial<CoordinatorDependencies>): Promise<void> {
    const current = this.current?.deps ?? defaultDependencies(this.env, deploymentOf(this.ctx));
    this.current = await CoordinatorEngine.load(this.ctx, { ...current, ...deps });
  }

  /** What the coordinator holds in memory, null while its storage is legacy (read by tests inside the object). */
  get engine(): CoordinatorEngine | null {
    return this.current;
  }

  /** Runs a call through the commit gate (counted by method), or refuses it while the storage is legacy. */
  private run<T>(
    method: string,
    principal: Principal | null,
    operation: Operation | null,
    body: (s: CoordinatorEngine, now: number) => T | Promise<T>,
  ): Promise<Result<T>> {
    const s = this.engine;
    if (s === null) {
      return Promise.resolve(LEGACY);
    }
    s.calls.set(method, (s.calls.get(method) ?? 0) + 1);
    return s.gate.run(principal, operation, (now) => body(s, now));
  }

  // ---- the edge's view ----

  /** The principal behind a token hash, or null: the edge caches the answer (docs/ARCHITECTURE.md). Internal. */
  async authenticate(tokenHash: string) {
    return this.run("authenticate", null, null, (s): Principal | null => {
      const token = s.tokens.lookup(tokenHash);
      return token ? { role: token.role, tokenId: token.id, tenant: token.tenant } : null;
    });
  }

  /** Each region's health and load, which the edge caches to route tasks. Internal. */
  async routingTable() {
    return this.run(
      "routingTable",
      null,
      null,
      (s): RoutingTable => ({ regions: s.regions.routingTable(), shards: s.regions.shards() }),
    );
  }

  // ---- what the shards report (internal) ----

  /** A shard's load and health; the newest report wins. */
  async reportLoad(region: string, report: RegionReport) {
    return this.run("reportLoad", null, null, (s, now) => s.reportLoad(region, report, now));
  }

  /** Nodes that died or left: they may not campaign again, and their candidacies end now. Idempotent. */
  async nodesGone(_region: string, nodeIds: string[]) {
    return this.run("nodesGone", null, null, (s, now) => {
      s.regions.nodesGone(nodeIds, now);
      s.leaveElections(nodeIds, now);
      return null;
    });
  }

  // ---- tokens ----

  /**
   * Mints a token; the secret is returned once and only its hash is kept. Its tenant (API-v2 §8): a
   * tenant admin mints only in its own tenant (403 naming another); a global admin names any, and
   * without one mints a global admin or a `default` token.
   */
  async createToken(principal: Principal, input: { role: Role; label?: string; tenant?: string }) {
    const secret = mintSecret();
    const hash = await sha256Hex(secret);
    return this.run("createToken", principal, "tokens.create", (s, now) => {
      const tenant = mintedTenant(principal, input.role, input.tenant);
      const token = {
        id: mintId("tok"),
        role: input.role,
        label: input.label ?? null,
        tenant,
        createdAt: now,
      };
      s.tokens.create(token, hash);
      return { id: token.id, token: secret, role: token.role, label: token.label, tenant };
    });
  }

  /** The caller's tenant's tokens (a global admin: every token). */
  async listTokens(principal: Principal) {
    return this.run("listTokens", principal, "tokens.list", (s) => ({
      tokens: s.tokens.list(principal.tenant),
    }));
  }

  /**
   * Revokes: the next call with that token is 401 at this edge at once, at every edge within the
   * auth cache's bound; the token's open channels close (1008) and its nodes die in every region.
   */
  async revokeToken(principal: Principal, deployment: string, id: string) {
    return this.run("revokeToken", principal, "tokens.revoke", (s, now) => {
      const token = s.tokens.revoke(id, principal.tenant);
      if (token === null) {
        throw ApiError.of("not_found", `no token ${id}`);
      }
      // Only a role that may act as a node can hold channels or nodes: the shards need not hear of the others.
      s.revokeSessions(id, can(token.role, "nodes.act"), deployment, now);
      return null;
    });
  }

  // ---- schedules (each kept by the shard of its home region; this is the index) ----

  /**
   * The home region of schedule `id`: the one recorded, else `proposed` is recorded and returned
   * (null `proposed`: a look-up, null when unknown). The first PUT of an id fixes its home.
   */
  async scheduleHome(principal: Principal, id: string, proposed: string | null) {
    const operation = proposed === null ? "schedules.read" : "schedules.write";
    return this.run("scheduleHome", principal, operation, (s, now) => {
      if (proposed !== null && !s.regions.regions.has(proposed)) {
        throw ApiError.of("not_found", `no region ${proposed}`);
      }
      return s.scheduleHomes.claim(id, proposed, now);
    });
  }

  /** Forgets a deleted schedule's home. */
  async forgetScheduleHome(principal: Principal, id: string, region: string) {
    return this.run("forgetScheduleHome", principal, "schedules.write", (s) => {
      s.scheduleHomes.forget(id, region);
      return null;
    });
  }

  // ---- regions ----

  /** Creates or updates a region, and configures its shard (created near the region). */
  async putRegion(
    principal: Principal,
    deployment: string,
    id: string,
    input: { lat: number; lon: number; label?: string },
  ) {
    return this.run("putRegion", principal, "regions.put", async (s, now) => {
      requireGlobal(principal);
      const region = s.regions.put(id, input.lat, input.lon, input.label ?? null, now);
      const shard = shardStub(this.env, deployment, id, input);
      unwrapInternal(await shard.configure({ region: id, lat: input.lat, lon: input.lon, deployment }));
      return { id, lat: region.lat, lon: region.lon, label: region.label };
    });
  }

  /** Deletes a region once its shard agrees (no live node, no unfinished task). */
  async deleteRegion(principal: Principal, deployment: string, id: string) {
    return this.run("deleteRegion", principal, "regions.delete", async (s) => {
      requireGlobal(principal);
      const region = s.regions.require(id);
      const retired = await shardStub(this.env, deployment, id, region).retire();
      if (!retired.ok) {
        throw new ApiError(retired.error);
      }
      s.regions.delete(id);
      return null;
    });
  }

  /** Regions with their coordinates (the edge adds each shard's live numbers). */
  async listRegions(principal: Principal) {
    return this.run("listRegions", principal, "regions.read", (s) => ({
      regions: [...s.regions.regions.values()].map((r) => ({
        id: r.id,
        lat: r.lat,
        lon: r.lon,
        label: r.label,
      })),
    }));
  }

  // ---- elections ----

  /**
   * Joins or renews a candidacy. `nodeId` (given by the edge once the node's shard vouched for it)
   * binds the candidacy to a node: when the node dies or leaves, so does the candidacy. A node
   * the coordinator heard is gone may not campaign, whatever order the messages came in.
   */
  async campaign(
    principal: Principal,
    name: string,
    input: { candidate: string; ttlMs: number },
    nodeId: string | null,
  ) {
    return this.run("campaign", principal, "elections.act", (s, now) => {
      const key = electionKey(principal, name);
      const change = join(s, now, key, input.candidate, input.ttlMs, { nodeId, caller: principal });
      const position = positionOf(change.state, input.candidate);
      return { isLeader: position === 0, position, leader: leadership(change.state) };
    });
  }

  /**
   * A campaign over a node's channel (the node's shard vouched for it): bound to the node's session,
   * no ttl to renew; every later change of leader is pushed to the shard. Internal.
   */
  async campaignForChannel(nodeId: string, tokenId: string, tenant: string, name: string, watcher: Watcher) {
    return this.run("campaignForChannel", { role: "node", tokenId, tenant }, "elections.act", (s, now) => {
      // The push names the stored key: the shard's channels follow keys, and show names.
      const key = scopedName(tenant, name);
      const change = join(s, now, key, nodeId, SESSION_TTL_MS, { nodeId, caller: { role: "node", tokenId } });
      s.elections.watch(key, watcher.deployment, watcher.region);
      return electionPush(key, change.state);
    });
  }

  /** Subscribes a shard to an election's changes for its channel nodes; the current state. Internal. */
  async observeForChannel(tenant: string, name: string, watcher: Watcher) {
    return this.run("observeForChannel", null, null, (s) => {
      const key = scopedName(tenant, name);
      s.elections.watch(key, watcher.deployment, watcher.region);
      return electionPush(key, s.elections.load(key));
    });
  }

  /**
   * Leaves an election. `nodeId`: the node the candidate names, once its shard vouched the caller owns
   * it; any other live candidacy is its owner's (or an admin's of the tenant): 403 for another token.
   */
  async resign(
    principal: Principal,
    name: string,
    input: { candidate: string },
    nodeId: string | null = null,
  ) {
    return this.run("resign", principal, "elections.act", (s, now) => {
      const key = electionKey(principal, name);
      requireCandidacy(s, now, key, input.candidate, principal, nodeId);
      s.announce(s.elections.apply(key, { kind: "resign", candidate: input.candidate }, now));
      return { resigned: true };
    });
  }

  async getElection(principal: Principal, name: string) {
    return this.run("getElection", principal, "elections.read", (s, now) => ({
      ...electionView(s, electionKey(principal, name), now),
      name,
    }));
  }

  /** 200 while `term` is the current term of a live leadership, else 409 `stale_term`. */
  async fence(principal: Principal, name: string, input: { term: number }) {
    return this.run("fence", principal, "elections.act", (s, now) => {
      const view = electionView(s, electionKey(principal, name), now);
      if (view.leader === null || view.term !== input.term) {
        throw ApiError.of("conflict", `term ${input.term} is not the current term of ${name}`, "stale_term");
      }
      return { ok: true, term: view.term };
    });
  }

  /**
   * The first elections by name with their leaders (at most `elections.limit`, within
   * `elections.maxBytes`: the rest are read with `listElections`), how many there are, and the calls
   * this coordinator served (the edge adds regions, nodes and tasks from the shards).
   */
  async status(principal: Principal, elections: { limit: number; maxBytes: number }) {
    return this.run("status", principal, "status.read", (s, now) => {
      const page = s.elections.page({
        ...elections,
        maxBytes: Math.min(elections.maxBytes, MAX_ANSWER_BYTES),
        tenant: principal.tenant,
      });
      const last = page.items[page.items.length - 1];
      return {
        now,
        elections: page.items.map((item) => shownElection(principal, item.election)),
        electionsCursor: page.more && last !== undefined ? shownName(principal.tenant, last.key) : null,
        electionCount: s.elections.count(principal.tenant),
        leaderChanges: s.elections.leaderChanges(),
        coordinatorCalls: Object.fromEntries(s.calls),
      };
    });
  }

  /** A page of elections by name after `query.after`, with their leaders, within `query.maxBytes`. */
  async listElections(principal: Principal, query: { after?: string; limit: number; maxBytes: number }) {
    return this.run("listElections", principal, "elections.read", (s) => {
      const page = s.elections.page({
        ...query,
        // The cursor is a name as the caller was shown it: its key again.
        after:
          query.after === undefined || principal.tenant === null
            ? query.after
            : electionKey(principal, query.after),
        maxBytes: Math.min(query.maxBytes, MAX_ANSWER_BYTES),
        tenant: principal.tenant,
      });
      const last = page.items[page.items.length - 1];
      return {
        elections: page.items.map((item) => shownElection(principal, item.election)),
        cursor: page.more && last !== undefined ? shownName(principal.tenant, last.key) : null,
      };
    });
  }

  // ---- time and observers ----

  override async alarm(): Promise<void> {
    await this.engine?.alarm();
  }

  /**
   * WebSocket upgrade for `observe`. The edge has authenticated the caller and passes who it is in
   * `x-meridian-token-id` (the coordinator is reachable only through the edge); a token revoked since
   * the edge cached it is refused here (401), the caps answer 429 and the tenant's quota 409.
   */
  override async fetch(request: Request): Promise<Response> {
    const name = new URL(request.url).searchParams.get("election");
    const tokenId = request.headers.get("x-meridian-token-id") ?? "";
    const tenant = request.headers.get("x-meridian-tenant") ?? "";
    const s = this.engine;
    if (request.headers.get("Upgrade") !== "websocket" || !name || !tokenId || !tenant) {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    if (s === null) {
      return Response.json(LEGACY.ok ? null : { error: LEGACY.error }, { status: 503 });
    }
    try {
      if (tokenId !== ADMIN_TOKEN_ID && !s.tokens.hasId(tokenId)) {
        throw ApiError.of("unauthorized", "unknown or revoked token");
      }
      // Observers are tagged by the stored key: a change is sent to that tag (see announce).
      const global = tenant === GLOBAL_TENANT_HEADER;
      const key = scopedName(global ? DEFAULT_TENANT : tenant, name);
      const { client, server } = s.observers.accept(tokenId, global ? null : tenant, key, s.gate.now());
      const state = s.elections.load(key);
      server.send(JSON.stringify({ name, term: state.term, leader: leadership(state) }));
      return new Response(null, { status: 101, webSocket: client });
    } catch (error) {
      if (!(error instanceof ApiError)) {
        throw error;
      }
      return Response.json({ error: error.body }, { status: error.status });
    }
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const s = this.engine;
    if (s !== null) {
      s.observers.message(ws, message, s.gate.now());
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.engine?.observers.closed(ws);
    // 1005, 1006 and 1015 are reported, never sent: echoing them threw "Invalid WebSocket close code".
    echoClose(ws, code);
  }
}

/**
 * The live candidacy of `candidate`, if the caller may act on it (its owner, an admin of the tenant, or
 * the token of the node the shard vouched for); 403 for another token's (every token of the tenant
 * sees the candidates, so a 404 would hide nothing).
 */
function requireCandidacy(
  s: CoordinatorEngine,
  now: number,
  name: string,
  candidate: string,
  caller: Pick<Principal, "role" | "tokenId">,
  nodeId: string | null,
): CandidacyHold | null {
  const hold = s.elections.hold(name, candidate);
  if (candidacyRefusal(hold, caller, now, nodeId !== null) !== null) {
    throw ApiError.of("forbidden", `candidate ${candidate} belongs to another token`);
  }
  return hold;
}

/**
 * Joins or renews a candidacy: refused (403) for another token's live candidacy, (409) for a node the
 * coordinator heard is gone, or when the election is full; observers are told of a new leader.
 */
function join(
  s: CoordinatorEngine,
  now: number,
  name: string,
  candidate: string,
  ttlMs: number,
  by: { nodeId: string | null; caller: Pick<Principal, "role" | "tokenId"> },
) {
  const { nodeId, caller } = by;
  const hold = requireCandidacy(s, now, name, candidate, caller, nodeId);
  const loaded = s.elections.loadStored(name);
  if (!loaded.stored) {
    // A new election: its tenant's quota (TENANT_MAX_ELECTIONS) counts the ones it holds.
    const { tenant } = splitScoped(name);
    const quota = s.deps.config.tenants.maxElections;
    if (s.elections.count(tenant) >= quota) {
      throw ApiError.of(
        "conflict",
        `tenant ${tenant} holds ${quota} elections (TENANT_MAX_ELECTIONS)`,
        "quota_exceeded",
      );
    }
  }
  const refusal = candidateRefusal(loaded.state, candidate, now, {
    maxCandidates: MAX_CANDIDATES,
    // A node reported gone may not campaign again, bound or not: its id is never reused.
    nodeGone: s.regions.isGone(nodeId ?? candidate),
  });
  if (refusal === "node_dead") {
    throw ApiError.of("conflict", `node ${nodeId} was declared dead; register again`, "node_dead");
  }
  if (refusal === "too_many_candidates") {
    throw ApiError.of("conflict", `election ${name} has ${MAX_CANDIDATES} candidates`, refusal);
  }
  const owner = candidacyOwner(hold, caller.tokenId, now);
  const change = s.elections.apply(name, { kind: "campaign", candidate, ttlMs }, now, loaded, {
    nodeId,
    owner,
  });
  s.announce(change);
  return change;
}

/** Regions are shared by every tenant (API-v2 §8): only a global admin changes them (403 otherwise: a region is no tenant's secret). */
function requireGlobal(principal: Principal): void {
  if (principal.tenant !== null) {
    throw ApiError.of(
      "forbidden",
      `regions are shared by every tenant: an admin of tenant ${principal.tenant} may not change them`,
    );
  }
}

/** The stored key of election `name` for `principal` (a global admin names `default`'s). */
function electionKey(principal: Principal, name: string): string {
  return scopedName(tenantOf(principal), name);
}

/** An election of a page as `principal` is shown it (see `shownName`). */
function shownElection<T extends { name: string }>(principal: Principal, election: T): T {
  return { ...election, name: shownName(principal.tenant, election.name) };
}

function electionView(s: CoordinatorEngine, name: string, now: number): ElectionView {
  const loaded = s.elections.loadStored(name);
  if (!loaded.stored && loaded.state.candidates.length === 0) {
    throw ApiError.of("not_found", `no election ${name}`);
  }
  const change = s.elections.apply(name, { kind: "tick" }, now, loaded);
  s.announce(change);
  return {
    name,
    term: change.state.term,
    leader: leadership(change.state),
    candidates: change.state.candidates,
  };
}

/** An internal call's value; its refusal becomes this call's. */
function unwrapInternal<T>(result: Result<T>): T {
  if (!result.ok) {
    throw new ApiError(result.error);
  }
  return result.value;
}
