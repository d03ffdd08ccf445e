// The demo client: submits tasks from real cities, in batches, with the typed client.
import type { MeridianClient, SubmitTaskInput } from "../../src/sdk/index.ts";
import { CITIES, type City } from "./world.ts";

/** A task the demo submitted, and from where. */
export interface Submitted {
  id: string;
  type: string;
  city: string;
  region: string;
  distanceKm: number | null;
  reason: string;
}

/** Task types with their share of the traffic and how they are submitted. */
const MIX: { share: number; task: (city: City, n: number) => SubmitTaskInput }[] = [
  { share: 0.35, task: (city) => ({ type: "geo.enrich", payload: { city: city.name } }) },
  { share: 0.3, task: (_, n) => ({ type: "thumbnail.render", payload: { image: `img-${n}.jpg` } }) },
  { share: 0.25, task: (_, n) => ({ type: "invoice.pdf", payload: { invoice: n }, maxAttempts: 4 }) },
  // A lease (4 s) shorter than the work (3-8 s): the agents keep extending it.
  {
    share: 0.1,
    task: (_, n) => ({ type: "video.transcode", payload: { video: `clip-${n}.mp4` }, timeoutMs: 4000 }),
  },
];

function pick<T>(items: T[], weight: (t: T) => number, random: () => number): T {
  const total = items.reduce((sum, t) => sum + weight(t), 0);
  let roll = random() * total;
  for (const item of items) {
    roll -= weight(item);
    if (roll < 0) {
      return item;
    }
  }
  return items[items.length - 1]!;
}

export interface TrafficOptions {
  client: MeridianClient;
  /** Batches per second x tasks per batch ≈ rate. */
  everyMs?: number;
  perBatch?: [number, number];
  onSubmitted: (tasks: Submitted[]) => void;
  onError: (message: string) => void;
  random?: () => number;
}

/** Submits a batch of tasks from random cities (weighted by population) every `everyMs`. */
export class DemoTraffic {
  private readonly options: TrafficOptions;
  private timer: ReturnType<typeof setInterval> | null = null;
  private inFlight: Promise<void> | null = null;
  private counter = 0;
  submitted = 0;
  refused = 0;

  constructor(options: TrafficOptions) {
    this.options = options;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.inFlight) {
        this.inFlight = this.submitBatch().finally(() => {
          this.inFlight = null;
        });
      }
    }, this.options.everyMs ?? 500);
  }

  async stop(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.inFlight;
  }

  private async submitBatch(): Promise<void> {
    const random = this.options.random ?? Math.random;
    const [lo, hi] = this.options.perBatch ?? [2, 6];
    const size = lo + Math.floor(random() * (hi - lo + 1));
    const cities: City[] = [];
    const bodies: SubmitTaskInput[] = [];
    for (let i = 0; i < size; i++) {
      const city = pick(CITIES, (c) => c.weight, random);
      const kind = pick(MIX, (m) => m.share, random);
      cities.push(city);
      bodies.push({ ...kind.task(city, ++this.counter), location: { lat: city.lat, lon: city.lon } });
    }
    try {
      const results = await this.options.client.batch(bodies);
      const ok: Submitted[] = [];
      results.forEach((r, i) => {
        if ("task" in r) {
          const { task } = r;
          ok.push({
            id: task.id,
            type: task.type,
            city: cities[i]!.name,
            region: task.region,
            distanceKm: task.routing.distanceKm,
            reason: task.routing.reason,
          });
        } else {
          this.refused++;
          this.options.onError(`${cities[i]!.name}: ${r.error.code}: ${r.error.message}`);
        }
      });
      this.submitted += ok.length;
      this.options.onSubmitted(ok);
    } catch (error) {
      this.options.onError(`submit failed: ${error instanceof Error ? error.message : error}`);
    }
  }
}
