import type { SubmitResult } from "../../durable-objects/region-shard";
import type { TaskView } from "../../durable-objects/region-shard/views";
import { canonicalJson } from "../core/canonical-json";
import { ApiError, type ErrorBody, type ErrorReason, type Result } from "../core/errors";
import type { LatLon, RegionLoad } from "../core/geo-routing";
import { regionOfTaskId } from "../core/ids";
import type { Principal } from "../core/permissions";
import {
  type AllowList,
  explainPinned,
  explainPlacement,
  MAX_PLACEMENT_TRIES,
  nextOffer,
  type PlacementOffer,
  type Refusal,
} from "../core/placement";
import { sha256Hex } from "../core/sha256-hex";
import type { SubmitCommand } from "../core/task-commands";
import { allowListOf, idempotencyFingerprint, noRegionMessage } from "../core/task-constraints";
import { mintTaskId } from "../ids";
import type { SubmitTaskInput } from "../schemas/tasks";
import type { Edge } from "./edge";

/**
 * A task body to place: what POST /v1/tasks validated, or a schedule's run (which names its schedule;
 * a user cannot set `scheduleId`, the route's schema refuses it).
 */
export type PlaceBody = SubmitTaskInput & { scheduleId?: string };

/** One submitted task's outcome: the task (`created` false for an idempotent repeat) or an error. */
export type Placed = { task: TaskView; created: boolean } | { error: ErrorBody };

interface Item {
  body: PlaceBody;
  from: LatLon | null;
  pinned: RegionLoad | null;
  /** The body's allow-list (`regions`, `fallback`), or null. */
  allow: AllowList | null;
  requestHash: string | null;
  refused: Map<string, Refusal>;
  offer: PlacementOffer | null;
  id: string | null;
  /** The key's record names this item's id (claimed new or taken over): released if nothing is stored. */
  claimed: boolean;
  /** An earlier item of the same call with the same key: this one is its repeat. */
  leader: Item | null;
  done: Placed | null;
}

const noRegion = (message: string): Placed => ({
  error: ApiError.of("no_healthy_region", message).body,
});

/**
 * Stores tasks where they belong, from the edge: each is offered to the region the cached table
 * picks; a shard that refuses it (no healthy node, or full) makes the edge offer it to the next
 * region, at most MAX_PLACEMENT_TRIES times. Each round sends one call per region with every task
 * offered to it. Idempotency keys are claimed first, in the token's own object: a key names one task
 * wherever it went. Nothing here waits on the coordinator except a routing-table refresh (at most
 * once a second, or when a pinned region or a healthy one is not in the copy).
 */
export async function placeTasks(
  edge: Edge,
  principal: Principal,
  bodies: PlaceBody[],
  origin: () => LatLon | null,
): Promise<Placed[]> {
  const items: Item[] = await Promise.all(
    bodies.map(async (body) => {
      return {
        body,
        from: body.location ?? origin(),
        pinned: null,
        allow: allowListOf(body),
        requestHash:
          body.idempotencyKey === undefined
            ? null
            : await sha256Hex(canonicalJson(idempotencyFingerprint(body))),
        refused: new Map<string, Refusal>(),
        offer: null,
        id: null,
        claimed: false,
        leader: null,
        done: null,
      };
    }),
  );
  // A key repeated within one call: the first item is placed, the others answer as its repeats.
  const byKey = new Map<string, Item>();
  for (const item of items) {
    const key = item.body.idempotencyKey;
    if (key !== undefined) {
      item.leader = byKey.get(key) ?? null;
      byKey.set(key, item.leader ?? item);
    }
  }
  const placing = items.filter((item) => item.leader === null);
  await placeItems(edge, principal, placing);
  return items.map((item) => {
    if (item.leader === null) {
      return item.done!;
    }
    const first = item.leader.done!;
    if (item.requestHash !== item.leader.requestHash) {
      return conflict(
        `idempotency key ${item.body.idempotencyKey} was used with a different body`,
        "idempotency_mismatch",
      );
    }
    return "task" in first ? { task: first.task, created: false } : first;
  });
}

/** Places items whose keys (if any) are distinct; sets each item's `done`. */
async function placeItems(edge: Edge, principal: Principal, items: Item[]): Promise<void> {
  let table = await edge.table.get();
  firstOffers(items, table.regions);
  // A region become healthy since this isolate's copy was made: look once more (fetches under way
  // are shared). A region the copy does not know at all: at most every FRESH_LOOKUP_MS, so tasks
  // for a made-up region do not flood the coordinator.
  const unplaced = items.filter((item) => item.offer === null);
  const again = unplaced.some((item) => item.done === null)
    ? edge.table.fresh()
    : unplaced.length > 0
      ? edge.table.lookUpAgain()
      : null;
  if (again !== null) {
    table = await again;
    firstOffers(items, table.regions);
  }
  for (const item of items) {
    if (item.done === null && item.offer === null) {
      item.done = noRegion(
        item.pinned
          ? `region ${item.pinned.id} has no healthy node`
          : noRegionMessage(item.allow, "no region has a healthy node; nothing was stored"),
      );
    }
  }
  await claimKeys(edge, principal, items, table.regions);

  for (let round = 0; round < MAX_PLACEMENT_TRIES; round++) {
    const byRegion = new Map<string, Item[]>();
    for (const item of items) {
      if (item.done === null && item.offer !== null) {
        const list = byRegion.get(item.offer.region) ?? [];
        list.push(item);
        byRegion.set(item.offer.region, list);
      }
    }
    if (byRegion.size === 0) {
      break;
    }
    const moves: { key: string; from: string; to: string }[] = [];
    await Promise.all(
      [...byRegion].map(async ([region, group]) => {
        const at = table.regions.find((r) => r.id === region);
        // A task's payload is `unknown`, which RPC's types cannot express: the result is typed here.
        const reply = (await edge.shard(region, at).submit(
          principal,
          group.map((item) => command(item, table.regions)),
        )) as Result<{ results: SubmitResult[] }>;
        group.forEach((item, i) => {
          const result: SubmitResult | undefined = reply.ok ? reply.value.results[i] : { error: reply.error };
          if (result === undefined || "error" in result) {
            item.done = { error: result?.error ?? ApiError.of("internal", "no answer from the shard").body };
          } else if ("task" in result) {
            item.done = { task: result.task, created: result.created !== false };
          } else {
            reoffer(item, region, result.refused, table.regions, edge.clock(), moves);
          }
        });
      }),
    );
    if (moves.length > 0) {
      await edge.keys(principal.tokenId).rebind(moves, edge.clock());
    }
  }

  for (const item of items) {
    item.done ??= noRegion(noRegionMessage(item.allow, "no region could take the task; nothing was stored"));
  }
  const released = items.filter((item) => item.claimed && isNoRegion(item.done!));
  if (released.length > 0) {
    await edge
      .keys(principal.tokenId)
      .release(released.map((item) => ({ key: item.body.idempotencyKey!, taskId: item.id! })));
  }
}

/** Each item's first offer from the table (a pinned region must be in it, else 404). */
function firstOffers(items: Item[], regions: readonly RegionLoad[]): void {
  for (const item of items) {
    item.done = null;
    const pin = item.body.region;
    if (pin !== undefined) {
      item.pinned = regions.find((r) => r.id === pin) ?? null;
      if (item.pinned === null) {
        item.done = { error: ApiError.of("not_found", `no region ${pin}`).body };
        continue;
      }
      item.offer = item.pinned.healthy
        ? {
            region: pin,
            reason: "pinned",
            distanceKm: explainPinned(item.from, item.pinned)[0]!.distanceKm,
            requireRoom: false,
          }
        : null;
    } else {
      const unknown = item.allow?.regions.find((id) => !regions.some((r) => r.id === id));
      if (unknown !== undefined) {
        item.offer = null;
        item.done = { error: ApiError.of("not_found", `no region ${unknown}`).body };
        continue;
      }
      item.offer = nextOffer(item.from, regions, item.refused, item.allow);
    }
  }
}

/** What the shard stores: the body, the id naming the shard, and the placement explained. */
function command(item: Item, regions: readonly RegionLoad[]): SubmitCommand {
  const offer = item.offer!;
  const body = item.body;
  const considered = item.pinned
    ? explainPinned(item.from, item.pinned)
    : explainPlacement(item.from, regions, item.refused, offer.region, item.allow);
  return {
    id: item.id!,
    type: body.type,
    payload: body.payload ?? null,
    priority: body.priority,
    runAt: body.runAt ?? null,
    delayMs: body.delayMs ?? null,
    maxAttempts: body.maxAttempts,
    timeoutMs: body.timeoutMs,
    idempotencyKey: body.idempotencyKey ?? null,
    requestHash: item.requestHash,
    affinityKey: body.affinityKey ?? null,
    allow: item.allow,
    retryOf: null,
    scheduleId: body.scheduleId ?? null,
    routing: {
      reason: offer.reason,
      region: offer.region,
      distanceKm: offer.distanceKm,
      from: item.from,
      considered,
    },
    requireRoom: offer.requireRoom,
  };
}

/** A shard refused: the next region, with a new id naming it (and the key moved with it). */
function reoffer(
  item: Item,
  region: string,
  refusal: Refusal,
  regions: readonly RegionLoad[],
  now: number,
  moves: { key: string; from: string; to: string }[],
): void {
  item.refused.set(region, refusal);
  if (item.pinned) {
    item.done = noRegion(`region ${region} has no healthy node`);
    return;
  }
  item.offer =
    item.refused.size < MAX_PLACEMENT_TRIES ? nextOffer(item.from, regions, item.refused, item.allow) : null;
  if (item.offer === null) {
    item.done = noRegion(noRegionMessage(item.allow, "no region could take the task; nothing was stored"));
    return;
  }
  const previous = item.id!;
  item.id = mintTaskId(item.offer.region, now);
  if (item.body.idempotencyKey !== undefined) {
    moves.push({ key: item.body.idempotencyKey, from: previous, to: item.id });
  }
}

/**
 * Mints each offered item's id, and claims the keys of keyed items in one call to the token's key
 * object: a repeat gets the task its key names (or 409 on another body); a key naming a task that
 * was never stored is stored by this repeat under the same id.
 */
async function claimKeys(
  edge: Edge,
  principal: Principal,
  items: Item[],
  regions: readonly RegionLoad[],
): Promise<void> {
  const now = edge.clock();
  for (const item of items) {
    if (item.offer !== null && item.done === null) {
      item.id = mintTaskId(item.offer.region, now);
    }
  }
  const keyed = items.filter(
    (item) => item.body.idempotencyKey !== undefined && (item.done === null || isNoRegion(item.done)),
  );
  if (keyed.length === 0) {
    return;
  }
  const keys = edge.keys(principal.tokenId);
  const claims = await keys.claim(
    keyed.map((item) => ({
      key: item.body.idempotencyKey!,
      requestHash: item.requestHash!,
      taskId: item.done === null ? item.id! : null,
    })),
    now,
  );
  const takeOvers: { key: string; from: string; to: string }[] = [];
  const takers: Item[] = [];
  await Promise.all(
    keyed.map(async (item, i) => {
      const claim = claims[i]!;
      if (claim.kind === "new") {
        item.claimed = item.done === null;
        return;
      }
      if (claim.kind === "mismatch") {
        item.done = conflict(
          `idempotency key ${item.body.idempotencyKey} was used with a different body`,
          "idempotency_mismatch",
        );
        return;
      }
      const region = regionOfTaskId(claim.taskId);
      const found =
        region === null
          ? null
          : ((await edge.shard(region).getTask(principal, claim.taskId)) as Result<TaskView>);
      if (found?.ok) {
        item.done = { task: found.value, created: false };
        return;
      }
      if (item.done !== null) {
        return; // no region can take it now: 503, the key kept as it is
      }
      // The key names a task its shard does not have: the submit that claimed it is under way, or
      // ended (crashed, refused) before storing it. This repeat stores it under the same id, where
      // the id says: whichever of the two arrives second finds it there (the shard checks keyed
      // ids), so there is one task. When that region cannot take it now, the key moves to a new id.
      const recorded = regions.find((r) => r.id === region && r.healthy);
      if (recorded !== undefined) {
        item.id = claim.taskId;
        item.claimed = true;
        item.offer = {
          region: recorded.id,
          reason:
            item.offer?.region === recorded.id
              ? item.offer.reason
              : item.allow?.regions.includes(recorded.id)
                ? "allowed"
                : "spillover",
          distanceKm: explainPinned(item.from, recorded)[0]!.distanceKm,
          requireRoom: false,
        };
        return;
      }
      takeOvers.push({ key: item.body.idempotencyKey!, from: claim.taskId, to: item.id! });
      takers.push(item);
    }),
  );
  if (takeOvers.length > 0) {
    const moved = await keys.rebind(takeOvers, now);
    takers.forEach((item, i) => {
      item.claimed = moved[i] === true;
      if (!moved[i]) {
        item.done = conflict(
          `another submit with idempotency key ${item.body.idempotencyKey} moved it meanwhile; try again`,
          "idempotency_in_progress",
        );
      }
    });
  }
}

function isNoRegion(placed: Placed): boolean {
  return "error" in placed && placed.error.code === "no_healthy_region";
}

function conflict(message: string, reason: ErrorReason): Placed {
  return { error: ApiError.of("conflict", message, reason).body };
}
