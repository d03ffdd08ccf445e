import type { Context, MiddlewareHandler } from "hono";
import { ApiError } from "../core/errors";
import { ID_ALPHABET } from "../core/ids";
import { scanJson } from "../core/json-scan";
import { ADMIN_TOKEN_ID, can, type Operation, type Principal } from "../core/permissions";
import { sha256Hex } from "../core/sha256-hex";
import type { AppEnv } from "./context";
import { clientAddress } from "./refusals";

/** Default body limit of the contract. */
export const MAX_BODY_BYTES = 256 * 1024;

/** How deep arrays and objects may nest in a body (the fuzzer found 3000 levels answered 500). */
export const MAX_JSON_DEPTH = 128;

/** The deepest nesting of arrays and objects in a JSON text, in one pass without recursion. */
export function nestingDepth(text: string): number {
  return scanJson(text).depth;
}

/** A media type the validator reads as JSON (Hono's own test, parameters such as charset allowed). */
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/** Gives each request an id, echoed in `X-Request-Id` and in error bodies. */
export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = crypto.randomUUID();
  c.set("requestId", id);
  await next();
  c.header("X-Request-Id", id);
};

/**
 * Every body is JSON: refuses bodies over the limit (413) and bodies that are not JSON (400), treats
 * an empty body as `{}`, and marks it `application/json` so clients need not send the header. Run by
 * `operation` once the caller may make the call: a 401 or 403 never costs a body read.
 */
async function readJsonBody(c: Context<AppEnv>): Promise<void> {
  if (c.req.method !== "POST" && c.req.method !== "PUT") {
    return;
  }
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) {
    throw ApiError.of("payload_too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
  }
  const bytes = new Uint8Array(await c.req.raw.arrayBuffer());
  if (bytes.byteLength > MAX_BODY_BYTES) {
    throw ApiError.of("payload_too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
  }
  const text = bytes.byteLength === 0 ? "{}" : new TextDecoder().decode(bytes);
  try {
    JSON.parse(text);
  } catch {
    throw ApiError.of("invalid_request", "the body is not valid JSON");
  }
  const scan = scanJson(text);
  if (scan.depth > MAX_JSON_DEPTH) {
    // Deeper values overflow the stack further on (RPC serialization, canonical JSON): a 500 otherwise.
    throw ApiError.of("invalid_request", `the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  if (scan.inexactNumber !== null) {
    // Refused rather than stored changed: 1e400 would be stored as null, a 20-digit id rounded.
    throw ApiError.of(
      "invalid_request",
      `the number ${scan.inexactNumber.slice(0, 40)} cannot be carried exactly (integers up to 2^53, finite values): send it as a string`,
    );
  }
  if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) {
    // The validator reads a body only when it is marked JSON; incoming headers cannot be changed.
    const headers = new Headers(c.req.raw.headers);
    headers.set("content-type", "application/json");
    c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers, body: text });
  }
  // The body has been read: the validator takes the text from Hono's body cache, which holds
  // promises (its type says values).
  (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
}

/** Constant-time string comparison, for the admin secret. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}

/** The shape of a minted secret (src/ids.ts `mintSecret`): anything else is refused without a look-up. */
const MINTED_SECRET = new RegExp(`^mrd_[${ID_ALPHABET}]{32}$`);

/**
 * Reads the bearer token and resolves who is calling: the admin secret is recognised here; a minted
 * token is looked up by its SHA-256 hash in this isolate's auth cache, which asks the coordinator on
 * a miss (at most once per AUTH_CACHE_TTL_MS per token: the revocation bound). 401 when unknown.
 * A client address that has had its REFUSAL_BURST of 401/403 answers is answered 429 instead of
 * anything that would need a look-up (see RefusalLimiter); a token this isolate trusts still passes.
 */
export const bearer: MiddlewareHandler<AppEnv> = async (c, next) => {
  const edge = c.var.edge;
  const address = clientAddress(c.req.raw);
  const now = edge.clock();
  const refuse = (message: string): never => {
    edge.refusals.refused(address, now);
    throw ApiError.of("unauthorized", message);
  };
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
  const token = match?.[1];
  const admin = c.env.ADMIN_TOKEN;
  let principal: Principal | null = null;
  if (token !== undefined && admin && sameSecret(token, admin)) {
    principal = { role: "admin", tokenId: ADMIN_TOKEN_ID, tenant: null };
  } else {
    const hash = token !== undefined && MINTED_SECRET.test(token) ? await sha256Hex(token) : null;
    principal = hash === null ? null : await edge.auth.trusted(hash);
    if (principal === null) {
      const wait = edge.refusals.wait(address, now);
      if (wait > 0) {
        throw new ApiError({
          code: "rate_limited",
          message: "too many refused calls from this address",
          retryAfter: wait,
        });
      }
      if (token === undefined) {
        refuse("send Authorization: Bearer <token>");
      }
      principal = hash === null ? null : await edge.auth.principal(hash);
      if (principal === null) {
        refuse("unknown or revoked token");
      }
    }
  }
  c.set("principal", principal!);
  return next();
};

/**
 * Names the operation a route performs and checks the caller's role for it, then reads the body.
 * Route middleware runs before the validators, so a caller who may not make a call learns that
 * (401, 403) before anything about the body (400, 413), and its body is never read.
 */
export function operation(name: Operation): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("operation", name);
    const principal = c.var.principal;
    if (!can(principal.role, name)) {
      c.var.edge.refusals.refused(clientAddress(c.req.raw), c.var.edge.clock());
      throw ApiError.of("forbidden", `a ${principal.role} token may not do ${name}`);
    }
    await readJsonBody(c);
    return next();
  };
}
