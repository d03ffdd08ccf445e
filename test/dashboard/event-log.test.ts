import { describe, expect, it } from "vitest";
import { describeEvent } from "../../dashboard/src/event-log";

describe("the fleet event log", () => {
  it("logs a region's change of health, not its load changes", () => {
    const changed = (healthy: boolean) =>
      ({
        type: "region.changed",
        id: "1",
        at: 1,
        region: "sa-east-1",
        healthy,
        capacity: 0,
        inFlight: 0,
        queued: 3,
      }) as const;
    expect(describeEvent(changed(false), true)).toBe("◆ sa-east-1 is unhealthy");
    expect(describeEvent(changed(true), false)).toBe("● sa-east-1 is healthy again");
    expect(describeEvent(changed(true), true)).toBeNull();
    expect(describeEvent(changed(true), undefined)).toBeNull();
  });

  it("logs nodes and leaders, and leaves task events to the arcs and counters", () => {
    expect(
      describeEvent({
        type: "node.down",
        id: "2",
        at: 1,
        nodeId: "n1",
        region: "r",
        reason: "dead",
      }),
    ).toBe("▼ node n1 down in r: dead");
    expect(
      describeEvent({ type: "leader.changed", id: "3", at: 1, election: "leader:r", leader: "n2", term: 4 }),
    ).toBe("★ leader:r: n2 leads (term 4)");
    const named = (id: string) => (id === "n2" ? "dublin-2" : id);
    expect(
      describeEvent(
        { type: "leader.changed", id: "3", at: 1, election: "leader:r", leader: "n2", term: 4 },
        undefined,
        named,
      ),
    ).toBe("★ leader:r: dublin-2 leads (term 4)");
    expect(
      describeEvent({
        type: "task.leased",
        id: "4",
        at: 1,
        taskId: "t",
        region: "r",
        nodeId: "n",
        attempt: 1,
      }),
    ).toBeNull();
  });
});
