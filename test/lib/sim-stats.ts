/** What simulated runs did, summed into the report (sim-driver.ts counts; the tests print). */
import { emptyNetworkStats, type NetworkStats } from "./sim-network";

/** Counts of what a run did, summed into the report. */
export interface SimStats {
  runs: number;
  ops: number;
  restarts: { coordinator: number; r1: number; r2: number };
  nodeDeaths: number;
  clockJumps: number;
  alarms: number;
  staleTokenCalls: number;
  submitted: number;
  outcomes: number;
  /** Candidacies the coordinator ended when it heard their node was gone. */
  candidaciesEnded: number;
  /** Campaigns of a node the coordinator had heard was gone, refused. */
  deadCampaignsRefused: number;
  /** Tasks submitted by, and leases granted to nodes of, the second tenant (`t2`; the rest are `default`'s). */
  t2Submitted: number;
  t2Leases: number;
  /** Calls of one tenant on another tenant's task or node (sim-tenant-ops.ts): each 404. */
  crossTenantCalls: number;
  /** Requests into the objects: what a run costs. */
  visits: number;
  network: NetworkStats;
  channels: ChannelStats;
  retention: RetentionStats;
}

/** What retention did, and how far the runs went in simulated time. */
export interface RetentionStats {
  /** Clock jumps of hours to days. */
  longJumps: number;
  /** Jumps to a millisecond around the moment a finished task or dead node comes of age, then its shard's alarm. */
  edgeJumps: number;
  prunedTasks: number;
  prunedNodes: number;
  /** Finished tasks erased on demand (DELETE /v1/tasks/{id}), and erasures refused (unfinished, or gone: 409, 404). */
  erased: number;
  eraseRefused: number;
  /** Submits with a key whose claim had expired: stored as a new task. */
  expiredKeys: number;
  /** Reads (GET, list) of tasks gone by retention or erasure: 404 / not listed. */
  goneReads: number;
  /** Alarms the soak fired as the runtime would, when a row came of age. */
  runtimeAlarms: number;
  /** Simulated time the runs covered, in hours. */
  simulatedHours: number;
  /** The most rows a shard stored at once (tasks, nodes), and the bound in force then (soak). */
  maxTaskRows: number;
  maxTaskBound: number;
  /** Of that bound: unfinished tasks, and tasks finished within the retention. */
  maxTaskUnfinished: number;
  maxTaskRecent: number;
  maxNodeRows: number;
  maxNodeBound: number;
}

/** What the node channels did. */
export interface ChannelStats {
  opened: number;
  resumed: number;
  /** Reconnects refused because the grace period had lapsed (the node was dead). */
  lapsed: number;
  dropped: number;
  frames: number;
  duplicated: number;
  reordered: number;
  /** Frames of a socket the shard had closed or replaced, arriving late. */
  stale: number;
  pushed: number;
  leaderFrames: number;
}

export const emptyStats = (): SimStats => ({
  runs: 0,
  ops: 0,
  restarts: { coordinator: 0, r1: 0, r2: 0 },
  nodeDeaths: 0,
  clockJumps: 0,
  alarms: 0,
  staleTokenCalls: 0,
  submitted: 0,
  outcomes: 0,
  candidaciesEnded: 0,
  deadCampaignsRefused: 0,
  t2Submitted: 0,
  t2Leases: 0,
  crossTenantCalls: 0,
  visits: 0,
  network: emptyNetworkStats(),
  channels: {
    opened: 0,
    resumed: 0,
    lapsed: 0,
    dropped: 0,
    frames: 0,
    duplicated: 0,
    reordered: 0,
    stale: 0,
    pushed: 0,
    leaderFrames: 0,
  },
  retention: {
    longJumps: 0,
    edgeJumps: 0,
    prunedTasks: 0,
    prunedNodes: 0,
    erased: 0,
    eraseRefused: 0,
    expiredKeys: 0,
    goneReads: 0,
    runtimeAlarms: 0,
    simulatedHours: 0,
    maxTaskRows: 0,
    maxTaskBound: 0,
    maxTaskUnfinished: 0,
    maxTaskRecent: 0,
    maxNodeRows: 0,
    maxNodeBound: 0,
  },
});
