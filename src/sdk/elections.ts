import { Candidacy, type LeadershipState } from "./candidacy.ts";
import type { Clock } from "./clock.ts";
import type { HttpClient } from "./http.ts";
import type { AgentLogger } from "./logger.ts";
import { withTimeout } from "./retry.ts";

export interface ElectionsOptions {
  http: HttpClient;
  log: AgentLogger;
  /** The candidacies' ttl: the node's deadline, so a candidacy lapses no later than its node. */
  ttlMs: () => number;
  /** Local time until which Meridian cannot have declared the node dead. */
  aliveUntil: () => number;
  clock: Clock;
  onLeadership?: (state: LeadershipState) => void;
}

/** The elections an agent campaigns in, each renewed with the current node id on every heartbeat. */
export class Elections {
  private readonly options: ElectionsOptions;
  private readonly candidacies = new Map<string, Candidacy>();

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

  /** Leaves every election (bounded), so leadership moves on at once. */
  async resignAll(timeoutMs: number): Promise<void> {
    await Promise.allSettled(this.all().map((c) => withTimeout(c.resign(), timeoutMs, this.options.clock)));
  }
}
