import {
  applyElection,
  type ElectionEvent,
  type ElectionState,
  emptyElection,
  type Leadership,
  leadership,
  SESSION_TTL_MS,
} from "../../src/core/election";

type CandidateRow = { candidate: string; node_id: string | null; joined_at: number; expires_at: number };

export interface StoredElection {
  state: ElectionState;
  stored: boolean;
}

/** The outcome of an event applied to one election. */
export interface ElectionChange {
  name: string;
  state: ElectionState;
  leaderChanged: boolean;
}

/**
 * Elections in SQLite: the core decides (`applyElection`), this loads the state and writes back what
 * changed. The term lives in its own row and is never deleted, so it is never reused.
 */
export class ElectionStore {
  constructor(private readonly sql: SqlStorage) {}

  load(name: string): ElectionState {
    return this.loadStored(name).state;
  }

  /** The election's state, and whether its row exists yet (a first campaign creates it). */
  loadStored(name: string): StoredElection {
    const row = this.sql
      .exec<{ term: number; leader: string | null; since: number | null }>(
        "SELECT term, leader, since FROM elections WHERE name = ?",
        name,
      )
      .toArray()[0];
    const candidates = this.sql
      .exec<CandidateRow>(
        "SELECT candidate, node_id, joined_at, expires_at FROM candidates WHERE election = ? ORDER BY joined_at, candidate",
        name,
      )
      .toArray()
      .map((c) => ({ candidate: c.candidate, joinedAt: c.joined_at, expiresAt: c.expires_at }));
    return {
      state: row ? { ...row, candidates } : { ...emptyElection, candidates },
      stored: row !== undefined,
    };
  }

  /**
   * Applies `event` at `now` and persists the new state. `nodeId` binds a campaigning candidate to a
   * node; `loaded` is the state the caller has just read (read here otherwise).
   */
  apply(
    name: string,
    event: ElectionEvent,
    now: number,
    nodeId: string | null = null,
    loaded: StoredElection = this.loadStored(name),
  ): ElectionChange {
    const before = loaded.state;
    const { state } = applyElection(before, event, now);
    const leaderChanged = state.leader !== before.leader || state.term !== before.term;
    const kept = new Set(state.candidates.map((c) => c.candidate));
    for (const c of before.candidates) {
      if (!kept.has(c.candidate)) {
        this.sql.exec("DELETE FROM candidates WHERE election = ? AND candidate = ?", name, c.candidate);
      }
    }
    if (event.kind === "campaign") {
      const mine = state.candidates.find((c) => c.candidate === event.candidate);
      if (mine) {
        this.sql.exec(
          `INSERT INTO candidates (election, candidate, node_id, joined_at, expires_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(election, candidate) DO UPDATE SET joined_at = excluded.joined_at, expires_at = excluded.expires_at, node_id = excluded.node_id`,
          name,
          mine.candidate,
          nodeId,
          mine.joinedAt,
          mine.expiresAt,
        );
      }
    }
    if (state.term !== before.term || state.leader !== before.leader || !loaded.stored) {
      // A new term is a new leadership: counted in the same statement that writes it.
      this.sql.exec(
        `INSERT INTO elections (name, term, leader, since, leader_changes) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET term = excluded.term, leader = excluded.leader, since = excluded.since,
           leader_changes = leader_changes + excluded.leader_changes`,
        name,
        state.term,
        state.leader,
        state.since,
        state.term !== before.term ? 1 : 0,
      );
    }
    return { name, state, leaderChanged };
  }

  /** Elections with a candidate whose ttl has run out. */
  withExpiredCandidates(now: number): string[] {
    return this.sql
      .exec<{ election: string }>("SELECT DISTINCT election FROM candidates WHERE expires_at <= ?", now)
      .toArray()
      .map((r) => r.election);
  }

  /** Candidacies of a node, as (election, candidate). */
  candidaciesOf(nodeId: string): { election: string; candidate: string }[] {
    return this.sql
      .exec<{ election: string; candidate: string }>(
        "SELECT election, candidate FROM candidates WHERE node_id = ?",
        nodeId,
      )
      .toArray();
  }

  /** The earliest candidacy expiry to wake up for (a channel session's is none: see `lapsesByTime`). */
  nextExpiry(now: number): number | null {
    return this.sql
      .exec<{ t: number | null }>(
        "SELECT min(expires_at) AS t FROM candidates WHERE expires_at < ?",
        now + SESSION_TTL_MS / 2,
      )
      .one().t;
  }

  /** Records a shard to push this election's changes to. */
  watch(name: string, deployment: string, region: string): void {
    this.sql.exec(
      "INSERT INTO election_watchers (election, deployment, region) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      name,
      deployment,
      region,
    );
  }

  watchers(name: string): { deployment: string; region: string }[] {
    return this.sql
      .exec<{ deployment: string; region: string }>(
        "SELECT deployment, region FROM election_watchers WHERE election = ?",
        name,
      )
      .toArray();
  }

  /**
   * Leaderships begun in every election (one per new term) since the count began (schema v6): the
   * total only, since election names are chosen by callers and unbounded (see docs/OPERATIONS.md).
   */
  leaderChanges(): number {
    return this.sql.exec<{ n: number }>("SELECT coalesce(sum(leader_changes), 0) AS n FROM elections").one()
      .n;
  }

  /** Every election with its current leadership. */
  all(): { name: string; term: number; leader: Leadership | null }[] {
    return this.sql
      .exec<{ name: string }>("SELECT name FROM elections ORDER BY name")
      .toArray()
      .map(({ name }) => {
        const state = this.load(name);
        return { name, term: state.term, leader: leadership(state) };
      });
  }
}
