#!/usr/bin/env node
// `npm run dev`: Meridian under `wrangler dev` on 127.0.0.1:8787 (PORT overrides), state kept in
// .wrangler/state. On first run it writes .dev.vars with a random ADMIN_TOKEN.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assetsBuilt, buildAssets } from "./build-dashboard.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const port = Number(process.env.PORT ?? 8787);
const persistTo = process.env.MERIDIAN_STATE ?? join(root, ".wrangler", "state");

/** Reads ADMIN_TOKEN from .dev.vars, creating the file with a fresh token on first run. */
export function ensureAdminToken() {
  const file = join(root, ".dev.vars");
  if (!existsSync(file)) {
    const token = `mrd_admin_${randomBytes(24).toString("base64url")}`;
    writeFileSync(
      file,
      `# Local secrets for wrangler dev (git-ignored). Created by npm run dev.\nADMIN_TOKEN=${token}\n`,
      {
        mode: 0o600,
      },
    );
    console.log("wrote .dev.vars with a new ADMIN_TOKEN");
  }
  const match = /^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/m.exec(readFileSync(file, "utf8"));
  if (!match) {
    throw new Error(".dev.vars has no ADMIN_TOKEN line");
  }
  return match[1].trim();
}

/** Children spawned `detached`: each leads its own process group. */
const detachedChildren = new WeakSet();

/** Builds the static assets (dashboard, API explorer) if missing or older than dashboard/: wrangler needs the directory. */
export async function ensureAssets() {
  if (!assetsBuilt()) {
    console.log("building the dashboard and API explorer assets (npm run build) ...");
    await buildAssets();
  }
}

/**
 * Starts wrangler dev (building the static assets first when they are missing); resolves with the
 * child once /healthz answers. `vars` become `--var KEY:VALUE` (ENDPOINT_PRIVATE_ADDRESSES is
 * `loopback` unless they say otherwise: push endpoints on this machine are allowed locally)
 * (overriding wrangler.toml and .dev.vars, e.g. a test server's own ADMIN_TOKEN); `extraArgs` are
 * passed on as they are (e.g. `--inspector-port`). `detached` puts wrangler and its workerd in a
 * process group of their own (a terminal's Ctrl-C then reaches only the parent, and
 * `stopWrangler` can end the whole group); `stdio` replaces the inherited output.
 */
export async function startWrangler({
  port: p = port,
  persist = persistTo,
  quiet = true,
  vars = {},
  extraArgs = [],
  detached = false,
  stdio = ["ignore", "inherit", "inherit"],
} = {}) {
  await ensureAssets();
  const args = [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(p),
    "--persist-to",
    persist,
    "--show-interactive-dev-session=false",
  ];
  if (quiet) {
    args.push("--log-level", "warn");
  }
  // Local runs deliver to push executors on this machine (production's default, deny, refuses loopback).
  for (const [key, value] of Object.entries({ ENDPOINT_PRIVATE_ADDRESSES: "loopback", ...vars })) {
    args.push("--var", `${key}:${value}`);
  }
  args.push(...extraArgs);
  const child = spawn(join(root, "node_modules", ".bin", "wrangler"), args, {
    cwd: root,
    stdio,
    detached,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (detached) {
    detachedChildren.add(child);
  }
  const url = `http://127.0.0.1:${p}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`wrangler dev exited with ${child.exitCode}`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) {
        return { child, url };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await stopWrangler(child);
  throw new Error("wrangler dev did not answer /healthz within 60 s");
}

/**
 * Stops a wrangler started by `startWrangler`: `signal` (SIGTERM by default; SIGKILL to simulate a
 * crash) to it, or to its whole process group when it was started `detached` (so workerd goes
 * too); SIGKILL after `timeoutMs`. Resolves once it has exited.
 */
export async function stopWrangler(child, { signal = "SIGTERM", timeoutMs = 5000 } = {}) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const send = (sig) => {
    try {
      if (child.pid && detachedChildren.has(child)) {
        process.kill(-child.pid, sig);
      } else {
        child.kill(sig);
      }
    } catch {
      // already gone
    }
  };
  send(signal);
  const timer = setTimeout(() => send("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const token = ensureAdminToken();
  const { child, url } = await startWrangler();
  console.log(`
Meridian is running.
  API       ${url}/v1   (Authorization: Bearer <token>)
  Dashboard ${url}/dashboard   (paste a reader token; mint one with POST /v1/tokens {"role":"reader"})
  Docs      ${url}/docs   OpenAPI: ${url}/openapi.json
  Health    ${url}/healthz
  Admin token (from .dev.vars): ${token}
  State     ${persistTo}
Try:  export MERIDIAN=${url} TOKEN=${token}
      curl -s -H "authorization: Bearer $TOKEN" $MERIDIAN/v1/status
Ctrl-C stops it.`);
  const stop = () => child.kill("SIGTERM");
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  child.on("exit", (code) => process.exit(code ?? 0));
}
