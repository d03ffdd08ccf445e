/**
 * What the dashboard knows about the fleet: regions (health, load, queue), nodes, elections. It is
 * loaded from the REST API (`GET /v1/status`, `GET /v1/nodes`) every few seconds and kept current
 * between loads by the event stream. Pure: no DOM, no fetch.
 */
import { regionOfNodeId } from "../../src/core/ids";
import type { LiveEvent } from "./live-events";

/** A region as `GET /v1/status` lists it. */
export interface RegionInfo {
  id: string;
  lat: number;
  lon: number;
  label: string | null;
  healthy: boolean;
  nodes: { healthy: number; total: number };
  capacity: number;
  inFlight: number;
  queued: number;
  /** Nodes by status (`/v1/status` only; absent on an older server): dead ones are counted, not listed. */
  nodeStatus?: Record<NodeInfo["status"], number>;
}

/** A node as `GET /v1/nodes` lists it (`transport` is absent on a server older than the field). */
export interface NodeInfo {
  id: string;
  region: string;
  status: "healthy" | "suspect" | "draining" | "dead";
  capacity: number;
  inFlight: number;
  load: number | null;
  lastHeartbeatAt: number;
  labels: Record<string, string>;
  transport?: "channel" | "http";
}

/** A push endpoint as `GET /v1/status` lists it (absent on a server older than push delivery). */
export interface EndpointInfo {
  region: string;
  name: string;
  state: "closed" | "open" | "half_open";
  inFlight: number;
  capacity: number;
}

/** An election as `GET /v1/status` lists it. */
export interface ElectionInfo {
  name: string;
  term: number;
  leader: { candidate: string; term: number; since: number } | null;
}

/** The parts of `GET /v1/status` the dashboard reads. */
export interface StatusSnapshot {
  now: number;
  regions: RegionInfo[];
  /** The first elections by name; `electionsCursor` continues at GET /v1/elections (absent on an older server). */
  elections: ElectionInfo[];
  electionsCursor?: string | null;
  electionCount?: number;
  endpoints?: EndpointInfo[];
}

/** Whether a snapshot holds every live node and every election, or stopped at the dashboard's caps. */
export interface SnapshotCompleteness {
  nodes: boolean;
  elections: boolean;
}

/** A region's election and its leader, as a region card shows it. */
export interface RegionLeadership {
  election: string;
  term: number;
  leader: string | null;
  /** The leader's node name (its `name` label) when the leader is a node the dashboard knows. */
  leaderName: string | null;
}

export class FleetState {
  readonly regions = new Map<string, RegionInfo>();
  readonly nodes = new Map<string, NodeInfo>();
  readonly elections = new Map<string, ElectionInfo>();
  /** Push endpoints, as of the last REST snapshot (their breakers change no event). */
  endpoints: EndpointInfo[] = [];
  /** When the last REST snapshot was taken (server time), 0 before the first. */
  snapshotAt = 0;
  /** Whether the last snapshot held every live node and election (false: the caps stopped it). */
  complete: SnapshotCompleteness = { nodes: true, elections: true };

  /**
   * Replaces everything with a fresh REST snapshot (the truth; events only bridge the gaps). `nodes`
   * are the live ones (GET /v1/nodes lists the dead only when asked: `nodeStatus` counts them).
   */
  applySnapshot(
    status: StatusSnapshot,
    nodes: NodeInfo[],
    complete: SnapshotCompleteness = { nodes: true, elections: true },
  ): void {
    this.snapshotAt = status.now;
    this.complete = complete;
    this.regions.clear();
    for (const region of status.regions) {
      this.regions.set(region.id, region);
    }
    this.elections.clear();
    for (const election of status.elections) {
      this.elections.set(election.name, election);
    }
    this.endpoints = status.endpoints ?? [];
    this.nodes.clear();
    for (const node of nodes) {
      this.nodes.set(node.id, node);
    }
  }

  /** Applies one live event; answers whether anything the views show changed. */
  applyEvent(event: LiveEvent): boolean {
    switch (event.type) {
      case "region.changed": {
        const region = this.regions.get(event.region);
        if (!region) {
          return false; // a region created since the last snapshot: the next one brings its coordinates
        }
        const { healthy, capacity, inFlight, queued } = event;
        this.regions.set(region.id, { ...region, healthy, capacity, inFlight, queued });
        return true;
      }
      case "node.up": {
        const node = this.nodes.get(event.nodeId);
        const transport = event.transport === "http" ? "http" : "channel";
        this.nodes.set(event.nodeId, {
          id: event.nodeId,
          region: event.region,
          capacity: 0,
          inFlight: 0,
          load: null,
          labels: {},
          ...node,
          lastHeartbeatAt: event.at,
          status: "healthy",
          transport,
        });
        return true;
      }
      case "node.down": {
        const node = this.nodes.get(event.nodeId);
        if (node) {
          this.nodes.set(node.id, { ...node, status: "dead", inFlight: 0 });
        }
        return node !== undefined;
      }
      case "leader.changed": {
        const leader =
          event.leader === null ? null : { candidate: event.leader, term: event.term, since: event.at };
        this.elections.set(event.election, { name: event.election, term: event.term, leader });
        return true;
      }
      default:
        return false;
    }
  }

  /** Regions sorted by id (a stable order for cards and tests). */
  sortedRegions(): RegionInfo[] {
    return [...this.regions.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * A region's nodes: live ones first (by name), the dead counted apart (those the snapshot counted,
   * and those that died since), and how many live ones the snapshot did not hold (its cap).
   */
  nodesOf(region: string): { live: NodeInfo[]; dead: number; notShown: number } {
    const live: NodeInfo[] = [];
    let dead = this.regions.get(region)?.nodeStatus?.dead ?? 0;
    for (const node of this.nodes.values()) {
      if (node.region !== region) {
        continue;
      }
      if (node.status === "dead") {
        dead++;
      } else {
        live.push(node);
      }
    }
    live.sort((a, b) => nodeName(a).localeCompare(nodeName(b)));
    const total = this.regions.get(region)?.nodes.total ?? 0;
    return { live, dead, notShown: this.complete.nodes ? 0 : Math.max(0, total - live.length) };
  }

  /**
   * The elections that belong to a region: named after it (`leader:<region>`, `<region>.leader`)
   * or led by one of its nodes (node ids name their region).
   */
  leadershipsOf(region: string): RegionLeadership[] {
    const out: RegionLeadership[] = [];
    for (const election of this.elections.values()) {
      const leader = election.leader?.candidate ?? null;
      const named = electionNamesRegion(election.name, region);
      const ledFromHere = leader !== null && regionOfNodeId(leader) === region;
      if (named || ledFromHere) {
        const node = leader === null ? undefined : this.nodes.get(leader);
        out.push({
          election: election.name,
          term: election.term,
          leader,
          leaderName: node ? nodeName(node) : null,
        });
      }
    }
    return out.sort((a, b) => a.election.localeCompare(b.election));
  }
}

/** Whether an election's name is one of the usual spellings of "the leader of <region>". */
export function electionNamesRegion(name: string, region: string): boolean {
  return name === `leader:${region}` || name === `${region}.leader` || name === region;
}

/** What to call a node: its `name` label, else its id. */
export function nodeName(node: NodeInfo): string {
  return node.labels.name ?? node.id;
}
