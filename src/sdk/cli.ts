import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Agent, type AgentOptions } from "./agent.ts";
import type { Handlers } from "./task-runner.ts";

export const USAGE = `Usage: meridian-agent --url URL --token TOKEN --region REGION [options] HANDLERS_MODULE

Runs the handlers exported by HANDLERS_MODULE (a .js, .mjs or .ts file whose default export, or
export named "handlers", maps task types to async (payload, ctx) => result) as one Meridian node.
SIGTERM or Ctrl-C drains: no new work, running tasks finish, the node deregisters. A second one
stops at once.

Options (each also read from the environment variable shown):
  --url URL              Meridian's base URL                 MERIDIAN_URL
  --token TOKEN          a node token                        MERIDIAN_TOKEN
  --region REGION        region to register in               MERIDIAN_REGION
  --capacity N           tasks run at once (default 1)       MERIDIAN_CAPACITY
  --transport T          channel (default: a WebSocket, HTTP  MERIDIAN_TRANSPORT
                         if the server has none) or http
  --name NAME            name in logs and the node's labels
  --label KEY=VALUE      a node label (repeatable)
  --campaign ELECTION    campaign in this election (repeatable); the node id is the candidate
  --poll-wait-ms MS      longest long-poll wait (default: the heartbeat interval)
  --drain-timeout-ms MS  longest drain before giving tasks back (default 30000)
  --quiet                only warnings and errors
  -h, --help             this text`;

/** The agent options a command line asks for, and the handlers module to load. */
export interface CliConfig {
  options: Omit<AgentOptions, "handlers">;
  module: string;
}

/** Parses argv (without node and the script) with environment fallbacks; throws a usage message on error. */
export function parseCli(argv: string[], env: Record<string, string | undefined>): CliConfig | "help" {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      token: { type: "string" },
      region: { type: "string" },
      capacity: { type: "string" },
      transport: { type: "string" },
      name: { type: "string" },
      label: { type: "string", multiple: true },
      campaign: { type: "string", multiple: true },
      "poll-wait-ms": { type: "string" },
      "drain-timeout-ms": { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    return "help";
  }
  const url = values.url ?? env.MERIDIAN_URL;
  const token = values.token ?? env.MERIDIAN_TOKEN;
  const region = values.region ?? env.MERIDIAN_REGION;
  const missing = [!url && "--url", !token && "--token", !region && "--region"].filter(Boolean);
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(", ")}`);
  }
  if (positionals.length !== 1) {
    throw new Error("give exactly one handlers module");
  }
  const transport = values.transport ?? env.MERIDIAN_TRANSPORT ?? "channel";
  if (transport !== "channel" && transport !== "http") {
    throw new Error(`--transport ${transport}: expected channel or http`);
  }
  const labels: Record<string, string> = {};
  for (const label of values.label ?? []) {
    const eq = label.indexOf("=");
    if (eq <= 0) {
      throw new Error(`--label ${label}: expected KEY=VALUE`);
    }
    labels[label.slice(0, eq)] = label.slice(eq + 1);
  }
  const options: CliConfig["options"] = {
    url: url!,
    token: token!,
    region: region!,
    capacity: integer("--capacity", values.capacity ?? env.MERIDIAN_CAPACITY) ?? 1,
    transport,
    labels,
    campaign: values.campaign ?? [],
    handleSignals: true,
  };
  if (values.name) {
    options.name = values.name;
  }
  const pollWaitMs = integer("--poll-wait-ms", values["poll-wait-ms"]);
  if (pollWaitMs !== undefined) {
    options.pollWaitMs = pollWaitMs;
  }
  const drainTimeoutMs = integer("--drain-timeout-ms", values["drain-timeout-ms"]);
  if (drainTimeoutMs !== undefined) {
    options.drainTimeoutMs = drainTimeoutMs;
  }
  if (values.quiet) {
    options.logger = {
      info() {},
      warn: (m) => console.warn(`[meridian-agent] ${m}`),
      error: (m) => console.error(`[meridian-agent] ${m}`),
    };
  }
  return { options, module: positionals[0]! };
}

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${flag} ${value}: expected a whole number`);
  }
  return n;
}

/** The handlers a module exports: `default` or `handlers`, an object of functions. */
export function handlersOf(module: Record<string, unknown>, path: string): Handlers<Agent> {
  const candidate = module.handlers ?? module.default;
  if (typeof candidate !== "object" || candidate === null) {
    throw new Error(
      `${path} exports no handlers (export default { "type": async (payload, ctx) => result })`,
    );
  }
  for (const [type, handler] of Object.entries(candidate)) {
    if (typeof handler !== "function") {
      throw new Error(`${path}: the handler for ${type} is not a function`);
    }
  }
  return candidate as Handlers<Agent>;
}

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let config: CliConfig | "help";
  try {
    config = parseCli(argv, env);
  } catch (error) {
    console.error(`meridian-agent: ${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    return 2;
  }
  if (config === "help") {
    console.log(USAGE);
    return 0;
  }
  const path = resolve(config.module);
  const handlers = handlersOf(await import(pathToFileURL(path).href), config.module);
  const agent = new Agent({ ...config.options, handlers });
  try {
    await agent.run();
    return 0;
  } catch (error) {
    console.error(`meridian-agent: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
}
