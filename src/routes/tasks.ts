import { createRoute, type z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../core/errors";
import { regionOfTaskId } from "../core/ids";
import type { AppEnv } from "../http/context";
import { unwrap, validationError } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { originOf } from "../http/routing-table";
import { knownShard, taskPageAcrossShards, taskShard } from "../http/shard-calls";
import { type Placed, placeTasks } from "../http/task-placement";
import { retryTask } from "../http/task-replay";
import { errors, json, jsonBody } from "../schemas/common";
import {
  BatchResult,
  BatchSubmit,
  Complete,
  Extend,
  ExtendResponse,
  Fail,
  FailResponse,
  includedFields,
  MAX_DELAY_MS,
  RetryTask,
  StatusResponse,
  SubmitTask,
  type SubmitTaskInput,
  Task,
  TaskIdParam,
  TaskList,
  TaskQuery,
} from "../schemas/tasks";

export const tasks = openApiApp();

type TaskPage = z.infer<typeof TaskList>;

/** The `Idempotency-Key` header stands for the body field; both at once must agree. */
function withHeaderKey(body: SubmitTaskInput, header: string | undefined): SubmitTaskInput {
  if (header === undefined) {
    return body;
  }
  if (header.length === 0 || header.length > 200) {
    throw ApiError.of("invalid_request", "Idempotency-Key must be 1 to 200 characters");
  }
  if (body.idempotencyKey !== undefined && body.idempotencyKey !== header) {
    throw ApiError.of("invalid_request", "Idempotency-Key header and idempotencyKey field differ");
  }
  return { ...body, idempotencyKey: header };
}

/** A `runAt` further ahead than `delayMs` may go: 400 (its alarm could not be set). */
function runAtRefusal(body: SubmitTaskInput, now: number, where: string): ApiError | null {
  if (body.runAt === undefined || body.runAt <= now + MAX_DELAY_MS) {
    return null;
  }
  return new ApiError({
    code: "invalid_request",
    message: `invalid ${where}`,
    issues: [
      { path: where === "body" ? "runAt" : `${where}.runAt`, message: `at most ${MAX_DELAY_MS} ms from now` },
    ],
  });
}

function place(c: Context<AppEnv>, bodies: SubmitTaskInput[]): Promise<Placed[]> {
  return placeTasks(c.var.edge, c.var.principal, bodies, () => originOf(c.req.raw));
}

tasks.openapi(
  createRoute({
    method: "post",
    path: "/tasks",
    tags: ["tasks"],
    summary: "Submit a task; routed to the nearest healthy region with room",
    security: bearerSecurity,
    middleware: [operation("tasks.submit")],
    request: { body: jsonBody(SubmitTask) },
    responses: {
      201: json(Task, "stored"),
      200: json(Task, "an idempotent repeat: the first task, unchanged"),
      ...errors(404, 409, 413, 503),
    },
  }),
  async (c) => {
    const input = c.req.valid("json");
    const refusal = runAtRefusal(input, c.var.edge.clock(), "body");
    if (refusal !== null) {
      throw refusal;
    }
    const body = withHeaderKey(input, c.req.header("idempotency-key"));
    const [placed] = await place(c, [body]);
    if (placed === undefined || "error" in placed) {
      throw new ApiError(placed?.error ?? ApiError.of("internal", "nothing placed").body);
    }
    return c.json(placed.task, placed.created ? 201 : 200);
  },
);

tasks.openapi(
  createRoute({
    method: "post",
    path: "/tasks:batch",
    tags: ["tasks"],
    summary: "Submit up to 100 tasks; each item succeeds or fails alone",
    security: bearerSecurity,
    middleware: [operation("tasks.submit")],
    request: { body: jsonBody(BatchSubmit) },
    responses: { 200: json(BatchResult, "one result per item, in order"), ...errors(413) },
  }),
  async (c) => {
    const now = c.var.edge.clock();
    const parsed = c.req.valid("json").tasks.map((item, i) => {
      const result = SubmitTask.safeParse(item);
      if (!result.success) {
        return validationError(result.error, `tasks.${i}`);
      }
      return runAtRefusal(result.data, now, `tasks.${i}`) ?? result.data;
    });
    const valid = parsed.filter((p): p is SubmitTaskInput => !(p instanceof ApiError));
    const placed = await place(c, valid);
    let next = 0;
    const results = parsed.map((p) => {
      if (p instanceof ApiError) {
        return { error: p.body };
      }
      const one = placed[next++]!;
      return "error" in one ? { error: one.error } : { task: one.task };
    });
    return c.json({ results }, 200);
  },
);

tasks.openapi(
  createRoute({
    method: "get",
    path: "/tasks/{id}",
    tags: ["tasks"],
    summary: "A task, with where it was placed and why",
    security: bearerSecurity,
    middleware: [operation("tasks.read")],
    request: { params: TaskIdParam },
    responses: { 200: json(Task, "the task"), ...errors(404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(unwrap(await (await taskShard(c, id)).getTask(c.var.principal, id)), 200);
  },
);

tasks.openapi(
  createRoute({
    method: "get",
    path: "/tasks",
    tags: ["tasks"],
    summary:
      "Tasks of every region, newest first, without payload and result unless `include` asks; a page holds at most LIST_BYTE_BUDGET bytes. Pass the returned cursor for the next page",
    security: bearerSecurity,
    middleware: [operation("tasks.read")],
    request: { query: TaskQuery },
    responses: { 200: json(TaskList, "a page of tasks") },
  }),
  async (c) => {
    const { cursor, region, include, ...filter } = c.req.valid("query");
    const table = await c.var.edge.table.get();
    const shards =
      region === undefined ? table.shards : (await c.var.edge.table.knows(region)) ? [region] : [];
    const query = { ...filter, before: cursor, include: includedFields(include) };
    const body = await taskPageAcrossShards(c, shards, query, c.var.config.listByteBudget);
    // The page is JSON text already: payloads go from storage to the reply without being parsed.
    return c.body(body, 200, { "content-type": "application/json" }) as unknown as ReturnType<
      typeof c.json<TaskPage, 200>
    >;
  },
);

tasks.openapi(
  createRoute({
    method: "post",
    path: "/tasks/{id}/cancel",
    tags: ["tasks"],
    summary: "Cancel; 409 already_terminal once it has ended",
    security: bearerSecurity,
    middleware: [operation("tasks.cancel")],
    request: { params: TaskIdParam },
    responses: { 200: json(StatusResponse, "canceled"), ...errors(404, 409) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(unwrap(await (await taskShard(c, id)).cancelTask(c.var.principal, id)), 200);
  },
);

tasks.openapi(
  createRoute({
    method: "post",
    path: "/tasks/{id}/retry",
    tags: ["tasks"],
    summary:
      "Run a failed or canceled task again with a fresh attempt budget; `reroute: true` routes it anew (409 not_terminal otherwise)",
    description:
      "Without `reroute` the task is queued again in its region, under its id. With `reroute: true` it is routed again from its origin, honouring its pin or allow-list: in its own region it is queued again there (with the new `routing`); in another it moves there under a new id (ids name their region), answered here, with `retryOf` naming the old task, which keeps its status and names the new one in `retriedAs`. `attempts` count from 0 again; `lastError` stays until an attempt replaces it.",
    security: bearerSecurity,
    middleware: [operation("tasks.retry")],
    request: { params: TaskIdParam, body: jsonBody(RetryTask, false) },
    responses: { 200: json(Task, "the task, queued again"), ...errors(404, 409, 503) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const region = regionOfTaskId(id);
    if ((await knownShard(c, region)) === null || region === null) {
      throw ApiError.of("not_found", `no task ${id}`);
    }
    const { reroute } = c.req.valid("json");
    return c.json(await retryTask(c.var.edge, c.var.principal, region, id, reroute), 200);
  },
);

tasks.openapi(
  createRoute({
    method: "delete",
    path: "/tasks/{id}",
    tags: ["tasks"],
    summary:
      "Erase a finished task now, payload and result included (admin; erasure requests). 409 task_not_finished while it runs",
    security: bearerSecurity,
    middleware: [operation("tasks.erase")],
    request: { params: TaskIdParam },
    responses: { 204: { description: "erased" }, ...errors(404, 409) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const erased = unwrap(await (await taskShard(c, id)).eraseTask(c.var.principal, id));
    // Its idempotency key goes too: a repeat would otherwise find the key naming a missing task and
    // store that task again under the erased id.
    if (erased.idempotencyScope !== null && erased.idempotencyKey !== null) {
      await c.var.edge.keys(erased.idempotencyScope).release([{ key: erased.idempotencyKey, taskId: id }]);
    }
    return c.body(null, 204);
  },
);

tasks.openapi(
  createRoute({
    method: "post",
    path: "/tasks/{id}/complete",
    tags: ["executing"],
    summary: "Record success under a valid lease (409 lease_lost otherwise)",
    security: bearerSecurity,
    middleware: [operation("tasks.execute")],
    request: { params: TaskIdParam, body: jsonBody(Complete) },
    responses: { 200: json(StatusResponse, "succeeded"), ...errors(404, 409, 413) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(
      unwrap(await (await taskShard(c, id)).completeTask(c.var.principal, id, c.req.valid("json"))),
      200,
    );
  },
);

tasks.openapi(
  createRoute({
    method: "post",
    path: "/tasks/{id}/fail",
    tags: ["executing"],
    summary: "Record a failed attempt: retried after back-off with jitter, or failed",
    security: bearerSecurity,
    middleware: [operation("tasks.execute")],
    request: { params: TaskIdParam, body: jsonBody(Fail) },
    responses: { 200: json(FailResponse, "what happens next"), ...errors(404, 409, 413) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(
      unwrap(await (await taskShard(c, id)).failTask(c.var.principal, id, c.req.valid("json"))),
      200,
    );
  },
);

tasks.openapi(
  createRoute({
    method: "post",
    path: "/tasks/{id}/extend",
    tags: ["executing"],
    summary: "Extend a lease so a long task keeps it",
    security: bearerSecurity,
    middleware: [operation("tasks.execute")],
    request: { params: TaskIdParam, body: jsonBody(Extend) },
    responses: { 200: json(ExtendResponse, "the new expiry"), ...errors(404, 409) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(
      unwrap(await (await taskShard(c, id)).extendLease(c.var.principal, id, c.req.valid("json"))),
      200,
    );
  },
);
