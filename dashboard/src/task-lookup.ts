/**
 * Task lookup by id: status, attempts, result or error, and where it was placed and why (every
 * region the edge considered and why each was passed over).
 */
import { ApiCallError, type ApiClient } from "./api-client";
import { h } from "./dom";
import { formatClock, formatKm } from "./format";
import { consideredText, reasonText } from "./placement-text";

/** The parts of a task (`GET /v1/tasks/{id}`) the lookup shows. */
export interface TaskView {
  id: string;
  type: string;
  status: string;
  region: string;
  nodeId: string | null;
  attempts: number;
  maxAttempts: number;
  result: unknown;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  routing: {
    reason: string;
    region: string;
    distanceKm: number | null;
    from: { lat: number; lon: number } | null;
    considered: { region: string; distanceKm: number | null; outcome: string }[];
  };
}

/** Looks up `id` and renders it (or the refusal) into `output`. */
export async function lookUpTask(api: ApiClient, id: string, output: HTMLElement): Promise<void> {
  output.replaceChildren(h("p", { class: "muted" }, `looking up ${id} …`));
  try {
    const task = await api.get<TaskView>(`/v1/tasks/${encodeURIComponent(id)}`);
    output.replaceChildren(renderTask(task));
  } catch (error) {
    output.replaceChildren(h("p", { class: "error", role: "alert" }, lookupError(error)));
  }
}

function lookupError(error: unknown): string {
  if (!(error instanceof ApiCallError)) {
    return String(error);
  }
  if (error.status === 404) {
    return "No task with this id (404).";
  }
  if (error.status === 400) {
    return `Not a task id Meridian minted (400 ${error.code}).`;
  }
  return `${error.message} (${error.status} ${error.code})`;
}

function renderTask(task: TaskView): HTMLElement {
  const outcome =
    task.status === "succeeded"
      ? h("pre", { class: "result" }, JSON.stringify(task.result, null, 2))
      : task.lastError
        ? h("pre", { class: "error-text" }, task.lastError)
        : null;
  const routing = task.routing;
  return h(
    "article",
    { class: "task", "data-task-id": task.id, "data-status": task.status },
    h("h3", {}, task.id),
    h(
      "dl",
      {},
      h("dt", {}, "status"),
      h("dd", { class: `status ${task.status}` }, task.status),
      h("dt", {}, "type"),
      h("dd", {}, task.type),
      h("dt", {}, "region · node"),
      h("dd", {}, `${task.region} · ${task.nodeId ?? "–"}`),
      h("dt", {}, "attempts"),
      h("dd", {}, `${task.attempts} of ${task.maxAttempts}`),
      h("dt", {}, "created · updated"),
      h("dd", {}, `${formatClock(task.createdAt)} · ${formatClock(task.updatedAt)}`),
    ),
    outcome ? h("h4", {}, task.status === "succeeded" ? "result" : "last error") : null,
    outcome,
    h("h4", {}, "placement"),
    h(
      "p",
      { class: "placement-reason" },
      `${routing.region}: ${reasonText(routing.reason)}`,
      routing.from ? ` · from ${routing.from.lat.toFixed(2)}, ${routing.from.lon.toFixed(2)}` : "",
      routing.distanceKm === null ? "" : ` · ${formatKm(routing.distanceKm)}`,
    ),
    h(
      "ol",
      { class: "considered" },
      ...routing.considered.map((c) =>
        h(
          "li",
          { class: `considered-${c.outcome}`, "data-region": c.region, "data-outcome": c.outcome },
          h("strong", {}, c.region),
          ` (${formatKm(c.distanceKm)}): ${consideredText(c.outcome)}`,
        ),
      ),
    ),
  );
}
