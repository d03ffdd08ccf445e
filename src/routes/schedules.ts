import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { RegionShard } from "../../durable-objects/region-shard";
import type { ScheduleView } from "../../durable-objects/region-shard/schedules";
import { ApiError, type Result } from "../core/errors";
import { homeRegion } from "../core/schedules";
import type { AppEnv } from "../http/context";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { originOf } from "../http/routing-table";
import { errors, json, jsonBody } from "../schemas/common";
import { PutSchedule, Schedule, ScheduleIdParam, ScheduleList, ScheduleQuery } from "../schemas/schedules";

export const schedules = openApiApp();

/** The shard keeping schedule `id` (the coordinator's index names it), or 404. */
async function scheduleShard(c: Context<AppEnv>, id: string): Promise<DurableObjectStub<RegionShard>> {
  const edge = c.var.edge;
  const home = unwrap(await edge.coordinator().scheduleHome(c.var.principal, id, null));
  if (home === null) {
    throw ApiError.of("not_found", `no schedule ${id}`);
  }
  return edge.shard(home);
}

/** A schedule RPC's answer (its task body is `unknown` inside, which RPC's types cannot express). */
const view = (reply: unknown) => unwrap(reply as Result<ScheduleView>);

schedules.openapi(
  createRoute({
    method: "put",
    path: "/schedules/{id}",
    tags: ["schedules"],
    summary: "Create or replace a schedule: a task submitted at each cron or everyMs slot",
    security: bearerSecurity,
    middleware: [operation("schedules.write")],
    request: { params: ScheduleIdParam, body: jsonBody(PutSchedule) },
    responses: {
      201: json(Schedule, "created"),
      200: json(Schedule, "replaced (slots up to now do not run; counters are kept)"),
      ...errors(404, 413, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const edge = c.var.edge;
    const origin = originOf(c.req.raw);
    let regions: { id: string; lat: number; lon: number }[] = (await edge.table.get()).regions;
    const pinned = body.task.region;
    if (pinned !== undefined && !regions.some((r) => r.id === pinned)) {
      const found = await edge.table.region(pinned);
      if (found === undefined) {
        throw ApiError.of("not_found", `no region ${pinned}`);
      }
      regions = [...regions, found];
    }
    const proposed = homeRegion(id, pinned, body.task.location ?? origin, regions);
    if (proposed === null) {
      throw ApiError.of("no_healthy_region", "no region exists to keep the schedule; create one first");
    }
    let home = unwrap(await edge.coordinator().scheduleHome(c.var.principal, id, proposed));
    if (
      home !== null &&
      !regions.some((r) => r.id === home) &&
      (await edge.table.region(home)) === undefined
    ) {
      // The index names a region deleted since (a PUT cut off between the index and the shard): a
      // region that keeps schedules cannot be deleted, so none lives there. The id gets a new home.
      unwrap(await edge.coordinator().forgetScheduleHome(c.var.principal, id, home));
      home = unwrap(await edge.coordinator().scheduleHome(c.var.principal, id, proposed));
    }
    const reply = (await edge.shard(home!).putSchedule(c.var.principal, id, body, origin)) as Result<{
      schedule: ScheduleView;
      created: boolean;
    }>;
    const { schedule, created } = unwrap(reply);
    return c.json(schedule, created ? 201 : 200);
  },
);

schedules.openapi(
  createRoute({
    method: "get",
    path: "/schedules",
    tags: ["schedules"],
    summary: "Schedules of every region by id; pass the returned cursor for the next page",
    security: bearerSecurity,
    middleware: [operation("schedules.read")],
    request: { query: ScheduleQuery },
    responses: { 200: json(ScheduleList, "a page of schedules") },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const edge = c.var.edge;
    const table = await edge.table.get();
    const pages = await Promise.all(
      table.regions.map(async (r) => {
        const reply = (await edge.shard(r.id).listSchedules(c.var.principal, limit + 1, cursor)) as Result<{
          schedules: ScheduleView[];
        }>;
        return unwrap(reply).schedules;
      }),
    );
    const merged = pages.flat().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = merged.slice(0, limit);
    return c.json({ schedules: page, cursor: merged.length > limit ? page[page.length - 1]!.id : null }, 200);
  },
);

schedules.openapi(
  createRoute({
    method: "get",
    path: "/schedules/{id}",
    tags: ["schedules"],
    summary: "A schedule, with its next slot, its last run and that run's task",
    security: bearerSecurity,
    middleware: [operation("schedules.read")],
    request: { params: ScheduleIdParam },
    responses: { 200: json(Schedule, "the schedule"), ...errors(404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(view(await (await scheduleShard(c, id)).getSchedule(c.var.principal, id)), 200);
  },
);

for (const action of ["pause", "resume", "trigger"] as const) {
  const summaries = {
    pause: "Pause: no slot runs until resumed (slots that fall meanwhile are skipped)",
    resume: "Resume from the next slot after now",
    trigger:
      "One run now, whatever the cadence, overlap and pause; the schedule answers with its task as lastTaskId",
  };
  schedules.openapi(
    createRoute({
      method: "post",
      path: `/schedules/{id}/${action}`,
      tags: ["schedules"],
      summary: summaries[action],
      security: bearerSecurity,
      middleware: [operation("schedules.write")],
      request: { params: ScheduleIdParam },
      responses: {
        200: json(Schedule, "the schedule"),
        ...errors(404, ...(action === "trigger" ? ([409, 503] as const) : [])),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const shard = await scheduleShard(c, id);
      const principal = c.var.principal;
      const reply =
        action === "pause"
          ? await shard.pauseSchedule(principal, id)
          : action === "resume"
            ? await shard.resumeSchedule(principal, id)
            : await shard.triggerSchedule(principal, id);
      return c.json(view(reply), 200);
    },
  );
}

schedules.openapi(
  createRoute({
    method: "delete",
    path: "/schedules/{id}",
    tags: ["schedules"],
    summary: "Delete a schedule; runs already stored as tasks are not touched",
    security: bearerSecurity,
    middleware: [operation("schedules.write")],
    request: { params: ScheduleIdParam },
    responses: { 204: { description: "deleted" }, ...errors(404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const edge = c.var.edge;
    const home = unwrap(await edge.coordinator().scheduleHome(c.var.principal, id, null));
    if (home === null) {
      throw ApiError.of("not_found", `no schedule ${id}`);
    }
    const deleted = await edge.shard(home).deleteSchedule(c.var.principal, id);
    // Gone from its shard (now, or before a crash): the index forgets it either way.
    if (deleted.ok || deleted.error.code === "not_found") {
      unwrap(await edge.coordinator().forgetScheduleHome(c.var.principal, id, home));
    }
    unwrap(deleted);
    return c.body(null, 204);
  },
);
