#!/usr/bin/env node
// Builds the static assets the Worker serves (wrangler.toml `[assets]`): the dashboard (`/dashboard`,
// bundled from dashboard/ with esbuild) and the API explorer (`/docs`, swagger-ui-dist copied as it
// is). Everything the pages need is in the output: no CDN, no tile server, no web fonts, because
// the machines Meridian runs on may have no internet.
//
//   node scripts/build-dashboard.mjs              build (always)
//   node scripts/build-dashboard.mjs --if-missing build only when the output is absent (dev, start, tests)
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
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

/** Whether a finished build is present. */
export function assetsBuilt() {
  return existsSync(STAMP);
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
