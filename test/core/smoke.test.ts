import { expect, it } from "vitest";

it("unit project runs", () => {
  expect(1 + 1).toBe(2);
});
