/**
 * What live event streams cost the scheduler (issue 11): the task lifecycle of the shards bench
 * (submit 100 / poll 100 / report 100 per cycle, `connections` nodes of one region) with no
 * `GET /v1/events` stream open, and with `streams` of them open and read as fast as they come (ten
 * dashboards). The two take turns, the same measured time each, so the machine's other load hits
 * them alike. `events.overhead.ratio` = tasks/s without ÷ tasks/s with (target ≤ 1.1).
 *
 * Every task makes three events (routed, leased, succeeded), so each open stream carries three
 * messages per task. Events are produced and numbered in both turns (a resume must find them):
 * the ratio is the cost of serving the streams, not of producing the events.
 */
import { request as httpRequest } from "node:http";
import type { HttpClient } from "./load.ts";
import type { BenchServer } from "./server.ts";
import { lifecycle, setUp } from "./shards.ts";

export interface EventsBenchOptions {
  connections: number;
  /** Measured time per side (with, without), over all rounds. */
  durationMs: number;
  warmupMs: number;
  rounds: number;
  /** Open streams in the measured side. */
  streams: number;
  log: (line: string) => void;
}

type Numbers = Record<string, number>;

/** One SSE reader: counts the events and the `dropped` markers it reads. */
interface Reader {
  events: number;
  dropped: number;
  missed: number;
  close(): void;
}

/** Opens `GET /v1/events` and reads it until closed; resolves once the answer's headers are in (200). */
function openStream(url: string, token: string): Promise<Reader> {
  const target = new URL("/v1/events", url);
  return new Promise((resolve, reject) => {
    const reader: Reader = { events: 0, dropped: 0, missed: 0, close: () => req.destroy() };
    // A message may be cut between two chunks: the tail of each is kept until the next.
    let tail = "";
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`events: GET /v1/events -> ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          const text = tail + chunk;
          const end = text.lastIndexOf("\n\n");
          const complete = end === -1 ? "" : text.slice(0, end);
          tail = end === -1 ? text : text.slice(end + 2);
          reader.events += count(complete, "\nid: ") + (complete.startsWith("id: ") ? 1 : 0);
          for (const match of complete.matchAll(/event: dropped\ndata: \{"missed":(\d+)\}/g)) {
            reader.dropped++;
            reader.missed += Number(match[1]);
          }
        });
        res.on("error", () => {});
        resolve(reader);
      },
    );
    req.on("error", (error) => {
      if (!req.destroyed) {
        reject(error);
      }
    });
    req.end();
  });
}

function count(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
    n++;
  }
  return n;
}

async function newReaderToken(server: BenchServer, client: HttpClient): Promise<string> {
  const reply = await client.json<{ token: string }>({
    method: "POST",
    path: "/v1/tokens",
    token: server.adminToken,
    body: { role: "reader", label: "bench events" },
  });
  return reply.token;
}

/** Runs the lifecycle for `durationMs` with `streams` readers open (0: none); tasks/s and what they read. */
async function turn(
  server: BenchServer,
  client: HttpClient,
  stage: Awaited<ReturnType<typeof setUp>>,
  streams: number,
  connections: number,
  durationMs: number,
): Promise<{ tasks: number; seconds: number; events: number; dropped: number; missed: number }> {
  // A token of its own each turn: under `wrangler dev` the hub does not hear that a client hung up,
  // so the last turn's streams hold their token's slots until maxStreamMs (see EventHub).
  const readerToken = streams === 0 ? "" : await newReaderToken(server, client);
  const readers = await Promise.all(
    Array.from({ length: streams }, () => openStream(server.url, readerToken)),
  );
  try {
    const run = await lifecycle(client, stage, 1, 0, connections, durationMs);
    return {
      tasks: run.tasks,
      seconds: run.seconds,
      events: readers.reduce((sum, r) => sum + r.events, 0),
      dropped: readers.reduce((sum, r) => sum + r.dropped, 0),
      missed: readers.reduce((sum, r) => sum + r.missed, 0),
    };
  } finally {
    for (const r of readers) {
      r.close();
    }
  }
}

/** Measures `events.overhead.ratio` and what the streams carried. */
export async function benchEvents(
  server: BenchServer,
  client: HttpClient,
  options: EventsBenchOptions,
): Promise<Numbers> {
  const { connections, log, streams } = options;
  log(`  setting up one region with ${connections} nodes ...`);
  const stage = await setUp(client, server.adminToken, connections, 1);
  if (options.warmupMs > 0) {
    await turn(server, client, stage, streams, connections, options.warmupMs);
  }
  const sides = {
    without: { tasks: 0, seconds: 0 },
    with: { tasks: 0, seconds: 0, events: 0, dropped: 0, missed: 0 },
  };
  for (let round = 0; round < options.rounds; round++) {
    // Alternating which side goes first, so neither always follows the other.
    const order = round % 2 === 0 ? [0, streams] : [streams, 0];
    for (const open of order) {
      const result = await turn(
        server,
        client,
        stage,
        open,
        connections,
        options.durationMs / options.rounds,
      );
      const side = open === 0 ? sides.without : sides.with;
      side.tasks += result.tasks;
      side.seconds += result.seconds;
      if (open > 0) {
        sides.with.events += result.events;
        sides.with.dropped += result.dropped;
        sides.with.missed += result.missed;
      }
    }
  }
  const without = sides.without.tasks / sides.without.seconds;
  const withStreams = sides.with.tasks / sides.with.seconds;
  const out: Numbers = {
    "events.streams": streams,
    "events.lifecycle.tasksPerSec.none": without,
    "events.lifecycle.tasksPerSec.streaming": withStreams,
    "events.overhead.ratio": without / withStreams,
    // Per stream: about 3 per task when a reader keeps up (routed, leased, succeeded).
    "events.stream.eventsPerSec": sides.with.events / sides.with.seconds / streams,
    "events.stream.eventsPerTask": sides.with.events / streams / Math.max(1, sides.with.tasks),
    "events.stream.dropped": sides.with.dropped,
    "events.stream.missed": sides.with.missed,
  };
  log(
    `  no stream ${without.toFixed(0)} tasks/s, ${streams} streams ${withStreams.toFixed(0)} tasks/s: ratio ${out["events.overhead.ratio"]?.toFixed(3)}; each stream read ${out["events.stream.eventsPerSec"]?.toFixed(0)} events/s (${out["events.stream.eventsPerTask"]?.toFixed(2)} per task), ${sides.with.dropped} dropped markers (${sides.with.missed} events missed)`,
  );
  return out;
}
