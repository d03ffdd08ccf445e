import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startWrangler, stopWrangler } from "../../scripts/dev.mjs";

const root = resolve(import.meta.dirname, "../..");

/** Short timings so failure detection takes seconds, not tens of seconds. */
export const TIMINGS = { HEARTBEAT_INTERVAL_MS: 500, NODE_DEAD_AFTER_MS: 2500 } as const;

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Polls `probe` every `everyMs` until it returns something other than undefined/false; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) {
        return value;
      }
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** JSON over HTTP with a bearer token; answers the status and parsed body (never throws on 4xx/5xx). */
export class Api {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  async call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
  }

  /** The body of a call that must answer 2xx. */
  async ok<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const reply = await this.call<T>(method, path, body);
    if (reply.status >= 300) {
      throw new Error(`${method} ${path} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
    }
    return reply.body;
  }
}

/** A server's failure-detection timings (wrangler vars). */
export type Timings = { HEARTBEAT_INTERVAL_MS: number; NODE_DEAD_AFTER_MS: number } & {
  /** Other settings a test file needs (e.g. a push endpoint's breaker timings). */
  [setting: string]: number | string;
};

/** A real `wrangler dev` on a free port with its own state directory and admin token. */
export class Server {
  child: ChildProcess | null = null;
  /** The short TIMINGS unless a test file needs others (e.g. the server's defaults). */
  constructor(readonly timings: Timings = TIMINGS) {}
  readonly admin = `e2e_admin_${randomBytes(12).toString("hex")}`;
  readonly persist = mkdtempSync(join(tmpdir(), "meridian-e2e-"));
  port = 0;
  url = "";

  async start(): Promise<this> {
    this.port ||= await freePort();
    const { child, url } = await startWrangler({
      port: this.port,
      persist: this.persist,
      vars: { ADMIN_TOKEN: this.admin, ...this.timings },
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
    });
    // Kept for failures only; a warning about the placeholder `request.cf` is expected offline.
    child.stderr?.resume();
    this.child = child;
    this.url = url;
    return this;
  }

  /** Stops wrangler and workerd: SIGKILL simulates the runtime crashing. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.child) {
      await stopWrangler(this.child, { signal, timeoutMs: 5000 });
      this.child = null;
    }
  }

  /** Stops for good and deletes the state directory. */
  async dispose(): Promise<void> {
    await this.stop("SIGKILL");
    rmSync(this.persist, { recursive: true, force: true });
  }

  get api(): Api {
    return new Api(this.url, this.admin);
  }

  /** Creates the regions and mints one token per role. */
  async seed(
    regions: Record<string, { lat: number; lon: number }>,
  ): Promise<Record<"node" | "client" | "reader", string>> {
    for (const [id, at] of Object.entries(regions)) {
      await this.api.ok("PUT", `/v1/regions/${id}`, at);
    }
    const mint = async (role: string) =>
      (await this.api.ok("POST", "/v1/tokens", { role, label: `e2e ${role}` })).token;
    return { node: await mint("node"), client: await mint("client"), reader: await mint("reader") };
  }
}

/** One line an agent process printed, with when the test saw it. */
export interface Line {
  at: number;
  text: string;
}

/** The fixture handlers' record of one execution (see fixtures/handlers.ts). */
export interface Run {
  phase: "start" | "end";
  id: string;
  attempt: number;
  node: string;
  region: string;
  pid: number;
  at: number;
}

/** A real `meridian-agent` process running test/e2e/fixtures/handlers.ts. */
export class AgentProcess {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private listeners: (() => void)[] = [];

  constructor(options: {
    url: string;
    token: string;
    region: string;
    name: string;
    runLog: string;
    capacity?: number;
    campaign?: string[];
  }) {
    const args = [
      join(root, "bin", "meridian-agent.mjs"),
      "--url",
      options.url,
      "--region",
      options.region,
      "--name",
      options.name,
      "--capacity",
      String(options.capacity ?? 1),
      ...(options.campaign ?? []).flatMap((c) => ["--campaign", c]),
      join(root, "test", "e2e", "fixtures", "handlers.ts"),
    ];
    // The token travels in the environment, as a real deployment would pass it.
    this.child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, MERIDIAN_TOKEN: options.token, E2E_RUN_LOG: options.runLog },
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buffered = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        buffered += chunk;
        const parts = buffered.split("\n");
        buffered = parts.pop() ?? "";
        for (const text of parts) {
          this.lines.push({ at: Date.now(), text });
        }
        for (const listener of this.listeners.splice(0)) {
          listener();
        }
      });
    }
    this.exited = new Promise((resolveExit) =>
      this.child.once("exit", (code, signal) => resolveExit({ code, signal })),
    );
  }

  /** The first line matching `pattern` (waiting up to `timeoutMs`). */
  async waitForLine(pattern: RegExp, timeoutMs = 20_000): Promise<Line & { match: RegExpMatchArray }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const match = line.text.match(pattern);
        if (match) {
          return { ...line, match };
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(`no line matching ${pattern} (exit ${this.child.exitCode}):\n${this.output()}`);
      }
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.min(left, 250));
        this.listeners.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  /** The node id it registered (the latest one, waiting for the first). */
  async nodeId(): Promise<string> {
    await this.waitForLine(/registered in/);
    const ids = this.lines
      .map((l) => l.text.match(/\[agent \S+ (node-\S+)\] registered in/)?.[1])
      .filter(Boolean);
    return ids[ids.length - 1]!;
  }

  output(): string {
    return this.lines.map((l) => l.text).join("\n");
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
  }
}

/** Every execution the fixture handlers logged to `file`. */
export function readRuns(file: string): Run[] {
  if (!existsSync(file)) {
    return [];
  }
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as Run);
}

/** A fresh temp file path for a run log. */
export function runLogPath(): string {
  return join(mkdtempSync(join(tmpdir(), "meridian-runs-")), "runs.jsonl");
}

/** Real coordinates of the regions and cities the tests use. */
export const PLACES = {
  frankfurt: { lat: 50.1109, lon: 8.6821 },
  ashburn: { lat: 39.0438, lon: -77.4874 },
  tokyo: { lat: 35.6762, lon: 139.6503 },
  saoPaulo: { lat: -23.5505, lon: -46.6333 },
  capeTown: { lat: -33.9249, lon: 18.4241 },
  paris: { lat: 48.8566, lon: 2.3522 },
  warsaw: { lat: 52.2297, lon: 21.0122 },
  newYork: { lat: 40.7128, lon: -74.006 },
  chicago: { lat: 41.8781, lon: -87.6298 },
  seoul: { lat: 37.5665, lon: 126.978 },
  osaka: { lat: 34.6937, lon: 135.5023 },
  buenosAires: { lat: -34.6037, lon: -58.3816 },
  johannesburg: { lat: -26.2041, lon: 28.0473 },
} as const;

/**
 * One server for a test file: started before its tests; after them its agents are killed and the
 * server disposed. Call inside `describe`; hooks registered later run after the start.
 */
export function serverForFile(timings?: Timings): { server: Server; agents: AgentProcess[] } {
  const server = new Server(timings);
  const agents: AgentProcess[] = [];
  beforeAll(async () => {
    await server.start();
  });
  afterAll(async () => {
    for (const agent of agents) {
      agent.kill("SIGKILL");
    }
    await server.dispose();
  });
  return { server, agents };
}
