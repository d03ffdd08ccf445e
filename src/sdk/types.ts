/**
 * The API's types, derived from the same zod schemas the Worker validates with, so the SDK and the
 * server cannot drift apart. Type-only imports: nothing of zod or the Worker reaches a bundle.
 */
import type { z } from "@hono/zod-openapi";
import type { CampaignResponse, Election, Leader } from "../schemas/elections.ts";
import type { LeasedTask, NodeInfo, PollResponse, RegisteredNode, ReportItem } from "../schemas/nodes.ts";
import type { Region } from "../schemas/regions.ts";
import type {
  ExtendResponse,
  FailResponse,
  SubmitTask,
  Task,
  TaskList,
  TaskListItem,
  TaskQuery,
  TaskStatus,
} from "../schemas/tasks.ts";

/** A task body as a submitter writes it (defaults may be left out). */
export type SubmitTaskInput = z.input<typeof SubmitTask>;
/** A task as Meridian shows it. */
export type TaskView = z.infer<typeof Task>;
export type TaskStatusName = z.infer<typeof TaskStatus>;
/** A task as a list shows it: `payload` and `result` only when the query's `include` asked for them. */
export type TaskListItemView = z.infer<typeof TaskListItem>;
/** The large fields a list may add to each task. */
export type ListField = "payload" | "result";
/**
 * Filters of `GET /v1/tasks` (all optional). `include` adds payloads and results (left out by
 * default since API v2); a page then holds fewer tasks, as many as the server's byte budget allows.
 */
export type TaskQueryInput = Partial<Omit<z.input<typeof TaskQuery>, "include">> & {
  include?: readonly ListField[] | string;
};
export type TaskPage = z.infer<typeof TaskList>;
export type RegionView = z.infer<typeof Region>;
export type NodeView = z.infer<typeof NodeInfo>;

export type RegisteredNodeView = z.infer<typeof RegisteredNode>;
export type LeasedTaskView = z.infer<typeof LeasedTask>;
export type PollAnswer = z.infer<typeof PollResponse>;
export type ReportItemInput = z.infer<typeof ReportItem>;
export type FailAnswer = z.infer<typeof FailResponse>;
export type ExtendAnswer = z.infer<typeof ExtendResponse>;

export type LeaderView = z.infer<typeof Leader>;
export type CampaignAnswer = z.infer<typeof CampaignResponse>;
export type ElectionView = z.infer<typeof Election>;

/** One item of a batch submit: the stored task, or the contract's error for that item. */
export type BatchItem =
  | { task: TaskView }
  | {
      error: { code: string; message: string; reason?: string; issues?: { path: string; message: string }[] };
    };

/** A task that has ended. */
export const TERMINAL: readonly TaskStatusName[] = ["succeeded", "failed", "canceled"];
