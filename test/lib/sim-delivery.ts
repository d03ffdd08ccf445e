/**
 * The network's side of a run: delivering what the shards sent to the coordinator (in order, out
 * of order, twice) or losing it; and at the end of a run, letting the network work until every
 * shard and the coordinator agree: every death heard, every outbox empty, the load table current.
 */
import { InvariantError } from "./sim-check";
import type { SimulationRun } from "./sim-driver";
import { alarm } from "./sim-leases";
import { type InFlight, loadContent, type Payload } from "./sim-network";
import { expectResult, expectSame } from "./sim-ops";
import { REGION_IDS } from "./sim-sut";

/** Hands messages to the coordinator, in this order, in one call; the model hears them too. */
async function deliver(run: SimulationRun, delivered: InFlight[]): Promise<void> {
  // What arrived when it was sent is handed over first: it arrived before anything delivered now.
  const messages = [...run.network.takeArrived(), ...delivered];
  if (messages.length === 0) {
    return;
  }
  const m = run.model;
  const replies = await run.sut.onCoordinator(async (coordinator) => {
    const out = [];
    for (const { payload: p } of messages) {
      out.push(
        p.kind === "load"
          ? await coordinator.reportLoad(p.region, p.report)
          : await coordinator.nodesGone(p.region, p.nodeIds),
      );
    }
    return out;
  });
  messages.forEach((message, i) => {
    const p = message.payload;
    if (p.kind === "load") {
      expectSame(`report of ${p.region} at ${p.report.at} taken`, replies[i], {
        ok: true,
        value: m.reportLoad(p.region, p.report),
      });
    } else {
      expectResult(`${p.region} nodes gone`, replies[i]!, { ok: true });
      const before = countCandidacies(run);
      m.nodesGone(p.nodeIds);
      run.stats.candidaciesEnded += before - countCandidacies(run);
    }
  });
}

function countCandidacies(run: SimulationRun): number {
  return [...run.model.elections.values()].reduce((n, e) => n + e.candidates.length, 0);
}

/** One fault or delivery of the network, chosen at random. */
export async function network(run: SimulationRun): Promise<void> {
  const { rng, network: net } = run;
  if (net.queue.length === 0) {
    run.note("(nothing in flight)");
    return deliver(run, []);
  }
  const mode = rng.weighted({ inOrder: 4, reorder: 3, duplicate: 2, lose: 1 });
  run.note(`${mode} of ${net.queue.length}`);
  if (mode === "lose") {
    net.lose(rng.int(0, net.queue.length - 1));
    return;
  }
  if (mode === "inOrder") {
    const count = Math.min(net.queue.length, rng.int(1, 6));
    await deliver(
      run,
      Array.from({ length: count }, () => net.take(0, false)),
    );
    return;
  }
  const index =
    mode === "reorder" && net.queue.length > 1
      ? rng.int(1, net.queue.length - 1)
      : rng.int(0, net.queue.length - 1);
  await deliver(run, [net.take(index, mode === "duplicate")]);
}

/** Delivers the first message in flight that matches (the race in `campaignRace`). */
export async function deliverWhere(run: SimulationRun, match: (p: Payload) => boolean): Promise<void> {
  const index = run.network.queue.findIndex((message) => match(message.payload));
  if (index >= 0) {
    await deliver(run, [run.network.take(index, false)]);
  }
}

/** Everything in flight, in order. */
export async function deliverAll(run: SimulationRun): Promise<void> {
  const messages: InFlight[] = [];
  while (run.network.queue.length > 0) {
    messages.push(run.network.take(0, false));
  }
  await deliver(run, messages);
}

/**
 * The end of a run, after each shard's last visit (it sent what it owes): the network delivers
 * everything, in order. Then the coordinator has heard of every node that died or left (so no
 * candidacy is bound to one: the checks), whatever the outboxes still hold (a shard drops a row
 * once a resend is acknowledged: the checks follow that at every step), and its load table says
 * what the last report each shard sent says.
 */
export async function converge(run: SimulationRun): Promise<void> {
  const m = run.model;
  run.log.push(`converge t+${m.now - run.clock.start}`);
  const lastReport = (region: string) => {
    const last = run.network.lastLoad.get(region)?.payload;
    return last?.kind === "load" ? last.report : undefined;
  };
  // A report lost on the way (the network drops the oldest when too much is in flight) is sent
  // again by the shard's alarm, which it set to retry. The checks deliver the election changes the
  // deliveries caused, and a shard told of one sends its load again: delivered at the next round.
  for (let round = 0; round < 4; round++) {
    await run.sut.onCoordinator(() => deliverAll(run));
    await run.check();
    const behind = REGION_IDS.filter(
      (region) => loadContent(run.sut.coordinatorState.loads.get(region)) !== loadContent(lastReport(region)),
    );
    if (behind.length === 0 || round === 3) {
      break;
    }
    for (const region of behind) {
      run.log.push(`resend from ${region}`);
      await alarm(run, region);
    }
  }
  for (const region of REGION_IDS) {
    expectSame(
      `${region} load the coordinator holds at the end`,
      loadContent(run.sut.coordinatorState.loads.get(region)),
      loadContent(lastReport(region)),
    );
  }
  const gone = [...m.nodes.values()].filter((n) => n.dead).map((n) => n.id);
  for (const node of [...gone, ...m.departed]) {
    if (!m.coordinatorGone.has(node)) {
      throw new InvariantError(`the coordinator never heard that ${node} is gone`);
    }
  }
}
