import type { LeaderFrame } from "./channel-frames.ts";
import type { Clock } from "./clock.ts";
import { MeridianError } from "./errors.ts";
import type { HttpClient } from "./http.ts";
import type { CampaignAnswer, LeaderView } from "./types.ts";

/**
 * Campaigning over a node channel: the candidacy is bound to the node's session (no ttl). A repeated
 * campaign answers the standing as it is; the agent repeats it to prove contact (see `validForMs`).
 */
export interface CampaignChannel {
  campaign(election: string): Promise<LeaderFrame>;
  resign(election: string): Promise<void>;
  /**
   * How long an answer holds after its request was sent: the channel's grace period, since the shard
   * may see the channel close any time after it answered, and declare the node dead that much later.
   */
  readonly validForMs: number;
}

/** The last standing heard: a campaign's answer, or a leader frame. */
type Standing = Omit<CampaignAnswer, "position"> & { position: number | null };

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
  private answer: Standing | null = null;
  /** Local time until which the last answer holds (sent time + ttl, or + the grace period). */
  private validUntil = 0;
  /** The last answer came over the node's channel: the candidacy lasts as long as its session. */
  private sessionBound = false;
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

  /**
   * Joins or renews as `candidate`, over HTTP with a ttl or, given `via`, over the node's channel. A
   * new candidate name (the node registered again) starts over.
   */
  async renew(candidate: string, via?: CampaignChannel): Promise<void> {
    if (this.candidate !== candidate) {
      this.candidate = candidate;
      this.answer = null;
    }
    const sentAt = this.clock.now();
    if (via) {
      try {
        const frame = await via.campaign(this.election);
        if (this.candidate === candidate) {
          this.validUntil = sentAt + via.validForMs;
          this.answer = this.standingOf(frame);
          this.sessionBound = true;
        }
      } finally {
        this.notify();
      }
      return;
    }
    const ttlMs = this.options.ttlMs();
    try {
      const answer = await this.options.http.post<CampaignAnswer>(
        `/v1/elections/${encodeURIComponent(this.election)}/campaign`,
        { candidate, ttlMs },
      );
      if (this.candidate === candidate) {
        this.answer = answer;
        this.validUntil = sentAt + ttlMs;
        this.sessionBound = false;
      }
    } finally {
      this.notify();
    }
  }

  /**
   * The channel answered something sent at `sentAt` (a pong, a reply): its session was open then,
   * so a candidacy bound to it stands until the grace period after that could have run out
   * (`validForMs`). No campaign round trip to the coordinator is needed to keep believing it.
   */
  confirmed(sentAt: number, validForMs: number): void {
    if (this.sessionBound && this.answer !== null) {
      this.validUntil = Math.max(this.validUntil, sentAt + validForMs);
      this.notify();
    }
  }

  /** A leader frame the shard pushed: the election changed. It does not extend the answer's validity. */
  pushed(frame: LeaderFrame): void {
    if (this.candidate !== null && this.answer !== null) {
      this.answer = this.standingOf(frame);
      this.notify();
    }
  }

  /** Leaves the election (over the node's channel given `via`); the next-oldest candidate leads at once. */
  async resign(via?: CampaignChannel): Promise<void> {
    const candidate = this.candidate;
    this.answer = null;
    this.notify();
    if (candidate === null) {
      return;
    }
    if (via) {
      await via.resign(this.election);
      return;
    }
    await this.options.http.post(`/v1/elections/${encodeURIComponent(this.election)}/resign`, {
      candidate,
    });
  }

  /**
   * A leader frame as a standing. The channel has no ttl: the leader's `since` is when this node
   * first saw that term, its `expiresAt` when this answer stops holding unless renewed.
   */
  private standingOf(frame: LeaderFrame): Standing {
    const previous = this.answer?.leader;
    const same = previous?.candidate === frame.leader && previous?.term === frame.term;
    return {
      isLeader: frame.isLeader,
      position: frame.position,
      leader:
        frame.leader === null
          ? null
          : {
              candidate: frame.leader,
              term: frame.term,
              since: same && previous ? previous.since : this.clock.now(),
              expiresAt: this.validUntil,
            },
    };
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
