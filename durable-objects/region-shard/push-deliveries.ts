import { type BreakerPolicy, breakerAfter, breakerAt, probeAt } from "../../src/core/circuit-breaker";
import {
  breakerSignalOf,
  type DeliveryOutcome,
  outcomeOfError,
  outcomeOfResponse,
} from "../../src/core/delivery-outcome";
import { ApiError } from "../../src/core/errors";
import type { LeasedTask } from "../../src/core/task-commands";
import { signWebhook, webhookId, webhookKey } from "../../src/core/webhook-signature";
import type { CallGate } from "../call-gate";
import type { EndpointRecord, EndpointTable } from "./endpoint-table";
import type { Scheduler } from "./scheduler";
import type { TaskQueue } from "./task-queue";

/**
 * A lease to an endpoint outlasts its delivery's timeout by this much: the delivery ends first (and
 * says why), and the lease's expiry only catches deliveries that a restart of the shard lost.
 */
export const DELIVERY_LEASE_SLACK_MS = 2000;

/** Counts of what deliveries did, for `/metrics`. */
export interface DeliveryCounts {
  succeeded: number;
  rejected: number;
  failed: number;
  /** Answers that came after their lease had ended (ignored: the task's outcome is someone else's). */
  late: number;
}

/**
 * Push delivery: the shard leases tasks to its endpoints as it does to nodes (the scheduler pushes
 * to each endpoint as to a channel with credit, within its breaker's room), POSTs each one signed,
 * and records the answer under the lease's token, so an answer after the lease has ended (a slow
 * 2xx after a timeout and a retry) changes nothing. A restart loses the deliveries in flight; their
 * leases expire and the tasks are retried, as a dead node's would be.
 */
export class PushDeliveries {
  /** Deliveries in flight, by lease token, to abort them when their endpoint goes. */
  private readonly running = new Map<string, { endpoint: string; abort: AbortController }>();
  private started = false;
  /** Each endpoint's HMAC key, imported once (by secret: a new endpoint under an old name has a new one). */
  private readonly keys = new Map<string, Promise<CryptoKey>>();
  /** Outcomes waiting to be recorded: those that come in one turn are recorded in one call (one commit). */
  private finished: { name: string; task: LeasedTask; outcome: DeliveryOutcome }[] = [];
  readonly counts: DeliveryCounts = { succeeded: 0, rejected: 0, failed: 0, late: 0 };

  constructor(
    private readonly endpoints: EndpointTable,
    private readonly scheduler: Scheduler,
    private readonly tasks: TaskQueue,
    private readonly gate: CallGate,
    private readonly policy: BreakerPolicy,
    /** The wall clock in ms (signatures carry unix seconds). */
    private readonly clock: () => number,
    private readonly dueAt: (at: number) => void,
    /** Keeps the object alive while a delivery runs (ctx.waitUntil). */
    private readonly keepAlive: (promise: Promise<unknown>) => void,
    private readonly send: typeof fetch = (input, init) => fetch(input, init),
  ) {
    scheduler.endpoints = {
      holder: (id) => endpoints.byHolderId(id)?.holder,
      leaseMs: (id, timeoutMs) =>
        (endpoints.byHolderId(id)?.timeoutMs ?? timeoutMs) + DELIVERY_LEASE_SLACK_MS,
    };
  }

  /**
   * Offers every endpoint its room, once per incarnation, at the end of the first call or alarm
   * (not in the constructor: no network I/O inside blockConcurrencyWhile).
   */
  start(now: number): void {
    if (this.started) {
      return;
    }
    this.started = true;
    for (const endpoint of this.endpoints.endpoints.values()) {
      this.offer(endpoint, now);
    }
  }

  /** The endpoint takes work again, up to its breaker's room (after a change, or a delivery ended). */
  offer(endpoint: EndpointRecord, now: number): void {
    const at = probeAt(endpoint.breaker, this.policy);
    if (at !== null) {
      this.dueAt(at);
    }
    if (!this.started) {
      return;
    }
    this.scheduler.offerCredit(
      endpoint.holder,
      endpoint.holder.capacity,
      (tasks) => this.deliverAll(endpoint, tasks),
      now,
    );
  }

  /**
   * The alarm: open breakers whose pause is over turn half open and take their probe; the others
   * ask for the alarm again when theirs ends (the alarm holds one time, and may have fired for another).
   */
  tick(now: number): void {
    for (const endpoint of this.endpoints.endpoints.values()) {
      const next = breakerAt(endpoint.breaker, now, this.policy);
      if (next !== endpoint.breaker) {
        this.endpoints.setBreaker(endpoint, next);
        this.offer(endpoint, now);
      }
      const at = probeAt(endpoint.breaker, this.policy);
      if (at !== null) {
        this.dueAt(at);
      }
    }
  }

  /** The endpoint is deleted: its deliveries in flight are abandoned (their answers would be ignored). */
  abandon(name: string): void {
    const secret = this.endpoints.get(name)?.secret;
    if (secret !== undefined) {
      this.keys.delete(secret);
    }
    for (const [token, delivery] of this.running) {
      if (delivery.endpoint === name) {
        delivery.abort.abort(new Error("endpoint deleted"));
        this.running.delete(token);
      }
    }
  }

  private deliverAll(endpoint: EndpointRecord, tasks: LeasedTask[]): void {
    for (const task of tasks) {
      this.keepAlive(this.deliver(endpoint, task));
    }
  }

  /** POSTs one task and records its outcome; never throws. */
  private async deliver(endpoint: EndpointRecord, task: LeasedTask): Promise<void> {
    const abort = new AbortController();
    this.running.set(task.leaseToken, { endpoint: endpoint.name, abort });
    const timeoutMs = task.leaseExpiresAt - DELIVERY_LEASE_SLACK_MS - this.clock();
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        abort.abort(new Error("timed out"));
      },
      Math.max(0, timeoutMs),
    );
    let outcome: DeliveryOutcome;
    try {
      const body = JSON.stringify({ task });
      const id = webhookId(task.id, task.attempt);
      const timestamp = Math.floor(this.clock() / 1000);
      const response = await this.send(endpoint.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "Meridian-Push/1",
          "webhook-id": id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": await signWebhook(await this.keyOf(endpoint), id, timestamp, body),
        },
        body,
        signal: abort.signal,
        redirect: "manual", // a redirect is not followed (it could lead anywhere): it is a failed attempt
      });
      outcome = outcomeOfResponse(response.status, await response.text());
    } catch (error) {
      outcome = outcomeOfError(error, timedOut, Math.max(0, timeoutMs));
    } finally {
      clearTimeout(timer);
    }
    if (this.running.get(task.leaseToken)?.abort !== abort) {
      return; // abandoned: the endpoint went, and its leases with it
    }
    this.running.delete(task.leaseToken);
    this.finished.push({ name: endpoint.name, task, outcome });
    if (this.finished.length > 1) {
      return; // the first of this batch records it
    }
    await scheduler.wait(0);
    const batch = this.finished;
    this.finished = [];
    try {
      await this.gate.run(null, null, (now) => {
        for (const { name, task: leased, outcome: result } of batch) {
          try {
            this.finish(name, leased, result, now);
          } catch (error) {
            // One row's failure does not skip the rest; its lease expires and the task is retried.
            console.error(`push: could not record the delivery of ${leased.id}`, error);
          }
        }
      });
    } catch (error) {
      console.error(`push: could not record ${batch.length} deliveries`, error);
    }
  }

  private keyOf(endpoint: EndpointRecord): Promise<CryptoKey> {
    let key = this.keys.get(endpoint.secret);
    if (key === undefined) {
      key = webhookKey(endpoint.secret);
      this.keys.set(endpoint.secret, key);
    }
    return key;
  }

  /** Records a delivery's outcome under its lease (ignored when the lease has ended), and moves the breaker. */
  private finish(name: string, leased: LeasedTask, outcome: DeliveryOutcome, now: number): void {
    const task = this.tasks.get(leased.id);
    try {
      if (task === null) {
        throw ApiError.of("not_found", `no task ${leased.id}`);
      }
      if (outcome.kind === "succeeded") {
        this.scheduler.complete(task, leased.leaseToken, outcome.result, now);
      } else {
        this.scheduler.fail(task, leased.leaseToken, outcome.error, outcome.kind === "failed", now);
      }
      this.counts[outcome.kind]++;
    } catch (error) {
      if (!(error instanceof ApiError)) {
        throw error;
      }
      this.counts.late++; // lease_lost or already_terminal: another attempt's outcome stands
    }
    const endpoint = this.endpoints.get(name);
    if (endpoint !== undefined) {
      this.endpoints.setBreaker(
        endpoint,
        breakerAfter(endpoint.breaker, breakerSignalOf(outcome), now, this.policy),
      );
      this.offer(endpoint, now);
    }
  }
}
