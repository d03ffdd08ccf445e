import { describe, expect, it } from "vitest";
import { placeLabels } from "../../dashboard/src/label-layout";

const label = (id: string, x: number, y: number) => ({ id, x, y, width: 100, height: 26 });

describe("region labels on the map", () => {
  it("go to the right of their marker when nothing is in the way", () => {
    expect(placeLabels([label("a", 100, 100), label("b", 400, 300)], 960)).toEqual([
      { id: "a", dx: 11, dy: 0, anchor: "start" },
      { id: "b", dx: 11, dy: 0, anchor: "start" },
    ]);
  });

  it("of nearby regions move so they do not overlap (Dublin and Frankfurt)", () => {
    const [dublin, frankfurt] = placeLabels(
      [label("eu-west-1", 455, 118), label("eu-central-1", 490, 128)],
      960,
    );
    expect(dublin).toEqual({ id: "eu-west-1", dx: 11, dy: 0, anchor: "start" });
    expect(frankfurt).not.toEqual({ id: "eu-central-1", dx: 11, dy: 0, anchor: "start" });
    // The two boxes are apart: either side by side or one line band above/below the other.
    const box = (x: number, y: number, p: { dx: number; dy: number; anchor: string }) => {
      const left = p.anchor === "start" ? x + p.dx : x + p.dx - 100;
      return { left, right: left + 100, top: y + p.dy - 13, bottom: y + p.dy + 13 };
    };
    const a = box(455, 118, dublin!);
    const b = box(490, 128, frankfurt!);
    expect(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top).toBe(true);
  });

  it("near the right edge go to the left, so they are not cut off", () => {
    expect(placeLabels([label("ap-northeast-1", 900, 200)], 960)[0]).toMatchObject({
      anchor: "end",
      dx: -11,
    });
  });
});
