/**
 * What the coordinator and the region shards tell each other. Data flows one way on the hot path:
 * edge → shard; shards → coordinator for load, health and node deaths; the coordinator → a shard
 * when an admin creates or deletes its region or revokes a token, and to push election changes.
 */

/** A region's load and health as its shard reports it (what the edge routes by). */
export interface RegionReport {
  /** The shard's clock when it made the report. */
  at: number;
  /**
   * The order the shard made its reports in, which the coordinator keeps the latest of: the
   * shard's incarnation (one more at every start), then the report's number within it. `at` cannot
   * order them: a shard makes several reports within one millisecond, and they may arrive in any order.
   */
  epoch: number;
  seq: number;
  healthy: boolean;
  /** Capacity of the healthy nodes. */
  capacity: number;
  inFlight: number;
  /** Runnable tasks waiting (delayed and backing-off ones do not count). */
  queued: number;
  nodes: { healthy: number; total: number };
}

export const EMPTY_REPORT: RegionReport = {
  at: 0,
  epoch: 0,
  seq: 0,
  healthy: false,
  capacity: 0,
  inFlight: 0,
  queued: 0,
  nodes: { healthy: 0, total: 0 },
};

/** Whether report `a` was made after report `b` (both of one shard). */
export function madeAfter(a: RegionReport, b: RegionReport): boolean {
  return a.epoch !== b.epoch ? a.epoch > b.epoch : a.seq > b.seq;
}

/** A shard's way to the coordinator; the simulation puts a lossy, reordering network in between. */
export interface CoordinatorLink {
  /** The region's current load and health; the latest report the shard made (by `epoch`, `seq`) wins. */
  reportLoad(region: string, report: RegionReport): Promise<void>;
  /** Nodes that died or left: their candidacies end. Idempotent; resent until it succeeds. */
  nodesGone(region: string, nodeIds: string[]): Promise<void>;
}

/** An election as pushed to the shards whose nodes campaign in it or observe it. */
export type ElectionPush = {
  election: string;
  leader: string | null;
  term: number;
  /** Candidates in seniority order (position 0 leads). */
  order: string[];
};

/** Where a shard can be reached for election pushes. */
export type Watcher = { deployment: string; region: string };

/**
 * What the coordinator pushes to a shard (best effort, sent when the call settles): an election its
 * channel nodes follow changed, or a token was revoked (its channels and nodes there end).
 */
/**
 * The region name under which the revocation outbox keeps the deployment's event hub: a revoked
 * token's `GET /v1/events` streams end there (no region may be called this: `#` is no id character).
 */
export const EVENT_HUB_TARGET = "#events";

export type ShardPush =
  | { kind: "election"; change: ElectionPush }
  | { kind: "token_revoked"; tokenId: string };

/**
 * A shard's election calls on behalf of its channel nodes. A candidacy made over a channel is
 * bound to the node's session: it has no ttl to renew and ends when the node does.
 */
export interface ElectionLink {
  campaign(
    nodeId: string,
    tokenId: string,
    tenant: string,
    election: string,
    watcher: Watcher,
  ): Promise<ElectionPush>;
  resign(nodeId: string, tokenId: string, tenant: string, election: string): Promise<void>;
  observe(tenant: string, election: string, watcher: Watcher): Promise<ElectionPush>;
}

/** A region's shard configuration, given by the coordinator when the region is created or changed. */
export interface ShardConfig {
  region: string;
  lat: number;
  lon: number;
  /** The coordinator's name, which the shard reports to. */
  deployment: string;
}

/** The default deployment's name: its coordinator is `idFromName("global")`, its shards are named after their regions. */
export const DEFAULT_DEPLOYMENT = "global";

/** The Durable Object name of a region's shard; a deployment other than the default (tests) prefixes its own name. */
export function shardName(deployment: string, region: string): string {
  return deployment === DEFAULT_DEPLOYMENT ? region : `${deployment}/${region}`;
}
