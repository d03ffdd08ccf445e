/**
 * The simulation's steps about retention: clock jumps of hours to days, jumps to the millisecond a
 * row comes of age (then its shard's alarm), the admin's erasure of a task (DELETE /v1/tasks/{id}),
 * and reads of tasks (GET, list) that may be gone. Each computes the model's expectation, calls the
 * objects, compares, and applies the change to the model.
 */

import { deliverAll } from "./sim-delivery";
import type { SimulationRun } from "./sim-driver";
import { advance, alarm } from "./sim-leases";
import { err, type ModelTask, ok, TERMINAL } from "./sim-model";
import { register } from "./sim-node-ops";
import { expectResult, expectSame, unknownTaskId } from "./sim-ops";
import { comingOfAge } from "./sim-retention";
import { ADMIN, as, REGION_IDS, type Region, TENANTS } from "./sim-sut";

const HOUR = 3_600_000;

/**
 * The clock jumps hours to days ahead (every node falls silent: it is dead when next judged). In a
 * soak it is a night, up to half the retention, and in the morning one or two new nodes register in
 * each region and the network delivers what the shards said, so the load goes on; otherwise the jump
 * is up to twice the retention and the run carries on from where it lands.
 */
export async function longJump(run: SimulationRun): Promise<void> {
  const R = run.model.config.taskRetentionMs;
  const ms = run.rng.int(HOUR, run.soak ? R / 2 : 2 * R);
  run.note(`${(ms / HOUR).toFixed(1)} h`);
  run.stats.retention.longJumps++;
  await advance(run, ms);
  if (!run.soak) {
    return;
  }
  for (const region of REGION_IDS) {
    await run.sut.onShard(region, async () => {
      for (let i = run.rng.int(1, 2); i > 0; i--) {
        await register(run, region, run.rng.int(1, 3));
      }
    });
  }
  await run.sut.onCoordinator(() => deliverAll(run));
}

/**
 * The clock jumps to a millisecond before, at or after the moment a finished task or a dead node
 * comes of age, and its shard's alarm runs (the runtime fires it then: it is never set later).
 */
export async function retentionEdge(run: SimulationRun): Promise<void> {
  const m = run.model;
  const ahead = comingOfAge(m, null);
  if (ahead.length === 0) {
    return advance(run, 1000);
  }
  const row = run.rng.pick(ahead);
  const offset = run.rng.pick([-1, 0, 0, 1]);
  run.note(
    `${row.region} ${offset === 0 ? "at" : offset < 0 ? "1 ms before" : "1 ms after"} a row comes of age (t+${row.at - run.clock.start})`,
  );
  run.stats.retention.edgeJumps++;
  await advance(run, row.at + offset - m.now);
  await alarm(run, row.region);
}

/**
 * An admin erases a task, as the route does: the shard deletes it (a finished one only: 409
 * task_not_finished otherwise; 404 for one it does not hold), then its idempotency key is released.
 * `goneId`: a task that is gone already (pruned or erased).
 */
export async function erase(
  run: SimulationRun,
  task: ModelTask | undefined,
  region: Region,
  goneId?: string,
): Promise<void> {
  const m = run.model;
  const id = task?.id ?? goneId ?? unknownTaskId(region);
  run.note(
    `${id} ${task ? (task.finishedAt === null ? task.status : "finished") : goneId ? "gone" : "unknown"}`,
  );
  const expected = !task
    ? err("not_found")
    : task.finishedAt === null
      ? err("conflict", "task_not_finished")
      : ok;
  const reply = await run.sut.onShard(region, (s) => s.eraseTask(ADMIN, id));
  expectResult("erase", reply, expected);
  if (!reply.ok || !task) {
    run.stats.retention.eraseRefused++;
    return;
  }
  const key = task.idempotencyKey;
  expectSame(`erase of ${id}`, reply.value, {
    idempotencyScope: key === null ? null : ADMIN.tokenId,
    idempotencyKey: key,
  });
  if (key !== null) {
    // The route's second half (src/routes/tasks.ts): a repeat of the key is a new submit from now on.
    await run.edge.keys(ADMIN.tokenId).release([{ key, taskId: id }]);
  }
  m.forgetTask(task, "erased");
  run.memory.terminalRows.delete(id);
  run.stats.retention.erased++;
}

/**
 * Reads a task (GET), and sometimes lists one status: a task gone (pruned or erased) answers 404
 * and is not listed; one still held is there, with its status (and outcome, once it has one).
 */
export async function readTask(
  run: SimulationRun,
  task: ModelTask | undefined,
  region: Region,
  goneId?: string,
): Promise<void> {
  const m = run.model;
  const id = task?.id ?? goneId ?? unknownTaskId(region);
  const status = run.rng.bool(0.3) ? run.rng.pick(TERMINAL) : null;
  // Read by the task's own tenant (another's reads: sim-tenant-ops.ts); it lists its own tasks only.
  const tenant = task?.tenant ?? run.rng.pick(TENANTS);
  run.note(`${id}${goneId ? " (gone)" : ""}${status ? ` and ${tenant}'s ${status} list` : ""}`);
  const [got, listed] = await run.sut.onShard(region, async (s) => [
    await s.getTask(as(tenant), id),
    status === null
      ? null
      : await s.listTasks(as(tenant), { status, limit: 10_000, include: [], maxBytes: 16 * 1024 * 1024 }),
  ]);
  expectResult(`get ${id}`, got, task ? ok : err("not_found"));
  if (got.ok && task) {
    expectSame(
      `task ${id} as read`,
      [got.value.status, got.value.attempts, got.value.nodeId, got.value.updatedAt === task.finishedAt],
      [task.status, task.attempts, task.nodeId, task.finishedAt !== null],
    );
  }
  if (goneId !== undefined) {
    run.stats.retention.goneReads++;
  }
  if (listed !== null && status !== null) {
    if (!listed.ok) {
      throw new Error(`list of ${status} tasks failed: ${JSON.stringify(listed.error)}`);
    }
    const expected = [...m.tasks.values()]
      .filter((t) => t.region === region && t.status === status && t.tenant === tenant)
      .map((t) => t.id)
      .sort()
      .reverse();
    if (listed.value.more) {
      throw new Error(`list of ${status} tasks in ${region} stopped early: the check needs every task`);
    }
    expectSame(
      `${region} ${status} tasks of ${tenant} listed`,
      listed.value.items.map((t) => (JSON.parse(t.json) as { id: string }).id),
      expected,
    );
    if ([...m.forgottenTasks.values()].some((g) => g.region === region)) {
      run.stats.retention.goneReads++;
    }
  }
}

/**
 * The end of a soak: the load stops, every task has ended (quiesce), and a retention period goes
 * by with the runtime firing the alarms on time: every task row goes, and only the nodes that died
 * within the last retention period are left.
 */
export async function afterTheLoad(run: SimulationRun): Promise<void> {
  const m = run.model;
  run.log.push(`after the load t+${m.now - run.clock.start}`);
  await advance(run, m.config.taskRetentionMs);
  await run.check();
  for (const region of REGION_IDS) {
    const state = run.sut.shardState.get(region)!;
    const recent = [...m.nodes.values()].filter(
      (n) => n.region === region && (n.diedAt === null || !m.pastRetention(n.diedAt)),
    );
    expectSame(
      `${region} rows a retention after the load stopped`,
      [state.tasks.length, state.storedNodes.size],
      [0, recent.length],
    );
  }
}
