/**
 * The simulated network between the region shards and the coordinator. A shard's link never does
 * I/O (code running in one Durable Object cannot reach another object's storage in the test
 * isolate): it puts the message in flight and fails at once, as a call whose answer never came.
 * The simulation delivers what is in flight to the coordinator when it chooses: late, out of
 * order, twice, or never. The shard keeps node deaths in its outbox and resends them from its
 * alarm, and offers its load again.
 *
 * A send succeeds at once when the coordinator already holds what it says: node deaths it has all
 * heard of (it changes nothing), or a load report that says what the one it holds says. Such a
 * report has arrived now: it is handed to the coordinator before anything else is delivered, so a
 * message still in flight, sent before it, arrives after it (this is how a shard in sync with the
 * coordinator as far as it knows meets a late report).
 */
import type { CoordinatorLink, RegionReport } from "../../durable-objects/messages";

export type Payload =
  | { kind: "load"; region: string; report: RegionReport }
  | { kind: "gone"; region: string; nodeIds: string[] };

export interface InFlight {
  seq: number;
  payload: Payload;
  /** Equal messages have equal keys. */
  key: string;
  /** Simulated time of sending. */
  sentAt: number;
}

/** What the sending shard held in memory at the instant of a send, to check the message against. */
export interface ShardProbe {
  at: number;
  nodes: { id: string; dead: boolean; draining: boolean; capacity: number; lastSeenAt: number }[];
  leased: number;
  queued: number;
}

/** A message as a shard sent it, whether the send was acknowledged, and the shard's state then. */
export interface Send {
  payload: Payload;
  acked: boolean;
  probe: ShardProbe | null;
}

export interface NetworkStats {
  sent: number;
  acked: number;
  delivered: number;
  delayed: number;
  reordered: number;
  duplicated: number;
  lost: number;
}

export const emptyNetworkStats = (): NetworkStats => ({
  sent: 0,
  acked: 0,
  delivered: 0,
  delayed: 0,
  reordered: 0,
  duplicated: 0,
  lost: 0,
});

/** Messages in flight beyond this are lost, oldest first (a shard that cannot get through resends). */
const MAX_IN_FLIGHT = 64;

/** A send that did not get through (yet): the shard treats it as a failed call. */
export class NotAcknowledged extends Error {
  override name = "NotAcknowledged";
}

/** A report's content: what it says, without when or in which order it was made. */
export function loadContent(report: RegionReport | undefined): string {
  if (report === undefined) {
    return "none";
  }
  const { at: _at, epoch: _epoch, seq: _seq, ...content } = report;
  return JSON.stringify(content);
}

/** What the coordinator holds, as far as an acknowledgement needs to know. */
export interface CoordinatorView {
  load(region: string): RegionReport | undefined;
  heardGone(nodeId: string): boolean;
}

export class Network {
  readonly queue: InFlight[] = [];
  /** Reports that arrived when sent (acknowledged), not yet handed to the coordinator. */
  readonly arrived: InFlight[] = [];
  private seq = 0;
  /** Sends since the driver last took them (it checks each against the sending shard's state). */
  private fresh: Send[] = [];
  /** Each region's last load report sent, and whether it was acknowledged. */
  readonly lastLoad = new Map<string, Send>();

  constructor(
    private readonly now: () => number,
    readonly stats: NetworkStats,
    /** Reads the sending shard's memory (the link runs inside it). */
    private readonly probe: (region: string) => ShardProbe | null,
    private readonly coordinator: CoordinatorView,
  ) {}

  /** A shard's link to the coordinator: records, and answers from what has arrived. */
  link(): CoordinatorLink {
    return {
      reportLoad: (region, report) => this.send({ kind: "load", region, report: structuredClone(report) }),
      nodesGone: (region, nodeIds) => this.send({ kind: "gone", region, nodeIds: [...nodeIds] }),
    };
  }

  private send(payload: Payload): Promise<void> {
    const key = JSON.stringify(payload);
    const acked =
      payload.kind === "gone"
        ? payload.nodeIds.every((id) => this.coordinator.heardGone(id))
        : loadContent(payload.report) === loadContent(this.coordinator.load(payload.region));
    const sent: Send = { payload, acked, probe: this.probe(payload.region) };
    this.fresh.push(sent);
    if (payload.kind === "load") {
      this.lastLoad.set(payload.region, sent);
    }
    this.stats.sent++;
    if (acked) {
      this.stats.acked++;
      if (payload.kind === "load") {
        this.arrived.push({ seq: this.seq++, payload, key, sentAt: this.now() });
      }
      return Promise.resolve();
    }
    this.queue.push({ seq: this.seq++, payload, key, sentAt: this.now() });
    if (this.queue.length > MAX_IN_FLIGHT) {
      this.queue.shift();
      this.stats.lost++;
    }
    return Promise.reject(new NotAcknowledged("in flight; no acknowledgement"));
  }

  /** A shard's sends since they were last taken. */
  takeSends(region: string): Send[] {
    const sends = this.fresh.filter((s) => s.payload.region === region);
    this.fresh = this.fresh.filter((s) => s.payload.region !== region);
    return sends;
  }

  /**
   * Takes the message at `index` out for delivery (`keep`: a copy stays in flight, to arrive again).
   * Counts it delayed when time has passed since it was sent, reordered when an older message of
   * the same shard is still in flight.
   */
  take(index: number, keep: boolean): InFlight {
    const message = this.queue[index]!;
    if (!keep) {
      this.queue.splice(index, 1);
    } else {
      this.stats.duplicated++;
    }
    this.stats.delivered++;
    if (message.sentAt < this.now()) {
      this.stats.delayed++;
    }
    if (this.queue.some((m) => m.seq < message.seq && m.payload.region === message.payload.region)) {
      this.stats.reordered++;
    }
    return message;
  }

  /** Loses the message at `index`. */
  lose(index: number): void {
    this.queue.splice(index, 1);
    this.stats.lost++;
  }

  /** Whether a message of `region` of this kind is in flight (or arrived, not yet handed over). */
  inFlight(region: string, kind: Payload["kind"]): boolean {
    return [...this.arrived, ...this.queue].some(
      (m) => m.payload.region === region && m.payload.kind === kind,
    );
  }

  /** The reports that arrived when sent, in order, emptied: the coordinator takes them before anything else. */
  takeArrived(): InFlight[] {
    return this.arrived.splice(0, this.arrived.length);
  }
}
