import { type Breaker, breakerRoom, CLOSED } from "../../src/core/circuit-breaker";
import type { Holder } from "./scheduler";

/** A push endpoint of the region: where its tasks are POSTed, how many at once, and its breaker. */
export interface EndpointRecord {
  name: string;
  url: string;
  capacity: number;
  /** How long a delivery may take; null: the task's own timeoutMs. */
  timeoutMs: number | null;
  secret: string;
  breaker: Breaker;
  createdAt: number;
  updatedAt: number;
  /** Its tenant: it is delivered only that tenant's tasks. */
  tenant: string;
  /** The scheduler's view of it: its leases carry this id as their nodeId; its capacity is the breaker's room. */
  readonly holder: Holder;
}

type EndpointRow = {
  name: string;
  url: string;
  capacity: number;
  timeout_ms: number | null;
  secret: string;
  breaker: string;
  created_at: number;
  updated_at: number;
  tenant: string;
};

/** The `nodeId` of the tasks leased to an endpoint (never a minted node id: those start with `node-`). */
export function endpointHolderId(name: string): string {
  return `endpoint:${name}`;
}

/** One region's push endpoints: the SQLite rows, mirrored in memory (few, read on every dispatch). */
export class EndpointTable {
  readonly endpoints = new Map<string, EndpointRecord>();
  private readonly byHolder = new Map<string, EndpointRecord>();

  constructor(private readonly sql: SqlStorage) {
    for (const row of sql.exec<EndpointRow>("SELECT * FROM endpoints")) {
      this.remember({
        name: row.name,
        url: row.url,
        capacity: row.capacity,
        timeoutMs: row.timeout_ms,
        secret: row.secret,
        breaker: parseBreaker(row.breaker),
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        tenant: row.tenant,
        holder: { id: endpointHolderId(row.name), capacity: 0, inFlight: 0, tenant: row.tenant },
      });
    }
  }

  private remember(endpoint: EndpointRecord): void {
    endpoint.holder.capacity = breakerRoom(endpoint.breaker, endpoint.capacity);
    this.endpoints.set(endpoint.name, endpoint);
    this.byHolder.set(endpoint.holder.id, endpoint);
  }

  get(name: string): EndpointRecord | undefined {
    return this.endpoints.get(name);
  }

  byHolderId(id: string): EndpointRecord | undefined {
    return this.byHolder.get(id);
  }

  /**
   * Creates the endpoint, or replaces its URL, capacity and timeout (its secret and breaker stay).
   * `newSecret` is called only when it is created.
   */
  put(
    name: string,
    tenant: string,
    input: { url: string; capacity: number; timeoutMs: number | null },
    now: number,
    newSecret: () => string,
  ): { endpoint: EndpointRecord; created: boolean } {
    const existing = this.endpoints.get(name);
    if (existing) {
      existing.url = input.url;
      existing.capacity = input.capacity;
      existing.timeoutMs = input.timeoutMs;
      existing.updatedAt = now;
      existing.holder.capacity = breakerRoom(existing.breaker, existing.capacity);
      this.sql.exec(
        "UPDATE endpoints SET url = ?, capacity = ?, timeout_ms = ?, updated_at = ? WHERE name = ?",
        input.url,
        input.capacity,
        input.timeoutMs,
        now,
        name,
      );
      return { endpoint: existing, created: false };
    }
    const endpoint: EndpointRecord = {
      name,
      ...input,
      secret: newSecret(),
      breaker: CLOSED,
      createdAt: now,
      updatedAt: now,
      tenant,
      holder: { id: endpointHolderId(name), capacity: 0, inFlight: 0, tenant },
    };
    this.sql.exec(
      `INSERT INTO endpoints (name, url, capacity, timeout_ms, secret, breaker, created_at, updated_at, tenant)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      name,
      endpoint.url,
      endpoint.capacity,
      endpoint.timeoutMs,
      endpoint.secret,
      JSON.stringify(endpoint.breaker),
      now,
      now,
      tenant,
    );
    this.remember(endpoint);
    return { endpoint, created: true };
  }

  /** Records a new breaker state (its room becomes the holder's capacity). */
  setBreaker(endpoint: EndpointRecord, breaker: Breaker): void {
    if (JSON.stringify(breaker) === JSON.stringify(endpoint.breaker)) {
      return;
    }
    endpoint.breaker = breaker;
    endpoint.holder.capacity = breakerRoom(breaker, endpoint.capacity);
    this.sql.exec("UPDATE endpoints SET breaker = ? WHERE name = ?", JSON.stringify(breaker), endpoint.name);
  }

  remove(endpoint: EndpointRecord): void {
    this.sql.exec("DELETE FROM endpoints WHERE name = ?", endpoint.name);
    this.endpoints.delete(endpoint.name);
    this.byHolder.delete(endpoint.holder.id);
  }

  /** What the region's endpoints add to its health: capacity of those whose breaker is not open. */
  health(): { healthy: number; capacity: number } {
    let healthy = 0;
    let capacity = 0;
    for (const endpoint of this.endpoints.values()) {
      if (endpoint.holder.capacity > 0) {
        healthy++;
        capacity += endpoint.holder.capacity;
      }
    }
    return { healthy, capacity };
  }
}

function parseBreaker(text: string): Breaker {
  const value = JSON.parse(text) as Partial<Breaker>;
  return value.state === "open" || value.state === "half_open" || value.state === "closed"
    ? { state: value.state, failures: value.failures ?? 0, openedAt: value.openedAt ?? null }
    : CLOSED;
}
