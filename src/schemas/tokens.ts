import { z } from "@hono/zod-openapi";
import { ROLES } from "../core/permissions";
import { MintedId, Timestamp } from "./common";

export const Role = z.enum(ROLES).openapi("Role");

export const CreateToken = z
  .object({ role: Role, label: z.string().max(200).optional() })
  .strict()
  .openapi("CreateToken");

export const TokenInfo = z
  .object({ id: MintedId, role: Role, label: z.string().nullable(), createdAt: Timestamp })
  .openapi("TokenInfo");

export const CreatedToken = z
  .object({
    id: MintedId,
    token: z.string().openapi({ description: "shown once; stored only as a SHA-256 hash" }),
    role: Role,
    label: z.string().nullable(),
  })
  .openapi("CreatedToken");

export const TokenList = z.object({ tokens: z.array(TokenInfo) }).openapi("TokenList");
export const TokenIdParam = z.object({ id: MintedId });
