/**
 * The world map: country outlines (world-atlas 110m, served with the page: no tile server), each
 * region as a marker whose shape, colour and label all say its health (never colour alone), and
 * an arc from each task's origin city to the region that took it, fading out.
 */
import { type GeoPermissibleObjects, geoGraticule10, geoNaturalEarth1, geoPath } from "d3-geo";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import { type Arc, ArcSet } from "./arcs";
import { s } from "./dom";
import type { RegionInfo } from "./fleet-state";
import { formatCount, formatPercent, loadShare } from "./format";
import { type LabelPlacement, placeLabels } from "./label-layout";

/** Rough size of a label's characters and of its two lines, in map units (11 px system font). */
const CHAR_WIDTH = 7;
const LABEL_HEIGHT = 26;

const WIDTH = 960;
const HEIGHT = 500;

export class WorldMap {
  readonly svg: SVGSVGElement;
  private readonly projection = geoNaturalEarth1();
  private readonly path = geoPath(this.projection);
  private readonly land = s("g", { class: "land" });
  private readonly arcLayer = s("g", { class: "arcs" });
  private readonly markerLayer = s("g", { class: "markers" });
  private readonly arcs = new ArcSet();
  private readonly arcNodes = new Map<Arc, SVGGElement>();
  private animating = false;

  constructor(container: HTMLElement) {
    this.projection.fitExtent(
      [
        [8, 8],
        [WIDTH - 8, HEIGHT - 8],
      ],
      { type: "Sphere" },
    );
    this.svg = s(
      "svg",
      {
        viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
        role: "img",
        "aria-label": "World map of regions, their health and tasks being routed",
        class: "world-map",
      },
      s("path", { class: "sphere", d: this.path({ type: "Sphere" }) ?? "" }),
      s("path", { class: "graticule", d: this.path(geoGraticule10()) ?? "" }),
      this.land,
      this.arcLayer,
      this.markerLayer,
    );
    container.append(this.svg);
  }

  /** Draws the countries from a world-atlas topology (its `countries` object). */
  drawCountries(topology: Topology): void {
    const countries = feature(topology, topology.objects.countries as GeometryCollection);
    this.land.replaceChildren(s("path", { class: "countries", d: this.path(countries) ?? "" }));
  }

  /** Redraws every region marker (cheap: ten-odd groups), labels placed clear of each other. */
  setRegions(regions: RegionInfo[]): void {
    const drawn = regions.map((region) => {
      const [x, y] = this.projection([region.lon, region.lat]) ?? [0, 0];
      return { region, x, y, detail: detailOf(region) };
    });
    const placements = placeLabels(
      drawn.map(({ region, x, y, detail }) => ({
        id: region.id,
        x,
        y,
        width: Math.max(region.id.length, detail.length) * CHAR_WIDTH,
        height: LABEL_HEIGHT,
      })),
      WIDTH,
    );
    this.markerLayer.replaceChildren(
      ...drawn.map((d, i) => this.marker(d.region, d.x, d.y, d.detail, placements[i]!)),
    );
  }

  /** Starts an arc for a task routed from `arc.from` to `arc.to`. */
  addArc(arc: Arc): void {
    this.arcs.add(arc);
    const line: GeoPermissibleObjects = {
      type: "LineString",
      coordinates: [
        [arc.from.lon, arc.from.lat],
        [arc.to.lon, arc.to.lat],
      ],
    };
    const [x, y] = this.projection([arc.from.lon, arc.from.lat]) ?? [0, 0];
    const group = s(
      "g",
      { class: `arc reason-${arc.reason}`, "data-task-id": arc.taskId, "data-region": arc.region },
      s("title", {}, `${arc.taskId} → ${arc.region} (${arc.reason})`),
      s("path", { d: this.path(line) ?? "" }),
      s("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5 }),
    );
    this.arcNodes.set(arc, group);
    this.arcLayer.append(group);
    this.animate();
  }

  /** Fades the arcs frame by frame while any is alive, then stops asking for frames. */
  private animate(): void {
    if (this.animating) {
      return;
    }
    this.animating = true;
    const frame = () => {
      const live = this.arcs.live(performance.now());
      const alive = new Set(live.map((l) => l.arc));
      for (const [arc, node] of this.arcNodes) {
        if (!alive.has(arc)) {
          node.remove();
          this.arcNodes.delete(arc);
        }
      }
      for (const { arc, opacity } of live) {
        this.arcNodes.get(arc)?.setAttribute("opacity", opacity.toFixed(2));
      }
      if (live.length > 0) {
        requestAnimationFrame(frame);
      } else {
        this.animating = false;
      }
    };
    requestAnimationFrame(frame);
  }

  /**
   * One region: a filled circle when healthy, a hollow diamond with a cross when not, and a label
   * that says it in words, with load and queue.
   */
  private marker(
    region: RegionInfo,
    x: number,
    y: number,
    detail: string,
    label: LabelPlacement,
  ): SVGGElement {
    const health = region.healthy ? "healthy" : "unhealthy";
    const shape = region.healthy
      ? s("circle", { class: "shape", r: 7 })
      : s("path", { class: "shape", d: "M0,-9L9,0L0,9L-9,0Z M-4,-4L4,4 M-4,4L4,-4" });
    const text = { x: label.dx, "text-anchor": label.anchor };
    return s(
      "g",
      {
        class: `region ${health}`,
        "data-region": region.id,
        "data-health": health,
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
      },
      s("title", {}, `${region.id}${region.label ? ` (${region.label})` : ""}: ${health}, ${detail}`),
      shape,
      s("text", { class: "name", ...text, y: label.dy - 2 }, region.id),
      s("text", { class: "detail", ...text, y: label.dy + 10 }, detail),
    );
  }
}

/** A region's second label line: load and queue, or that it is unhealthy. */
function detailOf(region: RegionInfo): string {
  const queue = `queue ${formatCount(region.queued)}`;
  return region.healthy
    ? `load ${formatPercent(loadShare(region.inFlight, region.capacity))} · ${queue}`
    : `UNHEALTHY · ${queue}`;
}
