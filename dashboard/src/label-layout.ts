/**
 * Where each region's label goes on the map, so that labels of nearby regions (Dublin and
 * Frankfurt, Paris and Frankfurt) do not print over each other: each label takes the first of a few
 * places around its marker that overlaps no label placed before it (or the first place, if all do).
 * Pure: points and text sizes in, placements out.
 */

export interface LabelRequest {
  id: string;
  /** The marker's position in map units. */
  x: number;
  y: number;
  /** The label's size in map units. */
  width: number;
  height: number;
}

export interface LabelPlacement {
  id: string;
  /** Offset of the label's anchor from the marker, and which side of the anchor the text runs. */
  dx: number;
  dy: number;
  anchor: "start" | "end";
}

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Gap between a marker and its label. */
const GAP = 11;

/** Places tried, in order: right, left, then each lower and higher by a label's height. */
function candidates(height: number, preferLeft: boolean): Omit<LabelPlacement, "id">[] {
  const right = { dx: GAP, anchor: "start" as const };
  const left = { dx: -GAP, anchor: "end" as const };
  const sides = preferLeft ? [left, right] : [right, left];
  const out: Omit<LabelPlacement, "id">[] = [];
  for (const dy of [0, height, -height, 2 * height]) {
    for (const side of sides) {
      out.push({ ...side, dy });
    }
  }
  return out;
}

function boxOf(request: LabelRequest, place: Omit<LabelPlacement, "id">): Box {
  const left = place.anchor === "start" ? request.x + place.dx : request.x + place.dx - request.width;
  // The label's first line sits slightly above the marker's centre.
  const top = request.y + place.dy - request.height / 2;
  return { left, top, right: left + request.width, bottom: top + request.height };
}

function overlaps(a: Box, b: Box): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/** Labels of markers in the right quarter of the map prefer its left (text widths are estimates). */
const RIGHT_QUARTER = 0.75;

/** Placements for `requests` on a map `mapWidth` wide (labels near the right edge prefer the left). */
export function placeLabels(requests: LabelRequest[], mapWidth: number): LabelPlacement[] {
  const placed: Box[] = [];
  return requests.map((request) => {
    const nearRightEdge = request.x > mapWidth * RIGHT_QUARTER || request.x + GAP + request.width > mapWidth;
    const options = candidates(request.height, nearRightEdge);
    const free = options.find((option) => !placed.some((box) => overlaps(box, boxOf(request, option))));
    const choice = free ?? options[0]!;
    placed.push(boxOf(request, choice));
    return { id: request.id, ...choice };
  });
}
