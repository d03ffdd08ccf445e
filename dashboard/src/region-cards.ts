/**
 * Per region: health, load and queue, its elections' leaders with their fencing terms, and its
 * nodes (status, in flight, load, how connected). Status is always a symbol and a word, not a
 * colour alone.
 */
import { h } from "./dom";
import { type EndpointInfo, type FleetState, type NodeInfo, nodeName, type RegionInfo } from "./fleet-state";
import { formatCount, formatPercent, loadShare } from "./format";

/** A symbol per node status, so status reads without colour. */
const STATUS_SYMBOL: Record<NodeInfo["status"], string> = {
  healthy: "●",
  suspect: "◐",
  draining: "◌",
  dead: "✕",
};

/** A push endpoint's breaker as a node-like status: closed takes work, open does not, half open probes. */
const BREAKER_STATUS: Record<EndpointInfo["state"], string> = {
  closed: "● closed",
  half_open: "◐ half open",
  open: "✕ open",
};

/** Redraws every region card into `container`. */
export function renderRegionCards(container: HTMLElement, fleet: FleetState): void {
  container.replaceChildren(...fleet.sortedRegions().map((region) => regionCard(region, fleet)));
}

function regionCard(region: RegionInfo, fleet: FleetState): HTMLElement {
  const health = region.healthy ? "healthy" : "unhealthy";
  const { live, dead, notShown } = fleet.nodesOf(region.id);
  const leaders = fleet.leadershipsOf(region.id);
  const endpoints = fleet.endpoints.filter((e) => e.region === region.id);
  return h(
    "article",
    { class: `region-card ${health}`, "data-region": region.id, "data-health": health },
    h(
      "header",
      {},
      h("span", { class: `badge ${health}` }, region.healthy ? "● healthy" : "◆ unhealthy"),
      h("h3", {}, region.id),
      region.label ? h("span", { class: "label" }, region.label) : null,
    ),
    h(
      "p",
      { class: "numbers" },
      `nodes ${region.nodes.healthy}/${region.nodes.total} healthy · capacity ${region.capacity} · in flight ${region.inFlight} (${formatPercent(loadShare(region.inFlight, region.capacity))}) · queued ${formatCount(region.queued)}`,
    ),
    leaders.length === 0
      ? h(
          "p",
          { class: "leaders muted" },
          fleet.complete.elections
            ? "no election of this region"
            : "no election of this region among the first ones listed",
        )
      : h(
          "ul",
          { class: "leaders" },
          ...leaders.map((l) =>
            h(
              "li",
              { "data-election": l.election },
              `${l.election}: `,
              l.leader === null
                ? h("span", { class: "muted" }, "no leader")
                : h("strong", {}, l.leaderName ?? l.leader),
              ` · term ${l.term}`,
            ),
          ),
        ),
    live.length === 0 && endpoints.length === 0
      ? h("p", { class: "muted" }, "no live node")
      : nodeTable(live, endpoints),
    notShown > 0
      ? h("p", { class: "muted" }, `${notShown} more live node${notShown === 1 ? "" : "s"} not shown`)
      : null,
    dead > 0 ? h("p", { class: "muted" }, `${dead} dead node${dead === 1 ? "" : "s"} not shown`) : null,
  );
}

function nodeTable(nodes: NodeInfo[], endpoints: EndpointInfo[]): HTMLElement {
  return h(
    "table",
    { class: "nodes" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "node"),
        h("th", {}, "status"),
        h("th", {}, "in flight"),
        h("th", {}, "load"),
        h("th", {}, "link"),
      ),
    ),
    h(
      "tbody",
      {},
      ...nodes.map((node) =>
        h(
          "tr",
          { "data-node": node.id, class: `node ${node.status}` },
          h("td", { title: node.id }, nodeName(node)),
          h("td", { class: `status ${node.status}` }, `${STATUS_SYMBOL[node.status]} ${node.status}`),
          h("td", {}, `${node.inFlight}/${node.capacity}`),
          h("td", {}, formatPercent(node.load)),
          h("td", {}, node.transport ?? "–"),
        ),
      ),
      // Push endpoints are capacity of the region like nodes: one row each, its breaker as status.
      ...endpoints.map((e) =>
        h(
          "tr",
          { "data-endpoint": e.name, class: `endpoint ${e.state}` },
          h("td", { title: `push endpoint ${e.name}` }, e.name),
          h("td", { class: `status breaker ${e.state}` }, BREAKER_STATUS[e.state]),
          h("td", {}, `${e.inFlight}/${e.capacity}`),
          h("td", {}, "–"),
          h("td", {}, "push"),
        ),
      ),
    ),
  );
}
