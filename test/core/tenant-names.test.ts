import { describe, expect, it } from "vitest";
import { scopedName, shownName, splitScoped } from "../../src/core/tenant-names";

describe("tenant-scoped names", () => {
  it("keeps default's names as they were and prefixes every other tenant's", () => {
    expect(scopedName("default", "db")).toBe("db");
    expect(scopedName("acme", "db")).toBe("acme/db");
    expect(splitScoped("db")).toEqual({ tenant: "default", name: "db" });
    expect(splitScoped("acme/db")).toEqual({ tenant: "acme", name: "db" });
  });

  it("round-trips any tenant and name, and never gives two tenants one key", () => {
    const names = ["db", "a.b:c-d", "0"];
    const tenants = ["default", "acme", "acme.eu", "a"];
    const keys = new Set<string>();
    for (const tenant of tenants) {
      for (const name of names) {
        const key = scopedName(tenant, name);
        expect(splitScoped(key)).toEqual({ tenant, name });
        keys.add(key);
      }
    }
    expect(keys.size).toBe(names.length * tenants.length);
  });

  it("shows a tenant its names bare and a global viewer the stored key", () => {
    expect(shownName("acme", "acme/db")).toBe("db");
    expect(shownName(null, "acme/db")).toBe("acme/db");
    expect(shownName(null, "db")).toBe("db");
  });
});
