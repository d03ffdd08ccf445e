import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ElectionInput,
  type ElectionOutput,
  electionModel,
  type TaskInput,
  type TaskOutput,
  taskModel,
} from "../lib/history-models.ts";
import { checkLinearizable, type Operation } from "../lib/linearizability.ts";
import { Prng } from "../lib/prng.ts";
import { Api, Server } from "./harness.ts";

/**
 * Concurrent HTTP histories recorded against a real `wrangler dev` (clients racing on poll,
 * complete, fail and cancel of the same tasks, and on campaign, resign and fence of one election),
 * checked for linearizability against the contract's sequential model. The checker is shown to
 * reject histories with planted bugs, recorded from a deliberately broken coordinator.
 */
const ROUNDS = 20;
const SEED = 4242;

type TaskOp = Operation<TaskInput, TaskOutput>;
type ElectionOp = Operation<ElectionInput, ElectionOutput>;

/** Records one operation: its real-time call and return, input and what the client saw. */
async function record<I, O>(
  log: Operation<I, O>[],
  client: string,
  input: I,
  run: () => Promise<O>,
): Promise<O> {
  const call = performance.now();
  const output = await run();
  log.push({ client, call, return: performance.now(), input, output });
  return output;
}

function taskOutput(reply: { status: number; body: any }): TaskOutput {
  return { status: reply.status, reason: reply.body?.error?.reason };
}

describe("linearizability of recorded HTTP histories", () => {
  const server = new Server();
  let node: Api;
  let admin: Api;
  /** Three nodes in each of two regions: each region's tasks live in its own shard. */
  const nodes: Record<string, string[]> = { "eu-west": [], "us-east": [] };

  beforeAll(async () => {
    await server.start();
    const tokens = await server.seed({
      "eu-west": { lat: 53.35, lon: -6.26 },
      "us-east": { lat: 38.9, lon: -77.04 },
    });
    node = new Api(server.url, tokens.node);
    admin = server.api;
    for (const region of Object.keys(nodes)) {
      for (let i = 0; i < 3; i++) {
        nodes[region]!.push((await node.ok("POST", "/v1/nodes", { region, capacity: 5 })).id);
      }
    }
  });

  afterAll(async () => {
    await server.dispose();
  });

  it("clients racing on poll / complete / fail / cancel of tasks in two region shards: linearizable", async () => {
    const rng = new Prng(SEED);
    const history: TaskOp[] = [];
    /** One task of `region`: its three nodes race to poll it, two racers reuse the winner's lease, a client may cancel. */
    const race = async (region: string) => {
      const task = (
        await admin.ok("POST", "/v1/tasks", {
          type: "race",
          region,
          maxAttempts: 1,
          timeoutMs: 60_000,
        })
      ).id;
      let share: (token: string) => void = () => undefined;
      const shared = new Promise<string>((resolve) => {
        share = resolve;
      });
      const who = (name: string) => `${region}/${name}`;
      const act = async (client: string, token: string) => {
        const op = rng.bool() ? "complete" : "fail";
        const body =
          op === "complete"
            ? { leaseToken: token, result: client }
            : { leaseToken: token, error: client, retryable: false };
        await record(history, client, { op, task, token }, async () =>
          taskOutput(await node.call("POST", `/v1/tasks/${task}/${op}`, body)),
        );
      };
      const pollers = nodes[region]!.map(async (nodeId, i) => {
        const out = await record(history, who(`poller${i}`), { op: "poll", task }, async () => {
          const reply = await node.call("POST", `/v1/nodes/${nodeId}/poll`, { max: 1 });
          const got = reply.body.tasks?.find((t: { id: string }) => t.id === task);
          return { status: reply.status, token: got?.leaseToken };
        });
        if (out.token !== undefined) {
          share(out.token);
          await act(who(`poller${i}`), out.token);
        }
      });
      const racers = [0, 1].map(async (i) => act(who(`racer${i}`), await shared));
      const canceler = (async () => {
        if (rng.bool(0.4)) {
          await record(history, who("canceler"), { op: "cancel", task }, async () =>
            taskOutput(await admin.call("POST", `/v1/tasks/${task}/cancel`, {})),
          );
        }
        await record(history, who("reader"), { op: "get", task }, async () => {
          const reply = await admin.call("GET", `/v1/tasks/${task}`);
          return { status: reply.status, taskStatus: reply.body.status };
        });
      })();
      // A task canceled before anyone polled it never shares a token: the racers give up then.
      await Promise.all([...pollers, canceler]);
      share("l-never-handed-out");
      await Promise.all(racers);
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Both shards at once: the history interleaves operations on the two regions' tasks.
      await Promise.all(Object.keys(nodes).map((region) => race(region)));
    }
    expect(new Set(history.map((op) => op.input.task.split("-").slice(-2).join("-")))).toEqual(
      new Set(["eu-west", "us-east"]),
    );
    const result = checkLinearizable(taskModel, history);
    console.log(
      `task history: ${history.length} operations over ${2 * ROUNDS} tasks in two shards, ${result.explored} states explored`,
    );
    expect(result.ok).toBe(true);
    // Planted bug: a refused lease call (a stale token) recorded as accepted must be caught.
    const refused = history.findIndex(
      (op) => (op.input.op === "complete" || op.input.op === "fail") && op.output.status === 409,
    );
    expect(refused).toBeGreaterThanOrEqual(0);
    const planted = history.map((op, i) => (i === refused ? { ...op, output: { status: 200 } } : op));
    expect(checkLinearizable(taskModel, planted).ok).toBe(false);
  }, 120_000);

  it("clients racing on campaign / resign / fence of one election: linearizable", async () => {
    const rng = new Prng(SEED + 1);
    const history: ElectionOp[] = [];
    const election = `lin-${Date.now()}`;
    const terms: number[] = [];
    const client = async (i: number) => {
      const candidate = `c${i}`;
      for (let k = 0; k < 15; k++) {
        const r = rng.next();
        if (r < 0.45) {
          await record(history, candidate, { op: "campaign", candidate }, async () => {
            const reply = await node.call("POST", `/v1/elections/${election}/campaign`, {
              candidate,
              ttlMs: 120_000,
            });
            if (reply.body.leader) {
              terms.push(reply.body.leader.term);
            }
            return { status: reply.status, ...reply.body };
          });
        } else if (r < 0.7) {
          await record(history, candidate, { op: "resign", candidate }, async () => ({
            status: (await node.call("POST", `/v1/elections/${election}/resign`, { candidate })).status,
          }));
        } else {
          const term = terms.length > 0 ? rng.pick(terms) : 1;
          await record(history, candidate, { op: "fence", term }, async () => {
            const reply = await node.call("POST", `/v1/elections/${election}/fence`, { term });
            return { status: reply.status, reason: reply.body?.error?.reason };
          });
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(client));
    // A fence on an election nobody has joined yet is 404: drop those, they touch no state.
    const checked = history.filter((op) => op.output.status !== 404);
    const result = checkLinearizable(electionModel, checked);
    console.log(`election history: ${checked.length} operations, ${result.explored} states explored`);
    expect(result.ok).toBe(true);
    // Planted bug: two leaders in one term (a second campaign told it leads under the same term).
    const lead = checked.findIndex((op) => op.input.op === "campaign" && op.output.isLeader === true);
    const follower = checked.findIndex(
      (op, i) => i > lead && op.input.op === "campaign" && op.output.isLeader === false,
    );
    if (lead >= 0 && follower >= 0) {
      const two = checked.map((op, i) =>
        i === follower
          ? {
              ...op,
              output: {
                ...op.output,
                isLeader: true,
                position: 0,
                leader: {
                  candidate: (op.input as { candidate: string }).candidate,
                  term: checked[lead]!.output.leader!.term,
                },
              },
            }
          : op,
      );
      expect(checkLinearizable(electionModel, two).ok).toBe(false);
    }
  }, 120_000);
});

/**
 * A coordinator of the task lifecycle in memory, correct or with the bug the issue names: it checks
 * the lease, waits (a storage round trip, say), then records without checking again.
 */
class MiniCoordinator {
  private status: "queued" | "leased" | "succeeded" | "failed" = "queued";
  private token: string | null = null;
  private minted = 0;

  constructor(
    private readonly buggy: boolean,
    private readonly rng: Prng,
  ) {}

  private pause(): Promise<void> {
    return new Promise((r) => setTimeout(r, this.rng.int(0, 3)));
  }

  async poll(): Promise<TaskOutput> {
    await this.pause();
    if (this.status !== "queued") {
      return { status: 200 };
    }
    this.status = "leased";
    this.token = `l${this.minted++}`;
    return { status: 200, token: this.token };
  }

  async finish(op: "complete" | "fail", token: string): Promise<TaskOutput> {
    const valid = this.status === "leased" && this.token === token;
    await this.pause();
    const still = this.buggy ? valid : this.status === "leased" && this.token === token;
    if (!still) {
      const terminal = this.status === "succeeded" || this.status === "failed";
      return { status: 409, reason: this.token === token && terminal ? "already_terminal" : "lease_lost" };
    }
    this.status = op === "complete" ? "succeeded" : "failed";
    this.token = op === "complete" ? token : null;
    return { status: 200 };
  }
}

async function miniHistory(buggy: boolean, seed: number): Promise<TaskOp[]> {
  const rng = new Prng(seed);
  const history: TaskOp[] = [];
  const mini = new MiniCoordinator(buggy, rng);
  const task = `t-${seed}`;
  const polled = await record(history, "poller", { op: "poll", task }, () => mini.poll());
  const token = polled.token!;
  await Promise.all(
    ["a", "b", "c"].map((client) => {
      const op = rng.bool() ? "complete" : "fail";
      return record(history, client, { op, task, token }, () => mini.finish(op, token));
    }),
  );
  return history;
}

describe("the checker catches planted bugs", () => {
  it("rejects histories of a coordinator that skips the lease check after a wait, accepts the correct one", async () => {
    let rejected = 0;
    for (let seed = 1; seed <= 40; seed++) {
      expect(checkLinearizable(taskModel, await miniHistory(false, seed)).ok).toBe(true);
      rejected += checkLinearizable(taskModel, await miniHistory(true, seed)).ok ? 0 : 1;
    }
    console.log(`planted lease bug: ${rejected} of 40 buggy histories rejected`);
    expect(rejected).toBeGreaterThan(0);
  });

  it("rejects a classic stale read and accepts its linearizable twin", () => {
    const op = (client: string, call: number, ret: number, input: TaskInput, output: TaskOutput): TaskOp => ({
      client,
      call,
      return: ret,
      input,
      output,
    });
    const task = "t";
    // poll hands out l1; complete succeeds and returns; a later get still reads "leased": not linearizable.
    const stale = [
      op("n", 0, 1, { op: "poll", task }, { status: 200, token: "l1" }),
      op("n", 2, 3, { op: "complete", task, token: "l1" }, { status: 200 }),
      op("r", 4, 5, { op: "get", task }, { status: 200, taskStatus: "leased" }),
    ];
    expect(checkLinearizable(taskModel, stale).ok).toBe(false);
    // The same read overlapping the complete may be ordered before it.
    const overlapping = [stale[0]!, stale[1]!, { ...stale[2]!, call: 2.5 }];
    expect(checkLinearizable(taskModel, overlapping).ok).toBe(true);
  });
});
