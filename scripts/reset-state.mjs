#!/usr/bin/env node
// `npm run reset-state`: deletes Meridian's local state (every token, region, node, task and election
// kept by `npm run dev` / `npm start`), so the next start begins empty. MERIDIAN_STATE names another
// state directory, as it does for `npm run dev`.
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const state = process.env.MERIDIAN_STATE ?? join(root, ".wrangler", "state");
if (existsSync(state)) {
  rmSync(state, { recursive: true, force: true });
  console.log(`deleted ${state}`);
} else {
  console.log(`nothing to delete: ${state} does not exist`);
}
