import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, openDashboard, screenshot } from "./browser";
import { AgentProcess, PLACES, runLogPath, serverForFile, waitFor } from "./harness";

// Regions of the fleet: three with an agent each, and one near Paris with no node (always unhealthy,
// so a task from Paris has a placement worth explaining).
const FLEET = { "eu-central": PLACES.frankfurt, "us-east": PLACES.ashburn, "ap-northeast": PLACES.tokyo };
const REGIONS = { ...FLEET, "eu-paris": PLACES.paris };

describe("the dashboard, in a browser, against a real wrangler dev and agents", () => {
  const { server, agents } = serverForFile();
  let tokens: Record<"node" | "client" | "reader", string>;
  let browser: Browser;
  const byRegion = new Map<string, AgentProcess>();

  beforeAll(async () => {
    tokens = await server.seed(REGIONS);
    const runLog = runLogPath();
    for (const region of Object.keys(FLEET)) {
      const agent = new AgentProcess({
        url: server.url,
        token: tokens.node,
        region,
        name: `agent-${region}`,
        runLog,
        capacity: 2,
        campaign: [`leader:${region}`],
      });
      agents.push(agent);
      byRegion.set(region, agent);
    }
    await waitFor("every fleet region healthy", async () => {
      const { regions } = await server.api.ok("GET", "/v1/regions");
      return Object.keys(FLEET).every((id) => regions.find((r: { id: string }) => r.id === id)?.healthy);
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function page(viewport = { width: 1280, height: 800 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    return context.newPage();
  }

  it("asks for a token, refuses a bad one with a clear message, and never puts it in the URL", async () => {
    const p = await page();
    await p.goto(`${server.url}/dashboard`);
    expect(await p.isVisible("#token-panel")).toBe(true);
    expect(await p.isVisible("#app")).toBe(false);

    await openDashboard(p, server.url, "made-up-token");
    expect(await p.textContent("#token-error")).toContain("does not know this token");
    expect(await p.textContent("#token-error")).toContain("401");
    expect(await p.isVisible("#app")).toBe(false);

    // A real token of the wrong role: 403, and the message says which role to use.
    await openDashboard(p, server.url, tokens.client);
    expect(await p.textContent("#token-error")).toContain("403");
    expect(await p.textContent("#token-error")).toContain("reader");
    await screenshot(p, "dashboard-token-refused", { element: "#token-panel" });

    await openDashboard(p, server.url, tokens.reader);
    expect(await p.isVisible("#app")).toBe(true);
    expect(p.url()).toBe(`${server.url}/dashboard`);
    expect(await p.evaluate(() => sessionStorage.getItem("meridian.readerToken"))).toBe(tokens.reader);
    await p.context().close();
  });

  it("shows every region on the map and its nodes, link and leader in the region cards", async () => {
    const p = await page();
    await openDashboard(p, server.url, tokens.reader);
    for (const region of Object.keys(REGIONS)) {
      await p.waitForSelector(`.world-map .region[data-region="${region}"]`);
    }
    expect(await p.getAttribute('.world-map .region[data-region="eu-paris"]', "data-health")).toBe(
      "unhealthy",
    );
    for (const region of Object.keys(FLEET)) {
      const card = `.region-card[data-region="${region}"]`;
      await p.waitForSelector(`${card}[data-health="healthy"] tr.node`);
      const row = await p.textContent(`${card} tr.node`);
      expect(row).toContain(`agent-${region}`);
      expect(row).toContain("healthy");
      expect(row).toContain("channel");
      await p.waitForSelector(`${card} li[data-election="leader:${region}"] strong`);
      expect(await p.textContent(`${card} li[data-election="leader:${region}"]`)).toContain(
        `agent-${region}`,
      );
    }
    await screenshot(p, "dashboard");
    await p.setViewportSize({ width: 390, height: 844 });
    await p.waitForTimeout(300); // the charts follow their boxes' new width on the next frame
    await screenshot(p, "dashboard-phone");
    await p.context().close();
  });

  it("draws a submitted task as an arc from its city and counts it", async () => {
    const p = await page();
    await openDashboard(p, server.url, tokens.reader);
    await p.waitForSelector('#live-status[data-state="live"]');
    const routedBefore = Number(await p.textContent('[data-counter="routed"]'));
    const submitted = await fetch(`${server.url}/v1/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.client}` },
      body: JSON.stringify({ type: "work", location: PLACES.warsaw }),
    });
    const task = (await submitted.json()) as { id: string; region: string };
    await p.waitForSelector(`.world-map .arc[data-task-id="${task.id}"][data-region="${task.region}"]`, {
      state: "attached",
      timeout: 5000,
    });
    await waitFor(
      "the routed counter to count it",
      async () => {
        return Number(await p.textContent('[data-counter="routed"]')) > routedBefore;
      },
      5000,
    );
    await waitFor(
      "the succeeded counter to count it",
      async () => {
        return Number(await p.textContent('[data-counter="succeeded"]')) >= 1;
      },
      10_000,
    );
    // A burst from every city, for the picture: arcs to the nearest healthy regions, fading.
    await fetch(`${server.url}/v1/tasks:batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.client}` },
      body: JSON.stringify({ tasks: Object.values(PLACES).map((location) => ({ type: "work", location })) }),
    });
    await waitFor("arcs of the burst", async () => (await p.locator(".world-map .arc").count()) >= 8, 8000);
    const burst = routedBefore + 1 + Object.keys(PLACES).length;
    await waitFor(
      "the burst counted",
      async () => Number(await p.textContent('[data-counter="routed"]')) >= burst,
      5000,
    );
    await screenshot(p, "dashboard-live", { element: ".map-panel" });
    await p.context().close();
  });

  it("explains a task's placement in the lookup: the unhealthy region passed over, then the chosen one", async () => {
    const submitted = await fetch(`${server.url}/v1/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.client}` },
      body: JSON.stringify({ type: "work", location: PLACES.paris }),
    });
    const task = (await submitted.json()) as { id: string; region: string };
    expect(task.region).toBe("eu-central");
    const p = await page();
    await openDashboard(p, server.url, tokens.reader);
    await p.fill("#task-id", task.id);
    await p.click("#lookup-form button[type=submit]");
    await p.waitForSelector(`#task-output .task[data-task-id="${task.id}"]`);
    const passed = await p.textContent('.considered li[data-region="eu-paris"]');
    expect(passed).toContain("unhealthy");
    expect(await p.getAttribute('.considered li[data-region="eu-central"]', "data-outcome")).toBe("chosen");
    expect(await p.textContent(".placement-reason")).toContain("eu-central");
    await p.waitForSelector(
      '#task-output .task[data-status="succeeded"], #task-output .task[data-status="leased"], #task-output .task[data-status="queued"]',
    );
    await screenshot(p, "dashboard-task-lookup", { element: ".lookup-panel" });

    await p.fill("#task-id", "t-not-a-real-id");
    await p.click("#lookup-form button[type=submit]");
    await p.waitForSelector("#task-output .error");
    expect(await p.textContent("#task-output .error")).toMatch(/40[04]/);
    await p.context().close();
  });

  it("turns a region unhealthy on the map when its nodes are killed", async () => {
    const p = await page();
    await openDashboard(p, server.url, tokens.reader);
    const marker = '.world-map .region[data-region="ap-northeast"]';
    await p.waitForSelector(`${marker}[data-health="healthy"]`);
    byRegion.get("ap-northeast")!.kill("SIGKILL");
    // Channel grace (1 s) or the node deadline (2.5 s here), then the next poll (2 s) or event.
    await p.waitForSelector(`${marker}[data-health="unhealthy"]`, { timeout: 15_000 });
    expect(await p.textContent(marker)).toContain("UNHEALTHY");
    await p.waitForSelector('.region-card[data-region="ap-northeast"][data-health="unhealthy"]');
    await screenshot(p, "dashboard-region-down", { element: ".map-panel" });
    await p.context().close();
  });
});
