/**
 * CPU accounting from /proc (Linux): how much CPU the server used during a phase, split between
 * its processes, how much the load generator used, and how much went to everything else on the
 * machine. Where /proc is missing every reading is null and the keys are left out.
 *
 * `wrangler dev` runs two workerd processes: a proxy that owns the public port and forwards each
 * request, and the runtime that runs the Worker and the Durable Object (one isolate, one thread).
 * Each is single-threaded, so the busier one caps the request rate, whatever the other cores do.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every mainstream Linux build). */
const TICKS_PER_SECOND = 100;

interface ProcInfo {
  ppid: number;
  seconds: number;
  cmdline: string;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: split after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    return {
      ppid: Number(fields[1]),
      seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
      cmdline,
    };
  } catch {
    return null;
  }
}

/** `root` and its live descendants (children that exited are not counted). */
function processTree(root: number): ProcInfo[] | null {
  let pids: number[];
  try {
    pids = readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return null;
  }
  const procs = new Map<number, ProcInfo>();
  for (const pid of pids) {
    const info = readProc(pid);
    if (info) {
      procs.set(pid, info);
    }
  }
  if (!procs.has(root)) {
    return null;
  }
  const inTree = new Set([root]);
  // Parents can have larger pids than children after pid wrap-around: iterate to a fixed point.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, info] of procs) {
      if (!inTree.has(pid) && inTree.has(info.ppid)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  return [...inTree].map((pid) => procs.get(pid) as ProcInfo);
}

/** CPU seconds used so far by a server's processes, by role. */
interface ServerCpu {
  total: number;
  /** The workerd that runs the Worker and the Durable Object. */
  runtime: number;
  /** The workerd in front of it that owns the public port. */
  proxy: number;
}

function serverCpu(root: number, port: number): ServerCpu | null {
  const tree = processTree(root);
  if (!tree) {
    return null;
  }
  const cpu = { total: 0, runtime: 0, proxy: 0 };
  for (const proc of tree) {
    cpu.total += proc.seconds;
    if (/\bworkerd\b/.test(proc.cmdline)) {
      if (proc.cmdline.includes(`entry=127.0.0.1:${port} `)) {
        cpu.proxy += proc.seconds;
      } else {
        cpu.runtime += proc.seconds;
      }
    }
  }
  return cpu;
}

/** Busy CPU seconds of the whole machine so far (all cores), from the first line of /proc/stat. */
function machineBusySeconds(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>((sum, v) => sum + (v ?? 0), 0);
    return busy / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** CPU used during one phase, in seconds; null when /proc could not be read. */
export interface PhaseCpu {
  /** All of the server's processes (wrangler's Node process, both workerd). */
  server: number;
  runtime: number;
  proxy: number;
  /** This process less the server (which is its child). */
  loadGenerator: number;
  /** Everything else on the machine (other users' builds and tests, the kernel's own work). */
  other: number;
}

/** Starts a CPU reading for the server rooted at `serverPid` (listening on `port`); call the result to end it. */
export function startCpuReading(serverPid: number, port: number): () => PhaseCpu | null {
  const server0 = serverCpu(serverPid, port);
  const self0 = processTree(process.pid);
  const machine0 = machineBusySeconds();
  return () => {
    const server1 = serverCpu(serverPid, port);
    const self1 = processTree(process.pid);
    const machine1 = machineBusySeconds();
    if (!server0 || !server1 || !self0 || !self1 || machine0 === null || machine1 === null) {
      return null;
    }
    const sum = (tree: ProcInfo[]) => tree.reduce((s, p) => s + p.seconds, 0);
    const server = server1.total - server0.total;
    // This process's tree holds the server too (it is our child): take the server's share out.
    const loadGenerator = sum(self1) - sum(self0) - server;
    return {
      server,
      runtime: server1.runtime - server0.runtime,
      proxy: server1.proxy - server0.proxy,
      loadGenerator,
      other: Math.max(0, machine1 - machine0 - server - loadGenerator),
    };
  };
}

/**
 * The runtime's CPU per request split between the objects that served it, by difference. The edge
 * Worker, every shard, the coordinator and the idempotency objects run in one workerd process, so
 * its CPU cannot be read per object; instead each route's runtime CPU per request
 * (`http.<route>.runtimeCpuMsPerRequest`, same run, routes taking turns) is set against a route
 * that does less:
 * - edge = `edgeOnly` (a submit refused by validation: auth from the cache, body read and checked,
 *   a 400; no object is called);
 * - shard.<op> = submit / poll / complete less the edge; the RPC (both sides), the placement and
 *   the answer's serialization fall in it;
 * - coordinator = `election` (GET /v1/elections/{name}, answered by the coordinator alone) less the edge;
 * - idempotencyClaim = `submitKeyed` less `submit` (the claim RPC, the key's row, the body's hash).
 * `noop` is what the runtime spends on any request before Meridian's code (part of the edge figure).
 */
export function cpuPerObject(http: Record<string, number>): Record<string, number> {
  const cpu = (route: string) => http[`http.${route}.runtimeCpuMsPerRequest`];
  const edge = cpu("edgeOnly");
  if (edge === undefined) {
    return {};
  }
  const out: Record<string, number> = { "cpu.msPerOp.edge": edge };
  const less = (key: string, route: string, base: number) => {
    const value = cpu(route);
    if (value !== undefined) {
      out[key] = value - base;
    }
  };
  less("cpu.msPerOp.noop", "noop", 0);
  less("cpu.msPerOp.shard.submit", "submit", edge);
  less("cpu.msPerOp.shard.poll", "poll", edge);
  less("cpu.msPerOp.shard.complete", "complete", edge);
  less("cpu.msPerOp.coordinator", "election", edge);
  const submit = cpu("submit");
  if (submit !== undefined) {
    less("cpu.msPerOp.idempotencyClaim", "submitKeyed", submit);
  }
  return out;
}
