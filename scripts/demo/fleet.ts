// The demo fleet: agents in every region, run in this process, except the fleet of the dying
// region, which runs as real `meridian-agent` processes that get killed (kill -9) and come back.
import { type ChildProcess, spawn } from "node:child_process";
import type { WriteStream } from "node:fs";
import { join } from "node:path";
import { demoHandlers } from "../../examples/demo-handlers.ts";
import { Agent } from "../../src/sdk/index.ts";
import { type DemoRegion, DYING_REGION, REGIONS } from "./world.ts";

const root = join(import.meta.dirname, "..", "..");

/** Timing of the dying region: up, then killed for a while, then back, again and again. */
export const CHAOS = { firstKillAfterMs: 30_000, downMs: 25_000, upMs: 35_000 } as const;

/** A short name for a region's nodes: us-east-1 → use1, ap-southeast-2 → apse2. */
export function shortName(region: string): string {
  const words: Record<string, string> = {
    east: "e",
    west: "w",
    north: "n",
    south: "s",
    central: "c",
    southeast: "se",
    northeast: "ne",
  };
  return region
    .split("-")
    .map((part, i) => (i === 0 ? part : (words[part] ?? part)))
    .join("");
}

/** The election each region's agents campaign in. */
export function electionOf(region: string): string {
  return `leader:${region}`;
}

/** How a region's nodes are connected now (the view's "link" column). */
export interface LinkCounts {
  channel: number;
  http: number;
}

/** The dying region's state, for the view. */
export interface ChaosState {
  region: string;
  phase: "up" | "down";
  /** When the phase changes next. */
  nextAt: number;
  pids: number[];
}

export interface FleetOptions {
  url: string;
  nodeToken: string;
  /** Agent log lines go here (the in-process agents and the child processes alike). */
  log: WriteStream;
  /** Something the viewer should notice (the fleet being killed, coming back). */
  event: (message: string) => void;
}

export class DemoFleet {
  private readonly options: FleetOptions;
  private readonly agents: Agent[] = [];
  private readonly agentRegions = new Map<Agent, string>();
  private children: ChildProcess[] = [];
  /** The latest transport each child process's log told of (channel open, closed, HTTP). */
  private readonly childLinks = new Map<ChildProcess, "channel" | "http" | null>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  readonly chaos: ChaosState;

  constructor(options: FleetOptions) {
    this.options = options;
    this.chaos = { region: DYING_REGION, phase: "up", nextAt: Date.now() + CHAOS.firstKillAfterMs, pids: [] };
  }

  /** How many nodes the fleet has when all are up. */
  static get size(): number {
    return REGIONS.reduce((n, r) => n + r.nodes.length, 0);
  }

  /** Starts every agent; resolves once the in-process ones are registered. */
  async start(): Promise<void> {
    const starts: Promise<unknown>[] = [];
    for (const region of REGIONS) {
      if (region.id === DYING_REGION) {
        this.spawnDyingFleet(region);
        continue;
      }
      region.nodes.forEach((capacity, i) => {
        const agent = new Agent({
          url: this.options.url,
          token: this.options.nodeToken,
          region: region.id,
          capacity,
          name: `${shortName(region.id)}-${String.fromCharCode(97 + i)}`,
          handlers: demoHandlers(traitsOf(region, i)),
          campaign: [electionOf(region.id)],
          labels: traitLabels(region, i),
          handleSignals: false,
          drainTimeoutMs: 2000,
          logger: this.logger(`${shortName(region.id)}-${String.fromCharCode(97 + i)}`),
        });
        this.agents.push(agent);
        this.agentRegions.set(agent, region.id);
        starts.push(agent.start());
      });
    }
    await Promise.all(starts);
    this.schedule();
  }

  /** Drains the in-process agents and SIGTERMs the child processes (they drain too); bounded. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) {
      clearTimeout(this.timer);
    }
    const children = this.children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          const force = setTimeout(() => child.kill("SIGKILL"), 4000);
          child.once("exit", () => {
            clearTimeout(force);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    );
    await Promise.all([...this.agents.map((a) => a.stop()), ...children]);
  }

  /** Per region, how many of its nodes are on their channel and how many on HTTP now. */
  links(): Map<string, LinkCounts> {
    const counts = new Map<string, LinkCounts>();
    const add = (region: string, transport: "channel" | "http" | null) => {
      const c = counts.get(region) ?? { channel: 0, http: 0 };
      if (transport) {
        c[transport]++;
      }
      counts.set(region, c);
    };
    for (const agent of this.agents) {
      add(this.agentRegions.get(agent) ?? "", agent.transport);
    }
    for (const child of this.children) {
      add(DYING_REGION, this.childLinks.get(child) ?? null);
    }
    return counts;
  }

  /** Last resort when this process exits: no agent process outlives the demo. */
  killNow(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
      }
    }
  }

  private schedule(): void {
    if (this.stopped) {
      return;
    }
    this.timer = setTimeout(
      () => {
        if (this.stopped) {
          return;
        }
        const region = REGIONS.find((r) => r.id === DYING_REGION)!;
        if (this.chaos.phase === "up") {
          const pids = this.children.map((c) => c.pid);
          for (const child of this.children) {
            child.kill("SIGKILL");
          }
          this.children = [];
          this.chaos.phase = "down";
          this.chaos.pids = [];
          this.chaos.nextAt = Date.now() + CHAOS.downMs;
          this.options.event(`${DYING_REGION} fleet killed: kill -9 of agent processes ${pids.join(", ")}`);
        } else {
          this.spawnDyingFleet(region);
          this.chaos.phase = "up";
          this.chaos.nextAt = Date.now() + CHAOS.upMs;
          this.options.event(
            `${DYING_REGION} fleet restarted: agent processes ${this.chaos.pids.join(", ")}`,
          );
        }
        this.schedule();
      },
      Math.max(0, this.chaos.nextAt - Date.now()),
    );
  }

  /** The dying region's nodes, each a `meridian-agent` process running examples/demo-handlers.ts. */
  private spawnDyingFleet(region: DemoRegion): void {
    this.childLinks.clear();
    this.children = region.nodes.map((capacity, i) => {
      const traits = traitsOf(region, i);
      const args = [
        join(root, "bin", "meridian-agent.mjs"),
        ...["--url", this.options.url, "--region", region.id, "--capacity", String(capacity)],
        ...["--name", `${shortName(region.id)}-${String.fromCharCode(97 + i)}`],
        ...["--campaign", electionOf(region.id), "--drain-timeout-ms", "2000"],
        ...Object.entries(traitLabels(region, i)).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
        join(root, "examples", "demo-handlers.ts"),
      ];
      // Own process group: a Ctrl-C in the terminal reaches the demo, which stops them in order.
      const child = spawn(process.execPath, args, {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        env: {
          ...process.env,
          MERIDIAN_TOKEN: this.options.nodeToken,
          DEMO_SLOW: String(traits.slow),
          DEMO_FLAKY: String(traits.flaky),
        },
      });
      // Its output goes to the agents' log, read on the way for the channel's state.
      this.childLinks.set(child, null);
      for (const stream of [child.stdout, child.stderr]) {
        let buffered = "";
        stream?.setEncoding("utf8");
        stream?.on("data", (chunk: string) => {
          if (!this.options.log.writableEnded) {
            this.options.log.write(chunk);
          }
          const lines = (buffered + chunk).split("\n");
          buffered = lines.pop() ?? "";
          for (const line of lines) {
            const link = transportIn(line);
            if (link !== undefined) {
              this.childLinks.set(child, link);
            }
          }
        });
      }
      return child;
    });
    this.chaos.pids = this.children.map((c) => c.pid ?? 0);
  }

  private logger(name: string) {
    const write = (level: string, message: string) =>
      this.options.log.write(`${new Date().toISOString()} [agent ${name}] ${level} ${message}\n`);
    return {
      info: (m: string) => write("info", m),
      warn: (m: string) => write("warn", m),
      error: (m: string) => write("error", m),
    };
  }
}

function traitsOf(region: DemoRegion, i: number): { slow: number; flaky: number } {
  return { slow: region.slow?.includes(i) ? 2.5 : 1, flaky: region.flaky?.includes(i) ? 0.2 : 0 };
}

function traitLabels(region: DemoRegion, i: number): Record<string, string> {
  const { slow, flaky } = traitsOf(region, i);
  return { ...(slow > 1 ? { trait: "slow" } : {}), ...(flaky > 0 ? { trait: "flaky" } : {}) };
}

/** What an agent's log line says of its transport (src/sdk/channel-link.ts), undefined if nothing. */
function transportIn(line: string): "channel" | "http" | null | undefined {
  if (/\bchannel (open|resumed)\b/.test(line)) {
    return "channel";
  }
  if (/node channel cannot be opened .*using HTTP/.test(line)) {
    return "http";
  }
  if (
    /node channel closed|cannot open the node channel|declared (this node )?dead|registered in/.test(line)
  ) {
    return null;
  }
  return undefined;
}
