import { createApp } from "./app";

export { Coordinator } from "../durable-objects/coordinator";
export { EventHub } from "../durable-objects/event-hub";
export { IdempotencyKeys } from "../durable-objects/idempotency-keys";
export { RegionShard } from "../durable-objects/region-shard";

export default createApp();
