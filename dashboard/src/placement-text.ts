/** Words for a task's placement (`routing` of `GET /v1/tasks/{id}`, API-v2 §2). Pure. */

/** Why a considered region was passed over, or that it was chosen. */
export function consideredText(outcome: string): string {
  switch (outcome) {
    case "chosen":
      return "chosen: it took the task";
    case "unhealthy":
      return "passed over: unhealthy in the load table (no live node)";
    case "full":
      return "passed over: full in the load table (no free capacity)";
    case "refused":
      return "passed over: its shard refused (no healthy node, or full when room was required)";
    case "not_allowed":
      return "passed over: not in the task's allow-list (regions)";
    default:
      return outcome;
  }
}

/** Why the chosen region was chosen. */
export function reasonText(reason: string): string {
  switch (reason) {
    case "nearest":
      return "nearest healthy region with room";
    case "spillover":
      return "spillover: nearer regions (or every region of its allow-list) could not take it";
    case "allowed":
      return "allowed: nearest healthy region of its allow-list with room";
    case "pinned":
      return "pinned: the submit named this region";
    case "no_location":
      return "no location: the caller's position was unknown";
    default:
      return reason;
  }
}
