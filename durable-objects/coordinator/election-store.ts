import type { CandidacyHold } from "../../src/core/admission";
import {
  applyElection,
  type ElectionEvent,
  type ElectionState,
  emptyElection,
  type Leadership,
  SESSION_TTL_MS,
} from "../../src/core/election";
import { type ObjectPage, type SizedItem, takeWithinBudget, utf8Length } from "../../src/core/list-pages";
import { tenantKeyRange } from "../../src/core/tenant-names";

type CandidateRow = { candidate: string; node_id: string | null; joined_at: number; expires_at: number };

export interface StoredElection {
  state: ElectionState;
  stored: boolean;
  /** Since when the election has had no candidate (null while it has some, or before its row exists). */
  idleSince: number | null;
}

/** An election as lists show it. */
export interface ElectionSummary {
  name: string;
  term: number;
  leader: Leadership | null;
}

export interface ElectionListItem extends SizedItem {
  election: ElectionSummary;
}

/** What one prune pass deleted. */
export interface ElectionPrunePass {
  deleted: number;
  /** The earliest idle_since left (null: no idle election left). */
  oldestLeft: number | null;
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
  /**
   * The highest term any pruned election reached: a name that comes back starts above it, so a
   * term is never reused (terms are max(previous + 1, now), and a clock may step back or a burst
   * of changes run ahead of it: the clock alone does not guarantee it).
   */
  private termFloor: number;

  constructor(private readonly sql: SqlStorage) {
    this.termFloor = sql.exec<{ t: number }>("SELECT max_term AS t FROM pruned_elections").one().t;
  }

  load(name: string): ElectionState {
    return this.loadStored(name).state;
  }

  /** The election's state, and whether its row exists yet (a first campaign creates it). */
  loadStored(name: string): StoredElection {
    const row = this.sql
      .exec<{ term: number; leader: string | null; since: number | null; idle_since: number | null }>(
        "SELECT term, leader, since, idle_since FROM elections WHERE name = ?",
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
      state: row
        ? { term: row.term, leader: row.leader, since: row.since, candidates }
        : { ...emptyElection, term: this.termFloor, candidates },
      stored: row !== undefined,
      idleSince: row?.idle_since ?? null,
    };
  }

  /**
   * Applies `event` at `now` and persists the new state. `loaded` is the state the caller has just
   * read (read here otherwise); `binding` is a campaigning candidate's node (null: none) and owner.
   */
  apply(
    name: string,
    event: ElectionEvent,
    now: number,
    loaded: StoredElection = this.loadStored(name),
    binding: { nodeId: string | null; owner: string | null } = { nodeId: null, owner: null },
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
          `INSERT INTO candidates (election, candidate, node_id, joined_at, expires_at, owner) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(election, candidate) DO UPDATE SET joined_at = excluded.joined_at, expires_at = excluded.expires_at,
             node_id = excluded.node_id, owner = excluded.owner`,
          name,
          mine.candidate,
          binding.nodeId,
          mine.joinedAt,
          mine.expiresAt,
          binding.owner,
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
    // Retention counts from when the last candidate left (the alarm deletes it after ELECTION_RETENTION_MS).
    const idle = state.candidates.length === 0;
    if (idle !== (loaded.idleSince !== null)) {
      this.sql.exec("UPDATE elections SET idle_since = ? WHERE name = ?", idle ? now : null, name);
    }
    return { name, state, leaderChanged };
  }

  /**
   * Deletes elections idle since `cutoff` or before, oldest first, `sliceRows` at most (one
   * statement); their terms raise the floor and their leader changes stay counted.
   */
  prune(cutoff: number, sliceRows: number): ElectionPrunePass {
    const gone = this.sql
      .exec<{ term: number; leader_changes: number }>(
        `DELETE FROM elections WHERE name IN (
           SELECT name FROM elections INDEXED BY elections_idle WHERE idle_since <= ? ORDER BY idle_since LIMIT ?)
           AND NOT EXISTS (SELECT 1 FROM candidates WHERE candidates.election = elections.name)
         RETURNING term, leader_changes`,
        cutoff,
        sliceRows,
      )
      .toArray();
    if (gone.length > 0) {
      const maxTerm = gone.reduce((max, e) => Math.max(max, e.term), this.termFloor);
      const changes = gone.reduce((sum, e) => sum + e.leader_changes, 0);
      this.sql.exec(
        "UPDATE pruned_elections SET max_term = ?, leader_changes = leader_changes + ?, count = count + ?",
        maxTerm,
        changes,
        gone.length,
      );
      this.termFloor = maxTerm;
    }
    return { deleted: gone.length, oldestLeft: this.oldestIdle() };
  }

  /** When the longest-idle election became idle (null: none is). */
  oldestIdle(): number | null {
    return this.sql
      .exec<{ t: number | null }>(
        "SELECT min(idle_since) AS t FROM elections INDEXED BY elections_idle WHERE idle_since IS NOT NULL",
      )
      .one().t;
  }

  /** Elections stored now. */
  /** How many elections `tenant` holds (null: every tenant). */
  count(tenant: string | null = null): number {
    const only = tenantKeyRange("name", tenant);
    return this.sql
      .exec<{ n: number }>(`SELECT count(*) AS n FROM elections WHERE ${only.clause}`, ...only.args)
      .one().n;
  }

  /**
   * Elections by name after `after`, within `limit` and `maxBytes`, with their leaderships: one
   * query (the leader's candidacy joined), however many elections there are.
   */
  page(query: {
    after?: string;
    limit: number;
    maxBytes: number;
    /** Only this tenant's elections (null: every tenant's); `after` is a stored key. */
    tenant: string | null;
  }): ObjectPage<ElectionListItem> {
    const only = tenantKeyRange("e.name", query.tenant);
    const rows = this.sql
      .exec<{
        name: string;
        term: number;
        leader: string | null;
        since: number | null;
        expires_at: number | null;
      }>(
        `SELECT e.name, e.term, e.leader, e.since, c.expires_at FROM elections e
         LEFT JOIN candidates c ON c.election = e.name AND c.candidate = e.leader
         WHERE e.name > ? AND ${only.clause} ORDER BY e.name LIMIT ?`,
        query.after ?? "",
        ...only.args,
        query.limit + 1,
      )
      .toArray();
    const items = rows.map((row): ElectionListItem => {
      const election: ElectionSummary = {
        name: row.name,
        term: row.term,
        leader:
          row.leader === null || row.since === null || row.expires_at === null
            ? null
            : { candidate: row.leader, term: row.term, since: row.since, expiresAt: row.expires_at },
      };
      return { key: row.name, election, bytes: utf8Length(JSON.stringify(election)) + 1 };
    });
    return takeWithinBudget(items, query.limit, query.maxBytes);
  }

  /** Elections with a candidate whose ttl has run out. */
  withExpiredCandidates(now: number): string[] {
    return this.sql
      .exec<{ election: string }>("SELECT DISTINCT election FROM candidates WHERE expires_at <= ?", now)
      .toArray()
      .map((r) => r.election);
  }

  /** The stored candidacy of `candidate` in election `name` (live or not; null: none), for its owner. */
  hold(name: string, candidate: string): CandidacyHold | null {
    const row = this.sql
      .exec<{ owner: string | null; expires_at: number }>(
        "SELECT owner, expires_at FROM candidates WHERE election = ? AND candidate = ?",
        name,
        candidate,
      )
      .toArray()[0];
    return row === undefined ? null : { owner: row.owner, expiresAt: row.expires_at };
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
    return this.sql
      .exec<{ n: number }>(
        "SELECT coalesce(sum(leader_changes), 0) + (SELECT leader_changes FROM pruned_elections) AS n FROM elections",
      )
      .one().n;
  }
}
