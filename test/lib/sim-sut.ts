/**
 * The system under simulation: the real coordinator code (CoordinatorState and the Coordinator's RPC
 * methods) running in-process inside its Durable Object, over its real SQLite storage, with the
 * clock, the randomness and the long-poll timers in the simulation's hands.
 *
 * A restart is modelled the way the runtime does it: every in-memory structure is dropped and a new
 * CoordinatorState is loaded from the same storage. The RPC methods of `Coordinator` only read
 * `this.state`, so a facade object with the Coordinator prototype and a fresh `state` is the class
 * exactly as a new instance would run it, without a new object id per run (which costs ~10 ms).
 */
import { Coordinator } from "../../durable-objects/coordinator";
import { CoordinatorState } from "../../durable-objects/coordinator/state";
import { TokenBuckets } from "../../src/core/token-bucket";

/** The tables a run writes; wiped between runs that share one object. */
const TABLES = ["tokens", "regions", "nodes", "tasks", "elections", "candidates"] as const;

export interface SutClock {
  now: number;
}

/** One coordinator incarnation: its RPC surface and its state. */
export class Sut {
  state!: CoordinatorState;
  rpc!: Coordinator;

  constructor(
    readonly ctx: DurableObjectState,
    readonly env: Env,
    private readonly clock: SutClock,
    private readonly random: () => number,
  ) {}

  /** A fresh incarnation over whatever the storage holds. */
  async boot(): Promise<void> {
    const state = new CoordinatorState(this.ctx);
    state.clock = () => this.clock.now;
    state.random = this.random;
    await state.load(this.env);
    // The simulation drives thousands of calls per simulated second with the admin credential.
    state.limiter = new TokenBuckets({ ratePerSec: 1e9, burst: 1e9 });
    // Its calls come back to back and it inspects the state between them: each starts at once.
    state.groupWindowMs = 0;
    const rpc = Object.create(Coordinator.prototype) as Coordinator;
    Object.defineProperty(rpc, "state", { value: state });
    this.state = state;
    this.rpc = rpc;
  }

  /** Empties the storage so the next run starts from nothing. */
  async wipe(): Promise<void> {
    for (const table of TABLES) {
      this.ctx.storage.sql.exec(`DELETE FROM ${table}`);
    }
    await this.ctx.storage.deleteAlarm();
  }

  sql<T extends Record<string, SqlStorageValue>>(query: string, ...args: SqlStorageValue[]): T[] {
    return this.ctx.storage.sql.exec<T>(query, ...args).toArray();
  }
}
