import type { SubmitResult } from "../../durable-objects/region-shard";
import type { TaskView } from "../../durable-objects/region-shard/views";
import { ApiError, type Result } from "../core/errors";
import type { RegionLoad } from "../core/geo-routing";
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
import type { SubmitCommand, TaskRouting } from "../core/task-commands";
import { noRegionMessage } from "../core/task-constraints";
import type { RetryClaim } from "../core/task-lifecycle";
import { mintTaskId } from "../ids";
import type { Edge } from "./edge";
import { unwrap } from "./errors";

/**
 * `POST /v1/tasks/{id}/retry`: a failed or canceled task runs again with a fresh attempt budget.
 * Without `reroute` its own shard replays it in place (same id, same region). With `reroute` the
 * edge routes it anew from its origin (`routing.from`), honouring its pin or allow-list, as a
 * submit is routed: when that picks its own region it is replayed in place with the new routing;
 * when it picks another, it moves there under a new id (ids name their shard), in two steps:
 * the old task first records the new id (`retriedAs`, a compare-and-set, so two retries cannot both
 * move it), then the new shard stores the task (`retryOf` names the old one). A refusal moves the
 * reservation to the next region's id; when no region can take it the reservation is released
 * (503). The old task keeps its status, and answers `GET` with `retriedAs`.
 */
export async function retryTask(
  edge: Edge,
  principal: Principal,
  region: string,
  id: string,
  reroute: boolean,
): Promise<TaskView> {
  const home = edge.shard(region);
  const task = unwrap((await home.getTask(principal, id)) as Result<TaskView>);
  // A move another retry reserved but never completed (its task does not exist) may be taken over:
  // the shard checks that the reservation is old enough. One that completed is final.
  let claim: RetryClaim = { successor: null, takeOver: false };
  if (task.retriedAs !== null) {
    const there = regionOfTaskId(task.retriedAs);
    const found =
      there === null
        ? null
        : ((await edge.shard(there).getTask(principal, task.retriedAs)) as Result<TaskView>);
    if (found?.ok) {
      throw ApiError.of(
        "conflict",
        `task ${id} was retried as ${task.retriedAs} in another region: retry that one`,
        "already_retried",
      );
    }
    claim = { successor: task.retriedAs, takeOver: true };
  }
  if (!reroute) {
    const reply = unwrap((await home.retryTask(principal, id, claim, null)) as Result<RetryReply>);
    return "task" in reply ? reply.task : impossible();
  }
  const table = await edge.table.get();
  const allow: AllowList | null =
    task.regions === null ? null : { regions: task.regions, fallback: task.fallback ?? "none" };
  const pinned =
    task.routing.reason === "pinned" ? (table.regions.find((r) => r.id === task.region) ?? null) : null;
  const refused = new Map<string, Refusal>();
  for (let tries = 0; tries < MAX_PLACEMENT_TRIES; tries++) {
    const offer = offerFor(task, table.regions, refused, allow, pinned);
    if (offer === null) {
      break;
    }
    const routing = routingOf(task, table.regions, refused, allow, pinned, offer);
    if (offer.region === region) {
      const reply = unwrap(
        (await home.retryTask(principal, id, claim, {
          routing,
          requireRoom: offer.requireRoom,
        })) as Result<RetryReply>,
      );
      if ("task" in reply) {
        return reply.task;
      }
      refused.set(offer.region, reply.refused);
      continue;
    }
    const next = mintTaskId(offer.region, edge.clock());
    const { tenant } = unwrap(await home.reserveRetry(principal, id, claim, next)) as { tenant: string };
    claim = { successor: next, takeOver: false };
    const at = table.regions.find((r) => r.id === offer.region);
    // The moved task stays in its tenant, whoever retries it (a global admin has none of its own).
    const mover: Principal = { ...principal, tenant };
    const reply = (await edge
      .shard(offer.region, at)
      .submit(mover, [moved(task, next, routing, offer.requireRoom)])) as Result<{
      results: SubmitResult[];
    }>;
    const result: SubmitResult | undefined = reply.ok ? reply.value.results[0] : { error: reply.error };
    if (result !== undefined && "task" in result) {
      return result.task;
    }
    if (result === undefined || "error" in result) {
      await home.reserveRetry(principal, id, claim, null);
      throw new ApiError(result?.error ?? ApiError.of("internal", "no answer from the shard").body);
    }
    refused.set(offer.region, result.refused);
  }
  if (claim.successor !== null && !claim.takeOver) {
    unwrap(await home.reserveRetry(principal, id, claim, null));
  }
  throw ApiError.of(
    "no_healthy_region",
    pinned !== null || task.routing.reason === "pinned"
      ? `region ${task.region} has no healthy node; the task was not retried`
      : noRegionMessage(allow, "no region could take the task; it was not retried"),
  );
}

type RetryReply = { task: TaskView } | { refused: Refusal };

function impossible(): never {
  throw ApiError.of("internal", "a retry in place was refused");
}

/** The next region to offer the retried task to: its pin (while healthy), or routed from its origin. */
function offerFor(
  task: TaskView,
  regions: readonly RegionLoad[],
  refused: ReadonlyMap<string, Refusal>,
  allow: AllowList | null,
  pinned: RegionLoad | null,
): PlacementOffer | null {
  if (task.routing.reason === "pinned") {
    return pinned === null || !pinned.healthy || refused.has(pinned.id)
      ? null
      : {
          region: pinned.id,
          reason: "pinned",
          distanceKm: explainPinned(task.routing.from, pinned)[0]!.distanceKm,
          requireRoom: false,
        };
  }
  return nextOffer(task.routing.from, regions, refused, allow);
}

function routingOf(
  task: TaskView,
  regions: readonly RegionLoad[],
  refused: ReadonlyMap<string, Refusal>,
  allow: AllowList | null,
  pinned: RegionLoad | null,
  offer: PlacementOffer,
): TaskRouting {
  return {
    reason: offer.reason,
    region: offer.region,
    distanceKm: offer.distanceKm,
    from: task.routing.from,
    considered:
      pinned !== null
        ? explainPinned(task.routing.from, pinned)
        : explainPlacement(task.routing.from, regions, refused, offer.region, allow),
  };
}

/** The retried task as its new region stores it: the same work, a fresh attempt budget, `retryOf` the old id. */
function moved(task: TaskView, id: string, routing: TaskRouting, requireRoom: boolean): SubmitCommand {
  return {
    id,
    type: task.type,
    payload: task.payload,
    priority: task.priority,
    runAt: null,
    delayMs: null,
    maxAttempts: task.maxAttempts,
    timeoutMs: task.timeoutMs,
    // The key keeps naming the first task, which names this one in `retriedAs`.
    idempotencyKey: null,
    requestHash: null,
    affinityKey: task.affinityKey,
    allow: task.regions === null ? null : { regions: task.regions, fallback: task.fallback ?? "none" },
    retryOf: task.id,
    // Still the run of the schedule's slot it was (a schedule's overlap check follows lastTaskId).
    scheduleId: task.scheduleId,
    routing,
    requireRoom,
  };
}
