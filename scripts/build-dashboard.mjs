#!/usr/bin/env node
// Builds the static assets the Worker serves (wrangler.toml `[assets]`): the dashboard (`/dashboard`,
// bundled from dashboard/ with esbuild) and the API explorer (`/docs`, swagger-ui-dist copied as it
// is). Everything the pages need is in the output: no CDN, no tile server, no web fonts, because
// the machines Meridian runs on may have no internet.
//
//   node scripts/build-dashboard.mjs              build (always)
//   node scripts/build-dashboard.mjs --if-missing build only when the output is absent or older than
//                                                 dashboard/ (dev, start and the tests do this)
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The directory wrangler.toml's `[assets]` names (git-ignored: built, never committed). */
export const ASSETS_DIR = join(root, "dist", "assets");

/** The file whose presence means a build finished (written last; outside the served directory). */
const STAMP = join(root, "dist", ".assets-built");

const modules = join(root, "node_modules");

/** Files copied from packages as they are: [from (under node_modules), to (under the assets dir)]. */
const COPIED = [
  ["swagger-ui-dist/swagger-ui.css", "docs/swagger-ui.css"],
  ["swagger-ui-dist/swagger-ui-bundle.js", "docs/swagger-ui-bundle.js"],
  ["swagger-ui-dist/favicon-32x32.png", "docs/favicon-32x32.png"],
  ["world-atlas/countries-110m.json", "dashboard/countries-110m.json"],
  ["uplot/dist/uPlot.min.css", "dashboard/uplot.min.css"],
];

/** Files written from dashboard/ as they are: [from (under dashboard/), to (under the assets dir)]. */
const PAGES = [
  ["pages/dashboard.html", "dashboard.html"],
  ["pages/dashboard.css", "dashboard/dashboard.css"],
  ["pages/docs.html", "docs.html"],
  ["pages/docs-init.js", "docs/docs-init.js"],
];

/** The newest modification time of the files under `dir` (recursively). */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Whether a finished build is present and newer than the dashboard's sources and this script, so
 * a test run after editing dashboard/ never serves a stale page. (Packages are not watched: a
 * dependency upgrade needs `npm run build`, which `npm install` runs as `prepare`.)
 */
export function assetsBuilt() {
  if (!existsSync(STAMP)) {
    return false;
  }
  const built = statSync(STAMP).mtimeMs;
  const sources = Math.max(
    newestMtime(join(root, "dashboard")),
    statSync(fileURLToPath(import.meta.url)).mtimeMs,
  );
  return built >= sources;
}

/** Builds every asset into ASSETS_DIR (replacing what was there); answers the dashboard bundle's sizes. */
export async function buildAssets() {
  // esbuild is imported here, not at the top, so `--if-missing` with a build present costs nothing.
  const { build } = await import("esbuild");
  rmSync(STAMP, { force: true });
  rmSync(ASSETS_DIR, { recursive: true, force: true });
  mkdirSync(join(ASSETS_DIR, "dashboard"), { recursive: true });
  mkdirSync(join(ASSETS_DIR, "docs"), { recursive: true });
  for (const [from, to] of COPIED) {
    copyFileSync(join(modules, from), join(ASSETS_DIR, to));
  }
  for (const [from, to] of PAGES) {
    copyFileSync(join(root, "dashboard", from), join(ASSETS_DIR, to));
  }
  const bundle = join(ASSETS_DIR, "dashboard", "dashboard.js");
  await build({
    entryPoints: [join(root, "dashboard", "src", "main.ts")],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2022"],
    outfile: bundle,
    legalComments: "none",
    logLevel: "warning",
  });
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
  const bytes = statSync(bundle).size;
  return { bytes, gzip: gzipSync(readFileSync(bundle)).length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes("--if-missing") && assetsBuilt()) {
    process.exit(0);
  }
  const { bytes, gzip } = await buildAssets();
  console.log(
    `built ${ASSETS_DIR}: dashboard.js ${bytes.toLocaleString("en")} bytes, ${gzip.toLocaleString("en")} gzip`,
  );
}
