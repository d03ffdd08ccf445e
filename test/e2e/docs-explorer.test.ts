import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, screenshot } from "./browser";
import { PLACES, serverForFile } from "./harness";

describe("/docs: the API explorer (Swagger UI served by the Worker itself)", () => {
  const { server } = serverForFile();
  let tokens: Record<"node" | "client" | "reader", string>;
  let browser: Browser;

  beforeAll(async () => {
    tokens = await server.seed({ "eu-central": PLACES.frankfurt });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("renders every route of /openapi.json, and 'try it' with Authorize calls the same origin", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await context.newPage();
    // Nothing may be fetched from anywhere but this server (offline machines; no CDN).
    const elsewhere: string[] = [];
    p.on("request", (request) => {
      if (!request.url().startsWith(server.url) && !request.url().startsWith("data:")) {
        elsewhere.push(request.url());
      }
    });
    await p.goto(`${server.url}/docs`);
    await p.waitForSelector(".swagger-ui .opblock");
    const operation = "#operations-regions-get_v1_regions";
    await p.waitForSelector(operation);
    const blocks = await p.$$eval(".swagger-ui .opblock", (nodes) => nodes.length);
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, object>;
    };
    const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
    expect(blocks).toBe(operations);

    // Authorize with a reader token.
    await p.click(".swagger-ui .auth-wrapper button.authorize");
    await p.fill(".swagger-ui .modal-ux input", tokens.reader);
    await p.click(".swagger-ui .modal-ux .auth-btn-wrapper button.authorize");
    await p.click(".swagger-ui .modal-ux button.btn-done");

    // Try GET /v1/regions.
    await p.click(`${operation} .opblock-summary`);
    await p.click(`${operation} .try-out__btn`);
    await p.click(`${operation} .execute`);
    const status = `${operation} .live-responses-table tr.response .response-col_status`;
    await p.waitForSelector(status);
    expect((await p.textContent(status))?.trim()).toBe("200");
    expect(
      await p.textContent(`${operation} .live-responses-table tr.response .response-col_description`),
    ).toContain("eu-central");
    await p.locator(`${operation} .live-responses-table`).scrollIntoViewIfNeeded();
    // The curl line shows the token: painted over (no token in the repo, even a dead one).
    await screenshot(p, "docs-explorer", { mask: [".swagger-ui .curl-command"] });
    expect(elsewhere).toEqual([]);
    await context.close();
  });
});
