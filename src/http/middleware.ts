import type { MiddlewareHandler } from "hono";
import { ApiError } from "../core/errors";
import { can, type Operation } from "../core/permissions";
import { sha256Hex } from "../core/sha256-hex";
import type { AppEnv } from "./context";

/** Default body limit of the contract. */
export const MAX_BODY_BYTES = 256 * 1024;

/** How deep arrays and objects may nest in a body (the fuzzer found 3000 levels answered 500). */
export const MAX_JSON_DEPTH = 128;

/** The deepest nesting of arrays and objects in a JSON text, in one pass without recursion. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) {
        i++;
      } else if (ch === 34 /* " */) {
        inString = false;
      }
    } else if (ch === 34) {
      inString = true;
    } else if (ch === 91 /* [ */ || ch === 123 /* { */) {
      depth++;
      deepest = Math.max(deepest, depth);
    } else if (ch === 93 /* ] */ || ch === 125 /* } */) {
      depth--;
    }
  }
  return deepest;
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
 * an empty body as `{}`, and marks it `application/json` so clients need not send the header.
 */
export const jsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== "POST" && c.req.method !== "PUT") {
    return next();
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
  if (nestingDepth(text) > MAX_JSON_DEPTH) {
    // Deeper values overflow the stack further on (RPC serialization, canonical JSON): a 500 otherwise.
    throw ApiError.of("invalid_request", `the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
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
  return next();
};

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

/**
 * Reads the bearer token and resolves who is calling: the admin secret is recognised here; a minted
 * token is looked up by its SHA-256 hash in this isolate's auth cache, which asks the coordinator on
 * a miss (at most once per AUTH_CACHE_TTL_MS per token: the revocation bound). 401 when unknown.
 */
export const bearer: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
  if (!match) {
    throw ApiError.of("unauthorized", "send Authorization: Bearer <token>");
  }
  const token = match[1]!;
  const admin = c.env.ADMIN_TOKEN;
  const principal =
    admin && sameSecret(token, admin)
      ? { role: "admin" as const, tokenId: "admin" }
      : await c.var.edge.auth.principal(await sha256Hex(token));
  if (principal === null) {
    throw ApiError.of("unauthorized", "unknown or revoked token");
  }
  c.set("principal", principal);
  return next();
};

/**
 * Names the operation a route performs and checks the caller's role for it. Route middleware runs
 * before the validators, so a caller who may not make a call learns that (401, 403) before anything
 * about the body (400).
 */
export function operation(name: Operation): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("operation", name);
    const principal = c.var.principal;
    if (!can(principal.role, name)) {
      throw ApiError.of("forbidden", `a ${principal.role} token may not do ${name}`);
    }
    return next();
  };
}
