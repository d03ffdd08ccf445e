import { describe, expect, it } from "vitest";
import { FleetState, type NodeInfo, type RegionInfo } from "../../dashboard/src/fleet-state";

const region = (id: string, healthy = true): RegionInfo => ({
  id,
  lat: 0,
  lon: 0,
  label: null,
  healthy,
  nodes: { healthy: healthy ? 1 : 0, total: 1 },
  capacity: 4,
  inFlight: 1,
  queued: 0,
});
const node = (id: string, region: string, status: NodeInfo["status"], name?: string): NodeInfo => ({
  id,
  region,
  status,
  capacity: 2,
  inFlight: 0,
  load: 0,
  lastHeartbeatAt: 0,
  labels: name ? { name } : {},
  transport: "channel",
});

const A = "node-aaaaaaaaaaaa-eu-west-1";
const B = "node-bbbbbbbbbbbb-eu-west-1";
const C = "node-cccccccccccc-us-east-1";

function fleet(): FleetState {
  const f = new FleetState();
  f.applySnapshot(
    {
      now: 1,
      regions: [region("us-east-1"), region("eu-west-1")],
      elections: [
        { name: "leader:eu-west-1", term: 7, leader: { candidate: A, term: 7, since: 1 } },
        { name: "nightly-rollup", term: 2, leader: { candidate: C, term: 2, since: 1 } },
        { name: "leader:us-east-1", term: 1, leader: null },
      ],
    },
    [
      node(A, "eu-west-1", "healthy", "dublin-1"),
      node(B, "eu-west-1", "dead"),
      node(C, "us-east-1", "healthy"),
    ],
  );
  return f;
}

describe("the dashboard's fleet state", () => {
  it("keeps the push endpoints of the last snapshot (none from a server without them)", () => {
    const f = fleet();
    expect(f.endpoints).toEqual([]);
    const endpoint = {
      region: "me-central-1",
      name: "executor",
      state: "open" as const,
      inFlight: 0,
      capacity: 8,
    };
    f.applySnapshot(
      { now: 2, regions: [region("me-central-1", false)], elections: [], endpoints: [endpoint] },
      [],
    );
    expect(f.endpoints).toEqual([endpoint]);
  });

  it("finds a region's elections by name or by its leader's node, with the leader's name", () => {
    const f = fleet();
    expect(f.leadershipsOf("eu-west-1")).toEqual([
      { election: "leader:eu-west-1", term: 7, leader: A, leaderName: "dublin-1" },
    ]);
    expect(f.leadershipsOf("us-east-1").map((l) => [l.election, l.leader])).toEqual([
      ["leader:us-east-1", null],
      ["nightly-rollup", C],
    ]);
  });

  it("lists live nodes and counts the dead apart", () => {
    const { live, dead } = fleet().nodesOf("eu-west-1");
    expect(live.map((n) => n.id)).toEqual([A]);
    expect(dead).toBe(1);
  });

  it("counts the dead a paged server reports by status, and the live nodes past the snapshot's cap", () => {
    const f = new FleetState();
    f.applySnapshot(
      {
        now: 1,
        regions: [
          {
            ...region("eu-west-1"),
            nodes: { healthy: 3, total: 3 },
            nodeStatus: { healthy: 3, suspect: 0, draining: 0, dead: 40 },
          },
        ],
        elections: [],
        electionsCursor: "leader:a",
        electionCount: 2000,
      },
      [node(A, "eu-west-1", "healthy")],
      { nodes: false, elections: false },
    );
    expect(f.nodesOf("eu-west-1")).toEqual({
      live: [expect.objectContaining({ id: A })],
      dead: 40,
      notShown: 2,
    });
    f.applyEvent({ type: "node.down", id: "1", at: 2, nodeId: A, region: "eu-west-1", reason: "dead" });
    expect(f.nodesOf("eu-west-1")).toMatchObject({ live: [], dead: 41 });
    expect(f.complete.elections).toBe(false);
  });

  it("applies events between snapshots: health, node down, a new leader", () => {
    const f = fleet();
    f.applyEvent({
      type: "region.changed",
      id: "1",
      at: 2,
      region: "eu-west-1",
      healthy: false,
      capacity: 0,
      inFlight: 0,
      queued: 5,
    });
    f.applyEvent({
      type: "node.down",
      id: "2",
      at: 2,
      nodeId: A,
      region: "eu-west-1",
      reason: "dead",
    });
    f.applyEvent({
      type: "leader.changed",
      id: "3",
      at: 3,
      election: "leader:eu-west-1",
      leader: null,
      term: 8,
    });
    expect(f.regions.get("eu-west-1")).toMatchObject({ healthy: false, queued: 5, capacity: 0 });
    expect(f.nodesOf("eu-west-1")).toMatchObject({ live: [], dead: 2 });
    expect(f.leadershipsOf("eu-west-1")).toEqual([
      { election: "leader:eu-west-1", term: 8, leader: null, leaderName: null },
    ]);
    expect(f.sortedRegions().map((r) => r.id)).toEqual(["eu-west-1", "us-east-1"]);
  });
});
