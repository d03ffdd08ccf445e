import type { Clock } from "./clock.ts";
import { MeridianError } from "./errors.ts";
import type { HttpClient } from "./http.ts";
import type { CampaignAnswer, LeaderView } from "./types.ts";

/** Leadership as one candidate sees it. */
export interface LeadershipState {
  election: string;
  /** True while this candidate leads, as of its last renewal and no longer than that renewal stays valid. */
  isLeader: boolean;
  /** The current fencing term (the leader's term); null before the first answer or with no leader. */
  term: number | null;
  /** The current leader's candidate name (a node id for agents). */
  leader: string | null;
  /** This candidate's place in line: 0 leads, 1 is next, ...; null when unknown. */
  position: number | null;
}

export interface CandidacyOptions {
  http: HttpClient;
  /** ttl of the registration; renewals must come sooner. */
  ttlMs: () => number;
  /** Local time until which the coordinator cannot yet have declared this node dead. */
  aliveUntil: () => number;
  clock: Clock;
}

/**
 * One agent's candidacy in one election (`POST /v1/elections/{name}/campaign`, candidate = the
 * node id, so the coordinator drops it when the node dies). The agent renews it on every
 * heartbeat; `isLeader` turns false on its own once the last renewal could have lapsed, so a
 * leader that lost touch stops believing it leads before anyone else can be elected.
 */
export class Candidacy {
  readonly election: string;
  private readonly options: CandidacyOptions;
  private readonly clock: Clock;
  private readonly listeners = new Set<(state: LeadershipState) => void>();
  private candidate: string | null = null;
  private answer: CampaignAnswer | null = null;
  /** Local time until which the last answer holds (sent time + ttl). */
  private validUntil = 0;
  private last: LeadershipState;

  constructor(election: string, options: CandidacyOptions) {
    this.election = election;
    this.options = options;
    this.clock = options.clock;
    this.last = this.state;
  }

  /** Leadership now. */
  get state(): LeadershipState {
    const fresh =
      this.answer !== null && this.clock.now() < Math.min(this.validUntil, this.options.aliveUntil());
    const leader = fresh ? (this.answer?.leader ?? null) : null;
    return {
      election: this.election,
      isLeader: fresh && this.answer?.isLeader === true,
      term: leader?.term ?? null,
      leader: leader?.candidate ?? null,
      position: fresh ? (this.answer?.position ?? null) : null,
    };
  }

  get isLeader(): boolean {
    return this.state.isLeader;
  }

  /** The fencing term while this candidate leads, else null. */
  get term(): number | null {
    const state = this.state;
    return state.isLeader ? state.term : null;
  }

  /** The leader as last seen (any candidate). */
  get leader(): LeaderView | null {
    return this.answer?.leader ?? null;
  }

  /** Calls `listener` whenever isLeader or the term changes; returns an unsubscribe function. */
  onChange(listener: (state: LeadershipState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Joins or renews as `candidate`. A new candidate name (the node registered again) starts over. */
  async renew(candidate: string): Promise<void> {
    if (this.candidate !== candidate) {
      this.candidate = candidate;
      this.answer = null;
    }
    const ttlMs = this.options.ttlMs();
    const sentAt = this.clock.now();
    try {
      const answer = await this.options.http.post<CampaignAnswer>(
        `/v1/elections/${encodeURIComponent(this.election)}/campaign`,
        { candidate, ttlMs },
      );
      if (this.candidate === candidate) {
        this.answer = answer;
        this.validUntil = sentAt + ttlMs;
      }
    } finally {
      this.notify();
    }
  }

  /** Leaves the election; the next-oldest candidate leads at once. */
  async resign(): Promise<void> {
    const candidate = this.candidate;
    this.answer = null;
    this.notify();
    if (candidate !== null) {
      await this.options.http.post(`/v1/elections/${encodeURIComponent(this.election)}/resign`, {
        candidate,
      });
    }
  }

  /**
   * Asks the coordinator whether this candidate's term is still current (`fence`); false when it
   * is not, or when this candidate does not lead.
   */
  async fence(): Promise<boolean> {
    const term = this.term;
    if (term === null) {
      return false;
    }
    try {
      await this.options.http.post(`/v1/elections/${encodeURIComponent(this.election)}/fence`, { term });
      return true;
    } catch (error) {
      if (error instanceof MeridianError && error.status === 409) {
        return false;
      }
      throw error;
    }
  }

  /** The node behind the candidacy is gone: forget the last answer. */
  forget(): void {
    this.answer = null;
    this.notify();
  }

  /** Fires listeners if leadership changed since the last call (the agent calls it on every tick). */
  notify(): void {
    const state = this.state;
    if (state.isLeader !== this.last.isLeader || state.term !== this.last.term) {
      this.last = state;
      for (const listener of this.listeners) {
        listener(state);
      }
    } else {
      this.last = state;
    }
  }
}
