import { z } from "@hono/zod-openapi";
import { Identifier, Timestamp } from "./common";

export const MAX_CANDIDATES = 1000;

export const ElectionParam = z.object({ name: Identifier });

export const Campaign = z
  .object({ candidate: Identifier, ttlMs: z.number().int().min(1000).max(300_000) })
  .strict()
  .openapi("Campaign");

export const Resign = z.object({ candidate: Identifier }).strict().openapi("Resign");

export const Fence = z
  .object({ term: z.number().int().min(0) })
  .strict()
  .openapi("Fence");

export const Leader = z
  .object({ candidate: Identifier, term: z.number().int(), since: Timestamp, expiresAt: Timestamp })
  .openapi("Leader");

export const CampaignResponse = z
  .object({ isLeader: z.boolean(), position: z.number().int(), leader: Leader.nullable() })
  .openapi("CampaignResponse");

export const Election = z
  .object({
    name: Identifier,
    leader: Leader.nullable(),
    term: z.number().int(),
    candidates: z.array(z.object({ candidate: Identifier, joinedAt: Timestamp, expiresAt: Timestamp })),
  })
  .openapi("Election");

/** An election as lists show it (GET /v1/elections, /v1/status): its leadership, without its candidates. */
export const ElectionSummary = z
  .object({ name: Identifier, term: z.number().int(), leader: Leader.nullable() })
  .openapi("ElectionSummary");

/** Elections `/v1/status` lists; the rest are paged with GET /v1/elections from its `electionsCursor`. */
export const STATUS_ELECTIONS = 100;

export const ElectionQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: Identifier.optional().openapi({
    description:
      "the cursor a previous page (or `/v1/status`'s `electionsCursor`) returned: the last name listed",
  }),
});

export const ElectionList = z
  .object({
    elections: z.array(ElectionSummary),
    cursor: z.string().nullable().openapi({ description: "null on the last page" }),
  })
  .openapi("ElectionList");

export const OwnerParam = z.object({ key: z.string().min(1).max(200) });
export const OwnerQuery = z.object({ region: Identifier });
export const Owner = z
  .object({ key: z.string(), region: Identifier, nodeId: z.string().nullable() })
  .openapi("Owner");
