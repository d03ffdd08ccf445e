// Types for scripts/dev.mjs, so TypeScript (the e2e tests, the demo) can import it.
import type { ChildProcess, StdioOptions } from "node:child_process";

/** Reads ADMIN_TOKEN from .dev.vars, creating the file with a fresh token on first run. */
export function ensureAdminToken(): string;

export interface StartWranglerOptions {
  /** Default: PORT or 8787. */
  port?: number;
  /** Persist directory. Default: MERIDIAN_STATE or .wrangler/state. */
  persist?: string;
  /** `--log-level warn` (default true). */
  quiet?: boolean;
  /** Each becomes `--var KEY:VALUE`. */
  vars?: Record<string, string | number>;
  extraArgs?: string[];
  /** Own process group (default false). */
  detached?: boolean;
  stdio?: StdioOptions;
}

/** Builds the static assets (dashboard, API explorer) if they are missing. */
export function ensureAssets(): Promise<void>;

/** Starts wrangler dev (building missing assets first); resolves once /healthz answers. */
export function startWrangler(options?: StartWranglerOptions): Promise<{ child: ChildProcess; url: string }>;

/** Stops it (its process group when detached); SIGKILL after timeoutMs. */
export function stopWrangler(
  child: ChildProcess,
  options?: { signal?: NodeJS.Signals; timeoutMs?: number },
): Promise<void>;
