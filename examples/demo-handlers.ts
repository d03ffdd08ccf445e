// Handlers of the `npm start` demo fleet, and an example of a handler module for the CLI:
//   npx meridian-agent --url http://127.0.0.1:8787 --token $NODE_TOKEN --region eu-west-1 examples/demo-handlers.ts
// Each handler pretends to work for a while. `slow` stretches every duration; `flaky` adds failures.
// (Run by Node's type stripping: `.ts` imports, no enums or parameter properties.)
import { type Handlers, PermanentError, type TaskContext } from "../src/sdk/index.ts";

/** How a node of the demo fleet misbehaves. */
export interface DemoTraits {
  /** Every duration is multiplied by this (1 = normal). */
  slow?: number;
  /** Extra chance (0..1) that an attempt fails with a retryable error. */
  flaky?: number;
  random?: () => number;
}

/** Resolves after `ms`, or rejects when the task is taken away (lease lost, agent stopping). */
function work(ms: number, ctx: TaskContext): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ctx.signal.aborted) {
      reject(ctx.signal.reason);
      return;
    }
    const timer = setTimeout(resolve, ms);
    ctx.signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      },
      { once: true },
    );
  });
}

/** The demo's task types. Durations are drawn per attempt; results say where the work ran. */
export function demoHandlers(traits: DemoTraits = {}): Handlers {
  const slow = traits.slow ?? 1;
  const flaky = traits.flaky ?? 0;
  const random = traits.random ?? Math.random;
  const between = (lo: number, hi: number) => Math.round(slow * (lo + random() * (hi - lo)));
  const where = (ctx: TaskContext) => ({ region: ctx.region, node: ctx.nodeId, attempt: ctx.attempt });
  const maybeFlake = (what: string) => {
    if (random() < flaky) {
      throw new Error(`${what}: connection reset by a flaky dependency`);
    }
  };

  return {
    /** Quick work. */
    "geo.enrich": async (payload: { city: string }, ctx) => {
      await work(between(40, 200), ctx);
      maybeFlake("geo.enrich");
      return { ...where(ctx), city: payload.city, timezoneKnown: true };
    },
    /** Medium work. */
    "thumbnail.render": async (payload: { image: string }, ctx) => {
      const ms = between(150, 700);
      await work(ms, ctx);
      maybeFlake("thumbnail.render");
      return { ...where(ctx), image: payload.image, ms };
    },
    /**
     * Long work, submitted with a lease shorter than the work: the agent extends the lease while
     * it runs, so it is not taken away.
     */
    "video.transcode": async (payload: { video: string }, ctx) => {
      const ms = between(3000, 8000);
      await work(ms, ctx);
      maybeFlake("video.transcode");
      return { ...where(ctx), video: payload.video, ms };
    },
    /** Flaky by nature: an upstream that often answers 503, and now and then a bad invoice. */
    "invoice.pdf": async (payload: { invoice: number }, ctx) => {
      await work(between(100, 400), ctx);
      const roll = random();
      if (roll < 0.04) {
        throw new PermanentError(`invoice ${payload.invoice} has no line items`);
      }
      if (roll < 0.3) {
        throw new Error("billing service answered 503");
      }
      maybeFlake("invoice.pdf");
      return { ...where(ctx), invoice: payload.invoice, pages: 1 + Math.floor(random() * 4) };
    },
  };
}

/** For the CLI: traits from DEMO_SLOW and DEMO_FLAKY. */
export default demoHandlers({
  slow: Number(process.env.DEMO_SLOW ?? 1) || 1,
  flaky: Number(process.env.DEMO_FLAKY ?? 0) || 0,
});
