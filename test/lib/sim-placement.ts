/**
 * What the edge must do with a submit (API-v2 §1–§2), written from the contract for the model: it
 * routes by its copy of the coordinator's load table (fetched at most once a second, and again when
 * a task finds no region in it), offers each task to a shard, which refuses when it has no healthy
 * node, or is full and the task was sent for its room; then the next region is tried. Idempotency
 * keys are claimed first: a key names one task wherever it went.
 */
import type { Model, TableRow } from "./sim-model";
import { distanceKm } from "./sim-model";

/** The edge's table is trusted this long (src/http/routing-table.ts). */
const TABLE_TTL_MS = 1000;
/** At most this many shards are offered one task. */
const MAX_TRIES = 8;

/** A task body as the simulation submits it, and its identity for idempotency. */
export interface SimBody {
  key: string | null;
  /** The body without its key, canonical: equal bodies are the same request. */
  hash: string;
  pin: string | null;
  from: { lat: number; lon: number };
  delayMs: number;
}

/** What the edge must answer for one item. */
export type Expected =
  | { kind: "stored"; region: string }
  | { kind: "repeat"; taskId: string }
  /** A repeat of an earlier item of the same call (same key and body): its task, not created. */
  | { kind: "sameAs"; index: number }
  | { kind: "error"; code: string; reason?: string };

type Refusal = "unhealthy" | "full";

interface Offer {
  region: string;
  requireRoom: boolean;
}

interface Item {
  body: SimBody;
  offer: Offer | null;
  refused: Map<string, Refusal>;
  done: Expected | null;
  leader: Item | null;
}

const noRegion: Expected = { kind: "error", code: "no_healthy_region" };
const mismatch: Expected = { kind: "error", code: "conflict", reason: "idempotency_mismatch" };
const hasRoom = (r: TableRow) => r.inFlight + r.queued < r.capacity;

/** Healthy regions nearest first, ties by id. */
function byDistance(from: { lat: number; lon: number }, rows: TableRow[]): TableRow[] {
  return [...rows].sort((a, b) => distanceKm(from, a) - distanceKm(from, b) || (a.id < b.id ? -1 : 1));
}

/** The region to offer to next: nearest healthy with room, else the nearest with room, else the nearest healthy. */
function nextOffer(item: Item, table: TableRow[]): Offer | null {
  const healthy = byDistance(
    item.body.from,
    table.filter((r) => r.healthy && item.refused.get(r.id) !== "unhealthy"),
  );
  const first = healthy[0];
  if (first === undefined) {
    return null;
  }
  const roomy = healthy.find((r) => !item.refused.has(r.id) && hasRoom(r));
  return roomy ? { region: roomy.id, requireRoom: true } : { region: first.id, requireRoom: false };
}

function firstOffers(items: Item[], table: TableRow[], m: Model): void {
  for (const item of items) {
    item.done = null;
    item.offer = null;
    const pin = item.body.pin;
    if (pin === null) {
      item.offer = nextOffer(item, table);
      continue;
    }
    const row = table.find((r) => r.id === pin);
    if (!row || !m.regions.has(pin)) {
      item.done = { kind: "error", code: "not_found" };
    } else if (row.healthy) {
      item.offer = { region: pin, requireRoom: false };
    }
  }
}

/** The edge's copy of the table: fetched when older than a second, or `fresh`. */
function edgeTable(m: Model, fresh: boolean): TableRow[] {
  if (fresh || m.edgeTable === null || m.now - m.edgeTable.fetchedAt >= TABLE_TTL_MS) {
    m.edgeTable = { fetchedAt: m.now, table: m.table() };
  }
  return m.edgeTable.table;
}

/**
 * The expected outcome of each body of one submit, and the order the shards store tasks in
 * (region by region, round by round). Keys are not recorded here: the driver records them once the
 * reply names the tasks.
 */
export function expectPlacement(m: Model, bodies: SimBody[]): { expected: Expected[]; stored: number[] } {
  const items: Item[] = bodies.map((body) => ({
    body,
    offer: null,
    refused: new Map(),
    done: null,
    leader: null,
  }));
  const leaders = new Map<string, Item>();
  for (const item of items) {
    const key = item.body.key;
    if (key !== null) {
      item.leader = leaders.get(key) ?? null;
      if (!item.leader) {
        leaders.set(key, item);
      }
    }
  }
  const placing = items.filter((item) => item.leader === null);
  let table = edgeTable(m, false);
  firstOffers(placing, table, m);
  if (placing.some((item) => item.offer === null)) {
    table = edgeTable(m, true);
    firstOffers(placing, table, m);
  }
  for (const item of placing) {
    if (item.done === null && item.offer === null) {
      item.done = noRegion;
    }
  }
  // Keys: a key claimed within the retention answers its task (or 409 for another body), whatever
  // routing said; an older one is forgotten, and its repeat is a new submit.
  for (const item of placing) {
    const key = item.body.key;
    const known = key === null ? undefined : m.honouredKey(key);
    if (known && (item.done === null || item.done === noRegion)) {
      item.done = known.hash === item.body.hash ? { kind: "repeat", taskId: known.taskId } : mismatch;
    }
  }
  // Offers, round by round; each shard judges with its live load, tasks taken earlier counting.
  const load = new Map([...m.regions.keys()].map((r) => [r, m.regionReport(r)]));
  const stored: number[] = [];
  for (let round = 0; round < MAX_TRIES; round++) {
    const byRegion = new Map<string, Item[]>();
    for (const item of placing) {
      if (item.done === null && item.offer !== null) {
        byRegion.set(item.offer.region, [...(byRegion.get(item.offer.region) ?? []), item]);
      }
    }
    if (byRegion.size === 0) {
      break;
    }
    for (const [region, group] of byRegion) {
      const truth = load.get(region)!;
      for (const item of group) {
        const refusal: Refusal | null = !truth.healthy
          ? "unhealthy"
          : item.offer!.requireRoom && truth.inFlight + truth.queued >= truth.capacity
            ? "full"
            : null;
        if (refusal === null) {
          item.done = { kind: "stored", region };
          stored.push(items.indexOf(item));
          if (item.body.delayMs === 0) {
            truth.queued++;
          }
          continue;
        }
        item.refused.set(region, refusal);
        item.offer = item.body.pin !== null || item.refused.size >= MAX_TRIES ? null : nextOffer(item, table);
        if (item.offer === null) {
          item.done = noRegion;
        }
      }
    }
  }
  const expected = items.map((item): Expected => {
    if (item.leader === null) {
      return item.done ?? noRegion;
    }
    if (item.body.hash !== item.leader.body.hash) {
      return mismatch;
    }
    const first = item.leader.done ?? noRegion;
    return first.kind === "error" ? first : { kind: "sameAs", index: items.indexOf(item.leader) };
  });
  return { expected, stored };
}
