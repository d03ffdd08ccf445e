/**
 * The dashboard page: asks for a reader token (kept in sessionStorage), then shows the fleet from
 * the REST API, polled every few seconds, and the live event stream on top of it: arcs for routed
 * tasks, counters and charts, node and leader changes as they happen. Without `/v1/events` (an
 * older server) it says so and lives on polling alone.
 */
import type { Topology } from "topojson-specification";
import { ApiCallError, ApiClient, authMessage } from "./api-client";
import { Charts } from "./charts";
import { byId, h } from "./dom";
import { describeEvent, EVENT_LOG_LINES } from "./event-log";
import { EventStream, type StreamState } from "./event-stream";
import { type ElectionInfo, FleetState, type NodeInfo, nodeName, type StatusSnapshot } from "./fleet-state";
import { formatClock, formatCount, formatDuration } from "./format";
import { LIVE_EVENT_TYPES, type LiveEvent } from "./live-events";
import { collectPages, type Page } from "./pages";
import { renderRegionCards } from "./region-cards";
import { lookUpTask } from "./task-lookup";
import { forgetToken, loadToken, saveToken } from "./token-store";
import { TrafficStats } from "./traffic-stats";
import { WorldMap } from "./world-map";

/** How often the REST snapshot is taken (regions, nodes, elections). */
const POLL_MS = 2000;
/**
 * The most live nodes and elections one snapshot reads (a few pages each every POLL_MS); past them
 * the cards say how many are not shown. A fleet that large is read through the API, not this page.
 */
const MAX_NODES = 2000;
const NODES_PER_PAGE = 500;
const MAX_ELECTIONS = 1000;
const ELECTIONS_PER_PAGE = 500;
/** Views are redrawn at most this often, however fast events come. */
const RENDER_EVERY_MS = 250;
/** Recently routed tasks listed under the lookup (click one to look it up). */
const RECENT_TASKS = 8;

/** One running dashboard for one token; `stop` ends its polling and stream. */
class Dashboard {
  private readonly fleet = new FleetState();
  private readonly stats = new TrafficStats();
  // A dashboard started after a token change replaces the previous one's map and charts.
  private readonly map = new WorldMap(emptied("map"));
  private readonly charts = new Charts(emptied("chart-throughput"), emptied("chart-latency"));
  private readonly stream: EventStream;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private readonly recent: { taskId: string; region: string }[] = [];
  private readonly log: { at: number; text: string }[] = [];
  private renderPending = false;
  private stopped = false;
  private missed = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly onRefused: (message: string) => void,
  ) {
    const types = encodeURIComponent(LIVE_EVENT_TYPES.join(","));
    this.stream = new EventStream(`/v1/events?types=${types}`, api.authorization, {
      event: (event) => this.onEvent(event),
      state: (state) => this.onStreamState(state),
      dropped: (missed) => {
        this.missed += missed;
        this.scheduleRender();
      },
      reset: () => {
        // Events were lost for good: reload the truth, and stop pairing starts with ends.
        this.stats.forgetStarts();
        void this.poll();
      },
    });
  }

  start(first: StatusSnapshot): void {
    this.fleet.applySnapshot(first, []);
    this.render();
    void this.loadCountries();
    void this.poll();
    this.timers.push(setInterval(() => void this.poll(), POLL_MS));
    this.timers.push(setInterval(() => this.charts.update(this.stats.series(Date.now())), 1000));
    void this.stream.start();
  }

  stop(): void {
    this.stopped = true;
    this.stream.stop();
    for (const timer of this.timers) {
      clearInterval(timer);
    }
  }

  lookUp(taskId: string): void {
    void lookUpTask(this.api, taskId, byId("task-output"));
  }

  private async loadCountries(): Promise<void> {
    const response = await fetch("/dashboard/countries-110m.json");
    this.map.drawCountries((await response.json()) as Topology);
  }

  /** Takes a REST snapshot; a refused token stops the dashboard and asks for another. */
  private async poll(): Promise<void> {
    try {
      const [status, nodes] = await Promise.all([
        this.api.get<StatusSnapshot>("/v1/status"),
        this.liveNodes(),
      ]);
      const elections = await this.elections(status);
      if (this.stopped) {
        return;
      }
      this.fleet.applySnapshot({ ...status, elections: elections.items }, nodes.items, {
        nodes: nodes.complete,
        elections: elections.complete,
      });
      setNotice("rest", null);
      this.scheduleRender();
    } catch (error) {
      if (this.stopped) {
        return;
      }
      if (error instanceof ApiCallError && error.isAuth) {
        this.onRefused(authMessage(error));
        return;
      }
      setNotice("rest", `Could not refresh the fleet: ${error instanceof Error ? error.message : error}`);
    }
  }

  /** Every live node (dead ones are counted by /v1/status), page by page, up to MAX_NODES. */
  private async liveNodes() {
    const page = async (cursor: string | null): Promise<Page<NodeInfo>> => {
      const query = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const answer = await this.api.get<{ nodes: NodeInfo[]; cursor?: string | null }>(
        `/v1/nodes?limit=${NODES_PER_PAGE}${query}`,
      );
      // A server older than paging answers every node at once, without a cursor.
      return { items: answer.nodes, cursor: answer.cursor ?? null };
    };
    return collectPages(await page(null), page, MAX_NODES);
  }

  /** The elections /v1/status lists, and the pages after them, up to MAX_ELECTIONS. */
  private async elections(status: StatusSnapshot) {
    const first = { items: status.elections, cursor: status.electionsCursor ?? null };
    return collectPages(
      first,
      async (cursor) => {
        const answer = await this.api.get<{ elections: ElectionInfo[]; cursor: string | null }>(
          `/v1/elections?limit=${ELECTIONS_PER_PAGE}&cursor=${encodeURIComponent(cursor)}`,
        );
        return { items: answer.elections, cursor: answer.cursor };
      },
      MAX_ELECTIONS,
    );
  }

  private onEvent(event: LiveEvent): void {
    this.stats.record(event);
    const wasHealthy =
      event.type === "region.changed" ? this.fleet.regions.get(event.region)?.healthy : undefined;
    this.fleet.applyEvent(event);
    const line = describeEvent(event, wasHealthy, (id) => {
      const node = this.fleet.nodes.get(id);
      return node ? nodeName(node) : id;
    });
    if (line) {
      this.log.unshift({ at: event.at, text: line });
      this.log.splice(EVENT_LOG_LINES);
    }
    if (event.type === "task.routed") {
      this.recent.unshift({ taskId: event.taskId, region: event.region });
      this.recent.splice(RECENT_TASKS);
      const to = this.fleet.regions.get(event.region);
      if (event.origin && to) {
        this.map.addArc({
          taskId: event.taskId,
          region: event.region,
          from: event.origin,
          to: { lat: to.lat, lon: to.lon },
          reason: event.reason,
          bornAt: performance.now(),
        });
      }
    }
    this.scheduleRender();
  }

  private onStreamState(state: StreamState): void {
    const status = byId("live-status");
    status.dataset.state = state.kind;
    status.textContent = streamStateText(state);
    byId("charts-note").hidden = state.kind !== "unavailable";
    if (state.kind === "refused") {
      this.onRefused(authMessage(state.error));
    }
  }

  private scheduleRender(): void {
    if (this.renderPending) {
      return;
    }
    this.renderPending = true;
    setTimeout(() => {
      this.renderPending = false;
      if (!this.stopped) {
        this.render();
      }
    }, RENDER_EVERY_MS);
  }

  private render(): void {
    this.map.setRegions(this.fleet.sortedRegions());
    renderRegionCards(byId("regions"), this.fleet);
    renderCounters(this.stats.counters, this.missed);
    byId("event-log").replaceChildren(
      ...this.log.map((entry) => h("li", {}, h("time", {}, formatClock(entry.at)), ` ${entry.text}`)),
    );
    byId("recent").replaceChildren(
      ...this.recent.map((task) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "link", "data-task-id": task.taskId }, task.taskId),
          ` → ${task.region}`,
        ),
      ),
    );
  }
}

function emptied(id: string): HTMLElement {
  const element = byId(id);
  element.replaceChildren();
  return element;
}

function streamStateText(state: StreamState): string {
  switch (state.kind) {
    case "connecting":
      return "connecting to live events …";
    case "live":
      return "● live";
    case "reconnecting":
      return `live events dropped (${state.why}); reconnecting in ${formatDuration(state.inMs)}`;
    case "unavailable":
      return `live events unavailable (this server has no /v1/events): the fleet is polled every ${POLL_MS / 1000} s`;
    case "refused":
      return "live events refused the token";
  }
}

function renderCounters(counters: TrafficStats["counters"], missed: number): void {
  const item = (name: string, label: string, value: number) =>
    h(
      "div",
      { class: `counter ${name}` },
      h("span", { class: "value", "data-counter": name }, formatCount(value)),
      label,
    );
  byId("counters").replaceChildren(
    item("routed", "routed", counters.routed),
    item("succeeded", "succeeded", counters.succeeded),
    item("retried", "retried", counters.retried),
    item("failed", "failed for good", counters.failed),
    missed > 0 ? item("missed", "events missed", missed) : "",
  );
}

/** A page-wide notice (e.g. the REST API not answering), or none. */
function setNotice(source: string, text: string | null): void {
  const existing = document.querySelector(`[data-notice="${source}"]`);
  if (text === null) {
    existing?.remove();
    return;
  }
  const notice =
    existing ??
    byId("notices").appendChild(h("p", { class: "notice", "data-notice": source, role: "status" }));
  notice.textContent = text;
}

// ---- the token prompt and start-up ----

let running: Dashboard | null = null;

/** Shows the token prompt (with why, if it follows a refusal) and hides the dashboard. */
function askForToken(message: string | null): void {
  running?.stop();
  running = null;
  byId("app").hidden = true;
  byId("token-panel").hidden = false;
  const error = byId("token-error");
  error.textContent = message ?? "";
  error.hidden = message === null;
  byId<HTMLInputElement>("token-input").focus();
}

/** Checks a token against `/v1/status` and starts the dashboard with it, or says why not. */
async function tryToken(token: string): Promise<void> {
  const api = new ApiClient(token);
  let first: StatusSnapshot;
  try {
    first = await api.get<StatusSnapshot>("/v1/status");
  } catch (error) {
    if (error instanceof ApiCallError && error.isAuth) {
      forgetToken();
      askForToken(authMessage(error));
    } else {
      askForToken(`Could not check the token: ${error instanceof Error ? error.message : error}`);
    }
    return;
  }
  saveToken(token);
  byId("token-panel").hidden = true;
  byId("app").hidden = false;
  running = new Dashboard(api, (message) => {
    forgetToken();
    askForToken(message);
  });
  running.start(first);
}

function wire(): void {
  byId<HTMLFormElement>("token-form").addEventListener("submit", (event) => {
    // The form is never submitted: a GET would put the token in the URL.
    event.preventDefault();
    const input = byId<HTMLInputElement>("token-input");
    const token = input.value.trim();
    input.value = "";
    if (!/^\S{1,512}$/.test(token)) {
      askForToken("Paste a token (no spaces).");
      return;
    }
    void tryToken(token);
  });
  byId("forget-token").addEventListener("click", () => {
    forgetToken();
    askForToken(null);
  });
  byId<HTMLFormElement>("lookup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = byId<HTMLInputElement>("task-id").value.trim();
    if (id && running) {
      running.lookUp(id);
    }
  });
  byId("recent").addEventListener("click", (event) => {
    const id = (event.target as HTMLElement).dataset.taskId;
    if (id && running) {
      byId<HTMLInputElement>("task-id").value = id;
      running.lookUp(id);
    }
  });
}

wire();
const stored = loadToken();
if (stored) {
  void tryToken(stored);
} else {
  askForToken(null);
}
