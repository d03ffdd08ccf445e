import { describe, expect, it } from "vitest";
import { HttpClient } from "../../src/sdk/http.ts";
import { OutcomeReporter } from "../../src/sdk/outcome-reporter.ts";

type Answer = Response | "network";

/** A fetch answering from a queue (by path prefix), recording what it was sent. */
function fakeFetch(answers: Record<string, Answer[]>) {
  const sent: { path: string; body: any }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const path = new URL(String(input)).pathname;
    sent.push({ path, body: JSON.parse(String(init?.body)) });
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
    http: new HttpClient({ url: "http://m.test", token: "t", fetch }),
    onNodeGone,
    signal: new AbortController().signal,
    random: () => 0,
  });
}

const later = () => Date.now() + 10_000;

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
      await r.report("n1", { id: "a", leaseToken: "la", outcome: "succeeded", result: 1 }, later),
    ).toEqual({
      recorded: true,
      status: "succeeded",
    });
    const both = await Promise.all([
      r.report("n1", { id: "b", leaseToken: "lb", outcome: "succeeded", result: 2 }, later),
      r.report("n1", { id: "c", leaseToken: "lc", outcome: "failed", error: "x", retryable: true }, later),
    ]);
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
    const recorded = await r.report(
      "n1",
      { id: "a", leaseToken: "l", outcome: "failed", error: "e", retryable: false },
      later,
    );
    expect(recorded).toEqual({ recorded: true, status: "failed" });
    expect(sent.length).toBe(3);

    const { fetch: down } = fakeFetch({ "/complete": ["network", "network", "network", "network"] });
    const deadline = Date.now() + 300;
    const lost = await reporter(down).report(
      "n1",
      { id: "b", leaseToken: "l", outcome: "succeeded" },
      () => deadline,
    );
    expect(lost.recorded).toBe(false);
  });

  it("takes already_terminal for a success as recorded (an earlier try got through), lease_lost as not", async () => {
    const { fetch } = fakeFetch({ "/complete": [conflict("already_terminal"), conflict("lease_lost")] });
    const r = reporter(fetch);
    expect(await r.report("n1", { id: "a", leaseToken: "l", outcome: "succeeded" }, later)).toEqual({
      recorded: true,
      status: "succeeded",
    });
    expect(await r.report("n1", { id: "b", leaseToken: "l", outcome: "succeeded" }, later)).toEqual({
      recorded: false,
      reason: "lease_lost",
    });
  });

  it("records a failure when a result is too large to store", async () => {
    const tooLarge = new Response(JSON.stringify({ error: { code: "payload_too_large", message: "big" } }), {
      status: 413,
    });
    const { fetch, sent } = fakeFetch({ "/complete": [tooLarge], "/fail": [ok({ status: "failed" })] });
    const recorded = await reporter(fetch).report(
      "n1",
      { id: "a", leaseToken: "l", outcome: "succeeded", result: "x" },
      later,
    );
    expect(recorded).toEqual({ recorded: true, status: "failed" });
    expect(sent[1]).toEqual({
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
    const results = await Promise.all([
      r.report("n1", { id: "a", leaseToken: "l", outcome: "succeeded" }, later),
      r.report("n1", { id: "b", leaseToken: "l", outcome: "succeeded" }, later),
    ]);
    expect(results.every((x) => !x.recorded)).toBe(true);
    expect(gone).toEqual(["n1"]);
  });
});
