#!/usr/bin/env node
// Bundles the Worker exactly as `wrangler deploy` would (`--dry-run --outdir`: no account, no
// network), prints its raw and gzip size, and exits 1 when it is over a limit, so CI catches a
// bundle that Cloudflare would refuse before anyone tries to deploy it.
//
//   npm run check:bundle            (CI runs it after the tests: .ci/run)
//
// The limits, and why both (docs/DEPLOY.md, "Bundle size"):
// - the platform's: 64 MiB uncompressed on every plan, since Cloudflare dropped its compressed
//   limits on 2026-09-04 (https://developers.cloudflare.com/workers/platform/limits/#worker-size);
// - ours: 3 MiB gzip, the Free plan's compressed limit until then and the strictest figure the
//   platform has published. It is a tripwire, not a platform rule: a bundle that grows ten-fold
//   should be noticed (a bigger script starts slower, and start-up has a 400 ms limit), and we are
//   at ~7% of it today.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const MIB = 1024 * 1024;
const PLATFORM_LIMIT_RAW_BYTES = 64 * MIB;
const BUDGET_GZIP_BYTES = 3 * MIB;

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");

/** Runs a command in the project root; stops the script with its output when it fails. */
function run(command, args) {
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    // No telemetry call: CI has no internet, and the dry run needs none.
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout ?? ""}${result.stderr ?? ""}`);
    console.error(`check-bundle: \`${command} ${args.join(" ")}\` failed (exit ${result.status})`);
    process.exit(1);
  }
}

const kib = (bytes) => `${(bytes / 1024).toLocaleString("en-US", { maximumFractionDigits: 2 })} KiB`;
const share = (bytes, limit) => `${((100 * bytes) / limit).toFixed(1)}%`;

// wrangler refuses to bundle when [assets] names a directory that does not exist yet.
run(process.execPath, [join(root, "scripts", "build-dashboard.mjs"), "--if-missing"]);

const outdir = mkdtempSync(join(tmpdir(), "meridian-bundle-"));
try {
  run(wrangler, ["deploy", "--dry-run", "--outdir", outdir]);

  // What is uploaded: the modules. Not the source map (uploaded only with upload_source_maps,
  // which wrangler.toml does not set) nor the README wrangler writes next to them.
  const modules = readdirSync(outdir).filter((name) => !name.endsWith(".map") && name !== "README.md");
  let raw = 0;
  let gzip = 0;
  for (const name of modules) {
    const bytes = readFileSync(join(outdir, name));
    raw += bytes.length;
    gzip += gzipSync(bytes).length;
  }

  console.log(`Worker bundle (${modules.join(", ")}): ${kib(raw)} raw, ${kib(gzip)} gzip`);
  console.log(`  raw:  ${share(raw, PLATFORM_LIMIT_RAW_BYTES)} of the platform limit, 64 MiB uncompressed`);
  console.log(
    `  gzip: ${share(gzip, BUDGET_GZIP_BYTES)} of our budget, 3 MiB gzip (the former Free-plan limit)`,
  );

  const over = [];
  if (raw > PLATFORM_LIMIT_RAW_BYTES) {
    over.push("over the platform's 64 MiB uncompressed limit: Cloudflare would refuse the upload");
  }
  if (gzip > BUDGET_GZIP_BYTES) {
    over.push("over the 3 MiB gzip budget (docs/DEPLOY.md says why we keep it)");
  }
  if (over.length > 0) {
    for (const reason of over) {
      console.error(`check-bundle: ${reason}`);
    }
    process.exitCode = 1;
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
