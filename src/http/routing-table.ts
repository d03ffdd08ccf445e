import type { Coordinator } from "../../durable-objects/coordinator";
import type { SubmitCommand } from "../../durable-objects/coordinator/scheduler";
import { canonicalJson } from "../core/canonical-json";
import { type LatLon, RegionIndex } from "../core/geo-routing";
import { sha256Hex } from "../core/sha256-hex";
import type { SubmitTaskInput } from "../schemas/tasks";

/** How long an isolate trusts its copy of the routing table; the coordinator corrects a stale choice. */
export const ROUTING_TABLE_TTL_MS = 1000;

interface CachedTable {
  fetchedAt: number;
  index: Promise<RegionIndex>;
}

const tables = new Map<string, CachedTable>();

/** This isolate's routing table for a coordinator, fetched at most about once a second. */
async function routingIndex(name: string, stub: DurableObjectStub<Coordinator>): Promise<RegionIndex> {
  const now = Date.now();
  const cached = tables.get(name);
  if (cached && now - cached.fetchedAt < ROUTING_TABLE_TTL_MS) {
    return cached.index;
  }
  // One fetch shared by every request that misses at once (a batch's items, concurrent submits).
  const index = stub.routingTable().then((table) => new RegionIndex(table));
  tables.set(name, { fetchedAt: now, index });
  index.catch(() => tables.delete(name));
  return index;
}

/** The request's own origin from Cloudflare's geolocation, if it has one. */
export function originOf(request: Request): LatLon | null {
  const cf = (request as { cf?: { latitude?: unknown; longitude?: unknown } }).cf;
  const lat = Number(cf?.latitude);
  const lon = Number(cf?.longitude);
  if (cf?.latitude === undefined || !Number.isFinite(lat) || !Number.isFinite(lon)) {
    return null;
  }
  return { lat, lon };
}

/** Turns a validated task body into what the coordinator stores, routed at the edge. */
export async function toSubmitCommand(
  body: SubmitTaskInput,
  /** The request's own origin, read only when the body gives none (reading `request.cf` has a cost). */
  origin: () => LatLon | null,
  coordinatorName: string,
  stub: DurableObjectStub<Coordinator>,
): Promise<SubmitCommand> {
  const from = body.location ?? origin();
  const decision = body.region === undefined ? (await routingIndex(coordinatorName, stub)).pick(from) : null;
  const { idempotencyKey, ...rest } = body;
  return {
    type: body.type,
    payload: body.payload ?? null,
    priority: body.priority,
    runAt: body.runAt ?? null,
    delayMs: body.delayMs ?? null,
    maxAttempts: body.maxAttempts,
    timeoutMs: body.timeoutMs,
    idempotencyKey: idempotencyKey ?? null,
    requestHash: idempotencyKey === undefined ? null : await sha256Hex(canonicalJson(rest)),
    affinityKey: body.affinityKey ?? null,
    region: body.region ?? null,
    from,
    decision,
  };
}
