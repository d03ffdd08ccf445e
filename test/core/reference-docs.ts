/**
 * docs/CONFIGURATION.md and docs/TROUBLESHOOTING.md, made from the code that decides (the settings'
 * schema, the error tables, the limits' constants), so they cannot drift: reference-docs.test.ts
 * compares them with the committed files, and `npm run docs` writes them.
 */
import {
  CHANNEL_FRAMES_PER_SEC,
  CHANNEL_MAX_ELECTIONS,
  CHANNEL_MAX_STRIKES,
  CHANNELS_PER_TOKEN,
} from "../../durable-objects/region-shard/channels";
import { CHOICE_SETTINGS, SETTINGS } from "../../src/core/config";
import { ERROR_HELP, ERROR_REASONS, ERROR_STATUS, type ErrorCode } from "../../src/core/errors";
import { AUTH_CACHE_TTL_MS } from "../../src/http/auth-cache";
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from "../../src/http/middleware";
import { OBSERVE_SSE_MAX_PENDING } from "../../src/http/observe";
import { MAX_REFUSAL_ADDRESSES } from "../../src/http/refusals";
import { ROUTING_TABLE_TTL_MS } from "../../src/http/routing-table";
import { MAX_NODE_FRAME_BYTES } from "../../src/schemas/channel";
import { MAX_CANDIDATES } from "../../src/schemas/elections";
import { MAX_LABELS, MAX_NODE_CAPACITY, MAX_REPORTS } from "../../src/schemas/nodes";
import { MAX_BATCH, MAX_DELAY_MS } from "../../src/schemas/tasks";

const GENERATED =
  "<!-- Generated from the code by `npm run docs`; a test fails when it differs. Do not edit. -->";

const cell = (text: string) => text.replace(/\|/g, "\\|");
const n = (value: number) => value.toLocaleString("en-US").replace(/,/g, " ");

export function configurationDoc(): string {
  const settings = Object.entries(SETTINGS).map(
    ([name, s]) =>
      `| \`${name}\` | ${n(s.default)} | ${n(s.min)} – ${n(s.max)}${s.kind === "ms" ? " ms" : ""} | ${cell(s.describe)} |`,
  );
  const choices = Object.entries(CHOICE_SETTINGS).map(
    ([name, s]) =>
      `| \`${name}\` | \`${s.default}\` | ${s.choices.map((c) => `\`${c}\``).join(", ")} | ${cell(s.describe)} |`,
  );
  const limits: [string, string, string][] = [
    ["Request body", `${n(MAX_BODY_BYTES)} bytes`, "413 `payload_too_large` beyond it"],
    ["JSON nesting", `${MAX_JSON_DEPTH} levels`, "400 beyond it"],
    [
      "JSON numbers",
      "integers a double holds exactly, finite values",
      "400 for `1e400` or `12345678901234567891`",
    ],
    ["Tasks per batch submit", n(MAX_BATCH), "`POST /v1/tasks:batch`"],
    ["How far ahead a task runs", `${n(MAX_DELAY_MS)} ms`, "`delayMs`, and `runAt` from now: 400 beyond it"],
    ["Outcomes per report", n(MAX_REPORTS), "`POST /v1/nodes/{id}/report` and a channel `report` frame"],
    ["Node capacity", n(MAX_NODE_CAPACITY), "tasks one node may hold at once"],
    ["Labels per node", n(MAX_LABELS), ""],
    ["Candidates per election", n(MAX_CANDIDATES), "409 `too_many_candidates` beyond it"],
    ["Channel frame", `${n(MAX_NODE_FRAME_BYTES)} bytes (UTF-8)`, "an `error` frame and a strike beyond it"],
    [
      "Channel frames a second, per socket",
      n(CHANNEL_FRAMES_PER_SEC),
      "the default of `SOCKET_FRAMES_PER_SEC`; an `error` frame and a strike beyond it",
    ],
    ["Strikes before a channel is closed", n(CHANNEL_MAX_STRIKES), "close 1008"],
    ["Channels per token, per region", n(CHANNELS_PER_TOKEN), "429 `rate_limited` on the upgrade"],
    ["Elections one channel follows", n(CHANNEL_MAX_ELECTIONS), "400 beyond it"],
    [
      "Observer stream (SSE) messages its reader has not taken",
      n(OBSERVE_SSE_MAX_PENDING),
      "an `event: dropped`, then the stream ends",
    ],
    [
      "Client addresses counted for refusals",
      `${n(MAX_REFUSAL_ADDRESSES)} per isolate`,
      "past it the counts start again",
    ],
    [
      "Auth cache (revocation bound)",
      `${n(AUTH_CACHE_TTL_MS)} ms`,
      "how long an edge may trust a token it looked up",
    ],
    ["Routing table cache", `${n(ROUTING_TABLE_TTL_MS)} ms`, "how old the load an edge routes by may be"],
  ];
  return `${GENERATED}

# Configuration

Every setting is read from \`[vars]\` in \`wrangler.toml\` (locally overridable in \`.dev.vars\`, or
with \`wrangler dev --var NAME:value\`), except \`ADMIN_TOKEN\`, a secret (\`wrangler secret put
ADMIN_TOKEN\`; \`npm run dev\` writes a random one to the git-ignored \`.dev.vars\`). They are parsed
once, by the schema in \`src/core/config.ts\`. A value that cannot be used is never replaced by its
default: every request then answers **500 \`misconfigured\`** with the setting named, e.g.
\`NODE_DEAD_AFTER_MS: expected a whole number of milliseconds from 200 to 3600000, got "10s"\`
(a Worker cannot refuse to start, so it refuses every request instead). Numeric values are whole
numbers written as digits.

## Settings

| setting | default | allowed | what it does |
| --- | --- | --- | --- |
| \`ADMIN_TOKEN\` | — (required) | any non-empty string | The bootstrap admin bearer token; mint the others with \`POST /v1/tokens\`. |
${settings.join("\n")}
${choices.join("\n")}

Checked together: \`NODE_DEAD_AFTER_MS\` must be more than \`HEARTBEAT_INTERVAL_MS\`.

## Fixed limits

Not settings: changing one is a code change (each is a named constant in the source).

| limit | value | where it applies |
| --- | --- | --- |
${limits.map(([what, value, where]) => `| ${what} | ${value} | ${cell(where)} |`).join("\n")}
`;
}

export function troubleshootingDoc(): string {
  const codes = (Object.keys(ERROR_STATUS) as ErrorCode[]).map(
    (code) =>
      `| ${ERROR_STATUS[code]} | \`${code}\` | ${cell(ERROR_HELP[code].means)} | ${cell(ERROR_HELP[code].action)} |`,
  );
  const reasons = Object.entries(ERROR_REASONS).map(
    ([reason, r]) =>
      `| \`${reason}\` | ${ERROR_STATUS[r.code]} \`${r.code}\` | ${cell(r.means)} | ${cell(r.action)} |`,
  );
  return `${GENERATED}

# Troubleshooting

Every error Meridian answers has the shape \`{"error": {"code", "message", "reason"?, "issues"?,
"requestId"}}\`. The \`code\` fixes the HTTP status; a \`reason\` says more when the code alone does
not (most 409s). Quote the \`requestId\` when you report a problem: the log line of the failure names
it. Made from the error tables in \`src/core/errors.ts\`.

## Codes

| status | code | what it means | what to do |
| --- | --- | --- | --- |
${codes.join("\n")}

## Reasons

| reason | status, code | what it means | what to do |
| --- | --- | --- | --- |
${reasons.join("\n")}
`;
}
