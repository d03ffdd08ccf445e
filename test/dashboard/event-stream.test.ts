import { describe, expect, it } from "vitest";
import { EventStream, type StreamState } from "../../dashboard/src/event-stream";
import type { LiveEvent } from "../../dashboard/src/live-events";

/** A response whose body is `text` (an SSE stream that ends after it). */
function sse(text: string): Response {
  return new Response(text, { status: 200, headers: { "content-type": "text/event-stream" } });
}

const ERROR = (status: number, code: string) =>
  new Response(JSON.stringify({ error: { code, message: code } }), { status });

/** Runs a stream against scripted answers; records requests, states, events and waits. */
async function run(answers: Response[]) {
  const requests: Headers[] = [];
  const states: StreamState["kind"][] = [];
  const events: LiveEvent[] = [];
  const waits: number[] = [];
  const controls: string[] = [];
  const stream = new EventStream(
    "/v1/events",
    "Bearer reader-token",
    {
      event: (e) => events.push(e),
      state: (s) => states.push(s.kind),
      dropped: (n) => controls.push(`dropped ${n}`),
      reset: (why) => controls.push(`reset ${why}`),
    },
    {
      fetch: async (_url, init) => {
        requests.push(new Headers(init?.headers));
        const next = answers.shift();
        if (!next) {
          throw new Error("no more answers");
        }
        return next;
      },
      sleep: async (ms) => {
        waits.push(ms);
        if (answers.length === 0) {
          stream.stop();
        }
      },
      random: () => 0.5,
    },
  );
  await stream.start();
  return { requests, states, events, waits, controls };
}

const ROUTED =
  'id: 41\nevent: task.routed\ndata: {"id":"41","type":"task.routed","at":5,"taskId":"t-1","taskType":"w","region":"r","origin":null,"reason":"nearest"}\n\n';

describe("the dashboard's event stream (fetch + SSE instead of EventSource)", () => {
  it("sends the token in a header, resumes with Last-Event-ID after a drop, and stops on a refused token", async () => {
    const { requests, states, events, waits, controls } = await run([
      sse(`: keep-alive\n${ROUTED}event: dropped\ndata: {"missed":3}\n\n`),
      sse('id: 42\nevent: reset\ndata: {"reason":"too_old"}\n\n'),
      ERROR(401, "unauthorized"),
    ]);
    expect(requests[0]!.get("authorization")).toBe("Bearer reader-token");
    expect(requests[0]!.get("last-event-id")).toBeNull();
    expect(requests[1]!.get("last-event-id")).toBe("41");
    expect(requests[2]!.get("last-event-id")).toBe("42");
    expect(events.map((e) => [e.type, e.id])).toEqual([["task.routed", "41"]]);
    expect(controls).toEqual(["dropped 3", "reset too_old"]);
    expect(states).toEqual([
      "connecting",
      "live",
      "reconnecting",
      "connecting",
      "live",
      "reconnecting",
      "connecting",
      "refused",
    ]);
    // Data flowed on each connection, so each drop starts the back-off over (about 500 ms).
    expect(waits).toHaveLength(2);
    expect(waits.every((ms) => ms >= 250 && ms <= 500)).toBe(true);
  });

  it("backs off longer after each failed connection", async () => {
    const { waits } = await run([
      ERROR(503, "unavailable"),
      ERROR(503, "unavailable"),
      ERROR(503, "unavailable"),
    ]);
    expect(waits.length).toBeGreaterThanOrEqual(3);
    expect(waits[1]!).toBeGreaterThan(waits[0]!);
    expect(waits[2]!).toBeGreaterThan(waits[1]!);
  });

  it("starts afresh (and reloads state) when the server refuses to resume from its last id", async () => {
    const { requests, controls } = await run([sse(ROUTED), ERROR(400, "invalid_request"), sse("")]);
    expect(requests[1]!.get("last-event-id")).toBe("41");
    expect(controls).toEqual(["reset bad_last_event_id"]);
    expect(requests[2]!.get("last-event-id")).toBeNull();
  });

  it("says live events are unavailable on 404 and asks again much later", async () => {
    const { states, waits } = await run([ERROR(404, "not_found")]);
    expect(states).toEqual(["connecting", "unavailable"]);
    expect(waits).toEqual([30_000]);
  });
});
