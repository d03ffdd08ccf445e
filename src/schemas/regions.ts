import { z } from "@hono/zod-openapi";
import { Identifier, Latitude, Longitude } from "./common";

export const RegionParam = z.object({ region: Identifier });

export const PutRegion = z
  .object({ lat: Latitude, lon: Longitude, label: z.string().max(200).optional() })
  .strict()
  .openapi("PutRegion");

export const Region = z
  .object({
    id: Identifier,
    lat: z.number(),
    lon: z.number(),
    label: z.string().nullable(),
    healthy: z.boolean(),
    nodes: z.object({ healthy: z.number().int(), total: z.number().int() }),
    capacity: z.number().int(),
    inFlight: z.number().int(),
    queued: z.number().int(),
  })
  .openapi("Region");

export const RegionList = z.object({ regions: z.array(Region) }).openapi("RegionList");
