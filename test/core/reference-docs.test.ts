import { describe, expect, it } from "vitest";
import { configurationDoc, troubleshootingDoc } from "./reference-docs";

// The committed reference docs are exactly what the code says; `npm run docs` rewrites them (`-u`).
describe("reference docs made from the code", () => {
  it("docs/CONFIGURATION.md lists every setting and limit as the schema and constants have them", async () => {
    await expect(configurationDoc()).toMatchFileSnapshot("../../docs/CONFIGURATION.md");
  });

  it("docs/TROUBLESHOOTING.md lists every error code and reason as the error tables have them", async () => {
    await expect(troubleshootingDoc()).toMatchFileSnapshot("../../docs/TROUBLESHOOTING.md");
  });
});
