import { beforeEach, describe, expect, it } from "vitest";
import { HttpClient } from "../../src/sdk/http.ts";
import { OutcomeReporter, type ReportChannel } from "../../src/sdk/outcome-reporter.ts";
import type { ReportItemInput } from "../../src/sdk/types.ts";
import { ManualClock } from "./manual-clock.ts";

type Answer = Response | "network";

/** Virtual time of the reporter under test (each test gets a fresh one). */
let clock: ManualClock;

beforeEach(() => {
  clock = new ManualClock();
});

/** A fetch answering from a queue (by path prefix), recording what it was sent and when. */
function fakeFetch(answers: Record<string, Answer[]>) {
  const sent: { path: string; body: any; at: number }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const path = new URL(String(input)).pathname;
    sent.push({ path, body: JSON.parse(String(init?.body)), at: clock.now() });
    const key = Object.keys(answers).find((k) => path.endsWith(k));
    const answer = key ? answers[key]!.shift() : undefined;
    if (answer === undefined) {
      throw new Error(`no answer for ${path}`);
    }
    if (answer === "network") {
      throw new TypeError("fetch failed");
    }
    return answer;
  };
  return { fetch, sent };
}

const ok = (body: unknown) => new Response(JSON.stringify(body), { status: 200 });
const conflict = (reason: string) =>
  new Response(JSON.stringify({ error: { code: "conflict", message: reason, reason } }), { status: 409 });

function reporter(fetch: typeof globalThis.fetch, onNodeGone: (id: string) => void = () => {}) {
  return new OutcomeReporter({
    http: new HttpClient({ url: "http://m.test", token: "t", fetch, clock }),
    onNodeGone,
    signal: new AbortController().signal,
    clock,
    random: () => 0,
  });
}

const later = () => clock.now() + 10_000;

describe("OutcomeReporter", () => {
  it("sends a lone outcome to complete, several at once in one report", async () => {
    const { fetch, sent } = fakeFetch({
      "/complete": [ok({ status: "succeeded" })],
      "/report": [
        ok({
          results: [
            { id: "b", status: "succeeded" },
            { id: "c", status: "scheduled" },
          ],
        }),
      ],
    });
    const r = reporter(fetch);
    expect(
      await clock.run(r.report("n1", { id: "a", leaseToken: "la", outcome: "succeeded", result: 1 }, later)),
    ).toEqual({
      recorded: true,
      status: "succeeded",
    });
    const both = await clock.run(
      Promise.all([
        r.report("n1", { id: "b", leaseToken: "lb", outcome: "succeeded", result: 2 }, later),
        r.report("n1", { id: "c", leaseToken: "lc", outcome: "failed", error: "x", retryable: true }, later),
      ]),
    );
    expect(both).toEqual([
      { recorded: true, status: "succeeded" },
      { recorded: true, status: "scheduled" },
    ]);
    expect(sent.map((s) => s.path)).toEqual(["/v1/tasks/a/complete", "/v1/nodes/n1/report"]);
    expect(sent[1]!.body.reports.map((x: { id: string }) => x.id)).toEqual(["b", "c"]);
  });

  it("retries after transport errors, and gives up once the lease has run out", async () => {
    const { fetch, sent } = fakeFetch({ "/fail": ["network", "network", ok({ status: "failed" })] });
    const r = reporter(fetch);
    const startedAt = clock.now();
    const recorded = await clock.run(
      r.report("n1", { id: "a", leaseToken: "l", outcome: "failed", error: "e", retryable: false }, later),
    );
    expect(recorded).toEqual({ recorded: true, status: "failed" });
    expect(sent.length).toBe(3);
    // Back-off at random() = 0: 125 ms, then 250 ms.
    expect(sent.map((s) => s.at - startedAt)).toEqual([0, 125, 375]);

    const { fetch: down, sent: tries } = fakeFetch({
      "/complete": ["network", "network", "network", "network"],
    });
    const downAt = clock.now();
    const deadline = downAt + 300;
    const lost = await clock.run(
      reporter(down).report("n1", { id: "b", leaseToken: "l", outcome: "succeeded" }, () => deadline),
    );
    expect(lost.recorded).toBe(false);
    expect(lost).toEqual({
      recorded: false,
      reason: "Meridian could not be reached before the lease ran out",
    });
    // Tries at +0, +125 and +375; by the third failure the lease has run out, so no fourth try.
    expect(tries.map((s) => s.at - downAt)).toEqual([0, 125, 375]);
  });

  it("takes already_terminal for a success as recorded (an earlier try got through), lease_lost as not", async () => {
    const { fetch } = fakeFetch({ "/complete": [conflict("already_terminal"), conflict("lease_lost")] });
    const r = reporter(fetch);
    expect(
      await clock.run(r.report("n1", { id: "a", leaseToken: "l", outcome: "succeeded" }, later)),
    ).toEqual({
      recorded: true,
      status: "succeeded",
    });
    expect(
      await clock.run(r.report("n1", { id: "b", leaseToken: "l", outcome: "succeeded" }, later)),
    ).toEqual({
      recorded: false,
      reason: "lease_lost",
    });
  });

  it("records a failure when a result is too large to store", async () => {
    const tooLarge = new Response(JSON.stringify({ error: { code: "payload_too_large", message: "big" } }), {
      status: 413,
    });
    const { fetch, sent } = fakeFetch({ "/complete": [tooLarge], "/fail": [ok({ status: "failed" })] });
    const recorded = await clock.run(
      reporter(fetch).report("n1", { id: "a", leaseToken: "l", outcome: "succeeded", result: "x" }, later),
    );
    expect(recorded).toEqual({ recorded: true, status: "failed" });
    expect(sent[1]).toEqual({
      at: clock.now(),
      path: "/v1/tasks/a/fail",
      body: {
        leaseToken: "l",
        error: "the handler's result is over Meridian's body limit",
        retryable: false,
      },
    });
  });

  it("tells the agent when a report finds its node dead", async () => {
    const { fetch } = fakeFetch({ "/report": [conflict("node_dead")] });
    const gone: string[] = [];
    const r = reporter(fetch, (id) => gone.push(id));
    const results = await clock.run(
      Promise.all([
        r.report("n1", { id: "a", leaseToken: "l", outcome: "succeeded" }, later),
        r.report("n1", { id: "b", leaseToken: "l", outcome: "succeeded" }, later),
      ]),
    );
    expect(results.every((x) => !x.recorded)).toBe(true);
    expect(gone).toEqual(["n1"]);
  });
});

describe("OutcomeReporter over a node channel", () => {
  /** A channel that records the report frames it is given and records every outcome. */
  function channel() {
    const frames: ReportItemInput[][] = [];
    const open: ReportChannel = {
      report: async (reports) => {
        frames.push(reports);
        return reports.map((r) => ({ id: r.id, ok: true as const, status: r.outcome }));
      },
    };
    const r = new OutcomeReporter({
      http: new HttpClient({
        url: "http://m.test",
        token: "t",
        fetch: () => Promise.reject(new Error("no HTTP")),
        clock,
      }),
      channelFor: async () => open,
      onNodeGone: () => {},
      signal: new AbortController().signal,
      clock,
    });
    return { r, frames };
  }

  it("packs outcomes that finish together into frames of at most 100, within the frame limit", async () => {
    const { r, frames } = channel();
    const many = Array.from({ length: 150 }, (_, i) =>
      r.report("n1", { id: `t${i}`, leaseToken: "l", outcome: "succeeded", result: i }, later),
    );
    await clock.run(Promise.all(many));
    expect(frames.map((f) => f.length)).toEqual([100, 50]);
    // 100 kB of two-byte characters each: two fit in a 256 kB frame, three would not.
    const wide = "é".repeat(50_000);
    const big = [1, 2, 3].map((i) =>
      r.report("n1", { id: `w${i}`, leaseToken: "l", outcome: "succeeded", result: wide }, later),
    );
    expect(await clock.run(Promise.all(big))).toEqual(Array(3).fill({ recorded: true, status: "succeeded" }));
    expect(frames.slice(2).map((f) => f.map((x) => x.id))).toEqual([["w1", "w2"], ["w3"]]);
  });

  it("records a failure for a result that no frame can carry", async () => {
    const { r, frames } = channel();
    const huge = "x".repeat(300 * 1024);
    const recorded = await clock.run(
      r.report("n1", { id: "a", leaseToken: "l", outcome: "succeeded", result: huge }, later),
    );
    expect(recorded).toEqual({ recorded: true, status: "failed" });
    expect(frames).toEqual([
      [
        {
          id: "a",
          leaseToken: "l",
          outcome: "failed",
          error: "the handler's result is over Meridian's frame limit",
          retryable: false,
        },
      ],
    ]);
  });
});
