import { z } from "@hono/zod-openapi";
import { ROLES } from "../core/permissions";
import { Identifier, MintedId, Timestamp } from "./common";

/** A token's tenant (API-v2 §8); null only for a global admin. */
const Tenant = Identifier.nullable().openapi({ description: "null: a global admin (sees every tenant)" });

export const Role = z.enum(ROLES).openapi("Role");

export const CreateToken = z
  .object({
    role: Role,
    label: z.string().max(200).optional(),
    tenant: Identifier.optional().openapi({
      description:
        "the token's tenant; default: the caller's (a tenant admin mints only in its own), or for a global admin `default` (an admin minted without one is global)",
    }),
  })
  .strict()
  .openapi("CreateToken");

export const TokenInfo = z
  .object({ id: MintedId, role: Role, label: z.string().nullable(), tenant: Tenant, createdAt: Timestamp })
  .openapi("TokenInfo");

export const CreatedToken = z
  .object({
    id: MintedId,
    token: z.string().openapi({ description: "shown once; stored only as a SHA-256 hash" }),
    role: Role,
    label: z.string().nullable(),
    tenant: Tenant,
  })
  .openapi("CreatedToken");

export const TokenList = z.object({ tokens: z.array(TokenInfo) }).openapi("TokenList");
export const TokenIdParam = z.object({ id: MintedId });
