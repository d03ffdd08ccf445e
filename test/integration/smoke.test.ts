import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";

it("workers project runs", async () => {
  const stub = env.COORDINATOR.get(env.COORDINATOR.idFromName("x"));
  expect(await stub.ping()).toBe(1);
  expect(env.ADMIN_TOKEN).toBe("test-admin-token");
});
