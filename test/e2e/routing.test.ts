import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeridianClient } from "../../src/sdk/index.ts";
import { AgentProcess, PLACES, readRuns, runLogPath, Server, waitFor } from "./harness.ts";

// Three continents with a fleet each; South America and Africa have regions but no fleet, so
// tasks from there go to the nearest region that is healthy.
const REGIONS = {
  "eu-central-1": PLACES.frankfurt,
  "us-east-1": PLACES.ashburn,
  "ap-northeast-1": PLACES.tokyo,
  "sa-east-1": PLACES.saoPaulo,
  "af-south-1": PLACES.capeTown,
};

// Expected by great-circle distance to the healthy regions (Frankfurt, Ashburn, Tokyo).
const ORIGINS = [
  { city: "Paris", at: PLACES.paris, region: "eu-central-1" },
  { city: "Warsaw", at: PLACES.warsaw, region: "eu-central-1" },
  { city: "New York", at: PLACES.newYork, region: "us-east-1" },
  { city: "Chicago", at: PLACES.chicago, region: "us-east-1" },
  { city: "Seoul", at: PLACES.seoul, region: "ap-northeast-1" },
  { city: "Osaka", at: PLACES.osaka, region: "ap-northeast-1" },
  // São Paulo's own region has no node: Ashburn (~7,600 km) beats Frankfurt (~9,800 km).
  { city: "Buenos Aires", at: PLACES.buenosAires, region: "us-east-1" },
  // Cape Town's region has no node: Frankfurt (~8,700 km) beats Ashburn (~12,900 km).
  { city: "Johannesburg", at: PLACES.johannesburg, region: "eu-central-1" },
];

describe("geo routing with real agents", () => {
  const server = new Server();
  const runLog = runLogPath();
  const agents: AgentProcess[] = [];
  let client: MeridianClient;

  beforeAll(async () => {
    await server.start();
    const tokens = await server.seed(REGIONS);
    client = new MeridianClient({ url: server.url, token: tokens.client });
    for (const region of ["eu-central-1", "us-east-1", "ap-northeast-1"]) {
      agents.push(
        new AgentProcess({ url: server.url, token: tokens.node, region, name: region, runLog, capacity: 4 }),
      );
    }
    await Promise.all(agents.map((a) => a.nodeId()));
    await waitFor("three healthy regions", async () => {
      const regions = await client.regions();
      return regions.filter((r) => r.healthy).length === 3;
    });
  });

  afterAll(async () => {
    for (const agent of agents) {
      agent.kill("SIGKILL");
    }
    await server.dispose();
  });

  it("runs each task in the nearest healthy region", async () => {
    const submitted = await Promise.all(
      ORIGINS.map(({ at }) => client.submit({ type: "work", payload: { ms: 20 }, location: at })),
    );
    const done = await Promise.all(submitted.map((t) => client.waitForResult(t.id, { timeoutMs: 20_000 })));
    done.forEach((task, i) => {
      const origin = ORIGINS[i]!;
      expect({ city: origin.city, status: task.status }).toEqual({ city: origin.city, status: "succeeded" });
      expect({ city: origin.city, routedTo: task.region }).toEqual({
        city: origin.city,
        routedTo: origin.region,
      });
      // The agent that ran it says where it is: the task really ran there.
      expect((task.result as { region: string }).region).toBe(origin.region);
      expect(task.routing.reason).toBe("nearest");
      expect(task.routing.from).toEqual(origin.at);
    });
    const runs = readRuns(runLog).filter((r) => r.phase === "end");
    expect(runs.length).toBe(ORIGINS.length);
  });
});
