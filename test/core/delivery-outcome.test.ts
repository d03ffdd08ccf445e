import { describe, expect, it } from "vitest";
import {
  breakerSignalOf,
  MAX_RESULT_CHARS,
  outcomeOfError,
  outcomeOfResponse,
} from "../../src/core/delivery-outcome";

describe("a push delivery's outcome (src/core/delivery-outcome.ts)", () => {
  it.each([
    [200, '{"ok":true}', { kind: "succeeded", result: { ok: true } }],
    [201, "", { kind: "succeeded", result: null }],
    [204, "", { kind: "succeeded", result: null }],
    [200, "done", { kind: "succeeded", result: "done" }],
    [409, "duplicate", { kind: "rejected", error: "endpoint answered 409: duplicate" }],
    [410, "", { kind: "rejected", error: "endpoint answered 410" }],
    [422, "bad payload", { kind: "rejected", error: "endpoint answered 422: bad payload" }],
    [500, "boom", { kind: "failed", error: "endpoint answered 500: boom" }],
    [503, "", { kind: "failed", error: "endpoint answered 503" }],
    [404, "", { kind: "failed", error: "endpoint answered 404" }],
    [401, "", { kind: "failed", error: "endpoint answered 401" }],
    [302, "", { kind: "failed", error: "endpoint answered 302" }],
    [429, "", { kind: "failed", error: "endpoint answered 429" }],
  ])("status %i body %j → %j", (status, body, outcome) => {
    expect(outcomeOfResponse(status, body)).toEqual(outcome);
  });

  it("a result over the body limit fails the task for good; an error body is cut short", () => {
    expect(outcomeOfResponse(200, "x".repeat(MAX_RESULT_CHARS + 1)).kind).toBe("rejected");
    const failed = outcomeOfResponse(500, "e".repeat(10_000));
    expect(failed.kind === "failed" && failed.error.length).toBeLessThan(300);
  });

  it("no answer in time, or none at all, is a failed attempt (retried)", () => {
    expect(outcomeOfError(new Error("aborted"), true, 1500)).toEqual({
      kind: "failed",
      error: "endpoint did not answer within 1500 ms",
    });
    expect(outcomeOfError(new TypeError("connection refused"), false, 1500)).toEqual({
      kind: "failed",
      error: "endpoint unreachable: connection refused",
    });
  });

  it("a deliberate answer (success or refusal) keeps the breaker closed; the rest counts against it", () => {
    expect(breakerSignalOf({ kind: "succeeded", result: 1 })).toBe("success");
    expect(breakerSignalOf({ kind: "rejected", error: "" })).toBe("success");
    expect(breakerSignalOf({ kind: "failed", error: "" })).toBe("failure");
  });
});
