import { type CampaignChannel, Candidacy, type LeadershipState } from "./candidacy.ts";
import type { LeaderFrame } from "./channel-frames.ts";
import type { Clock } from "./clock.ts";
import { MeridianError } from "./errors.ts";
import type { HttpClient } from "./http.ts";
import type { AgentLogger } from "./logger.ts";
import { withTimeout } from "./retry.ts";
import type { RegisteredNodeView } from "./types.ts";

export interface ElectionsOptions {
  http: HttpClient;
  log: AgentLogger;
  /** The candidacies' ttl: the node's deadline, so a candidacy lapses no later than its node. */
  ttlMs: () => number;
  /** Local time until which Meridian cannot have declared the node dead. */
  aliveUntil: () => number;
  /**
   * How `node`'s candidacies are kept now: over its open channel, over HTTP, or not now (null: the
   * channel is opening or reconnecting). Consulted on every renewal.
   */
  via: (node: RegisteredNodeView, overChannel: boolean) => CampaignChannel | "http" | null;
  /** A renewal failed (the node may be gone). */
  failed: (node: RegisteredNodeView, error: unknown, what: string) => void;
  clock: Clock;
  onLeadership?: (state: LeadershipState) => void;
}

/**
 * The elections an agent campaigns in, with the current node id as the candidate: over HTTP each
 * is renewed on every heartbeat; over the node's channel each is bound to the channel's session.
 */
export class Elections {
  private readonly options: ElectionsOptions;
  private readonly candidacies = new Map<string, Candidacy>();
  /** False once a shard refused a campaign over the channel as `not_supported`: HTTP from then on. */
  private overChannel = true;

  constructor(options: ElectionsOptions) {
    this.options = options;
  }

  /** The candidacy in `election`, created (and logged on every change) the first time. */
  join(election: string): { candidacy: Candidacy; created: boolean } {
    const existing = this.candidacies.get(election);
    if (existing) {
      return { candidacy: existing, created: false };
    }
    const candidacy = new Candidacy(election, {
      http: this.options.http,
      ttlMs: this.options.ttlMs,
      aliveUntil: this.options.aliveUntil,
      clock: this.options.clock,
    });
    candidacy.onChange((state) => {
      const other = state.leader ? ` (leader ${state.leader}, term ${state.term})` : "";
      this.options.log.info(
        state.isLeader ? `leads ${election}, term ${state.term}` : `does not lead ${election}${other}`,
      );
      this.options.onLeadership?.(state);
    });
    this.candidacies.set(election, candidacy);
    return { candidacy, created: true };
  }

  get(election: string): Candidacy | undefined {
    return this.candidacies.get(election);
  }

  all(): Candidacy[] {
    return [...this.candidacies.values()];
  }

  /** How `node`'s candidacies are kept now (see ElectionsOptions.via). */
  via(node: RegisteredNodeView): CampaignChannel | "http" | null {
    return this.options.via(node, this.overChannel);
  }

  /** Campaigns (again) in every election as `node`. */
  renewAll(node: RegisteredNodeView): void {
    for (const candidacy of this.candidacies.values()) {
      void this.renew(candidacy, node);
    }
  }

  /** Campaigns (again) in one election as `node`, over the channel or HTTP as `via` says. */
  async renew(candidacy: Candidacy, node: RegisteredNodeView): Promise<void> {
    const via = this.via(node);
    if (via === null) {
      candidacy.notify(); // renewed once the channel is back; until then it may lapse
      return;
    }
    try {
      await candidacy.renew(node.id, via === "http" ? undefined : via);
    } catch (error) {
      if (via !== "http" && error instanceof MeridianError && error.reason === "not_supported") {
        this.options.log.warn("the shard does not run elections over the channel: campaigning over HTTP");
        this.overChannel = false;
        await this.renew(candidacy, node);
        return;
      }
      this.options.failed(node, error, `campaign in ${candidacy.election}`);
    }
  }

  /** The node's channel answered something sent at `sentAt`: its session-bound candidacies stand on. */
  confirmAll(sentAt: number, validForMs: number): void {
    for (const candidacy of this.candidacies.values()) {
      candidacy.confirmed(sentAt, validForMs);
    }
  }

  /** A leader frame pushed over the node's channel. */
  pushed(frame: LeaderFrame): void {
    this.candidacies.get(frame.election)?.pushed(frame);
  }

  /** The node is gone: no candidacy of it stands any more. */
  forgetAll(): void {
    for (const candidacy of this.candidacies.values()) {
      candidacy.forget();
    }
  }

  /** Re-evaluates each candidacy's freshness (a renewal that lapsed turns `isLeader` false). */
  notifyAll(): void {
    for (const candidacy of this.candidacies.values()) {
      candidacy.notify();
    }
  }

  /** Leaves every election (bounded; over the node's channel given `via`), so leadership moves on at once. */
  async resignAll(timeoutMs: number, via?: CampaignChannel): Promise<void> {
    await Promise.allSettled(
      this.all().map((c) => withTimeout(c.resign(via), timeoutMs, this.options.clock)),
    );
  }
}
