/**
 * The README is tested: its shell blocks and code samples run, exactly as written, against a real
 * `wrangler dev` with the timings of wrangler.toml (the ones the README talks about).
 *
 * How README.md is read (a convention for whoever writes a section):
 * - Every ```sh (or ```bash) block runs, in order, unless the line before its fence is
 *   `<!-- readme-test: skip (why) -->` (npm install, deploy, wrangler login, fragments).
 * - `<!-- readme-test: background (ready: "TEXT") -->` before a fence: a block that runs until
 *   Ctrl-C in a terminal of its own (an agent). The test starts it, waits until its output shows TEXT,
 *   runs the next block while it runs, then sends SIGINT to its process group (Ctrl-C) and expects
 *   it to end within 20 s (an agent drains and deregisters). Its answers are checked as below.
 * - A ```ts / ```js block is a complete program or module: its first line is a comment naming its
 *   file (`// handlers.ts: ...`), and the test saves it under that name in the tour's directory for
 *   the blocks after it (which run it with the command the README gives, e.g. `node agent.ts`).
 * - Each block runs in a fresh `bash -e -o pipefail` (as if pasted into a new terminal: no variable
 *   of an earlier block survives; -e and pipefail make any failing command, a `json` that cannot
 *   parse its input included, fail the block instead of scrolling by). Its working directory is the
 *   tour's directory inside this clone (`.wrangler/readme-tour-*`: `meridian/sdk` resolves there, as
 *   anywhere in a clone) holding a `.dev.vars` with the server's ADMIN_TOKEN; MERIDIAN is the
 *   server's URL. So the blocks' `export MERIDIAN=${MERIDIAN:-...}` and
 *   `export ADMIN=${ADMIN:-$(sed ... .dev.vars)}` lines run as written.
 * - Every HTTP answer a block's `curl` gets is recorded (a wrapper first on PATH has the real curl
 *   dump the headers). A status of 400 or more fails the test, unless the command prints its
 *   status and says which it expects, at the end of its line:
 *       curl -s -w ' → %{http_code}\n' -X POST ... # expect 409 (stale_term: ...)
 *   The block's output must then show ` → 409` for that line: the ` → NNN` statuses printed by a
 *   block, in order, are the `# expect NNN` of its lines, in order.
 *
 * The tour runs twice on the same state: a second run must work on what the first left (tokens,
 * regions, tasks, elections), and it starts NODE_DEAD_AFTER_MS after the first ended, so whatever
 * nodes the first left are dead by then, as when a block is pasted minutes after the one before.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverForFile, type Timings } from "./harness.ts";

const root = resolve(import.meta.dirname, "../..");

/** One fenced block of README.md that the tour uses. */
interface Block {
  kind: "sh" | "file";
  /** The nearest heading above the block, and the line its fence opens on (1-based). */
  heading: string;
  line: number;
  text: string;
  /** For kind "file": the name its first line gives. */
  file?: string;
  /** For a background sh block: the text its output shows once it is ready. */
  readyWhen?: string;
}

const MARKER = /^<!--\s*readme-test:\s*(.*?)\s*-->$/;

/** The README's runnable blocks, in order (skipped ones left out); throws on a marker it does not know. */
function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  let heading = "(top)";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const title = line.match(/^#{1,6}\s+(.*)/);
    if (title) {
      heading = title[1]!;
      continue;
    }
    const fence = line.match(/^```(\w*)/);
    if (!fence) {
      continue;
    }
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    if (end < 0) {
      throw new Error(`README.md line ${i + 1}: a fence that never closes`);
    }
    const text = lines.slice(i + 1, end).join("\n");
    const lang = fence[1]!;
    const marker = (lines[i - 1] ?? "").trim().match(MARKER)?.[1];
    const where = { heading, line: i + 1, text };
    i = end;
    if (marker !== undefined && /^skip\b/.test(marker)) {
      continue;
    }
    const background = marker?.match(/^background\s*\(ready:\s*"([^"]+)"\)$/);
    if (marker !== undefined && !background) {
      throw new Error(`README.md line ${where.line - 1}: unknown readme-test marker "${marker}"`);
    }
    if (lang === "sh" || lang === "bash") {
      blocks.push({ kind: "sh", ...where, readyWhen: background?.[1] });
    } else if (["ts", "js", "typescript", "javascript", "mjs"].includes(lang)) {
      const file = text.match(/^\/\/\s*([\w.-]+\.(?:ts|mts|js|mjs))\b/)?.[1];
      if (!file) {
        throw new Error(
          `README.md line ${where.line}: a code sample must name its file in its first line (// name.ts: ...) or be marked <!-- readme-test: skip (why) -->`,
        );
      }
      blocks.push({ kind: "file", ...where, file });
    } else if (background) {
      throw new Error(`README.md line ${where.line}: a background marker on a ${lang || "plain"} block`);
    }
  }
  return blocks;
}

/** The statuses a block says it expects, in order (`# expect NNN` at the end of a command). */
function expectedStatuses(text: string): string[] {
  return [...text.matchAll(/#\s*expect (\d{3})\b/g)].map((m) => m[1]!);
}

/** wrangler.toml's failure-detection timings: the defaults the README describes. */
function defaultTimings(): Timings {
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  const value = (name: string) => Number(toml.match(new RegExp(`^${name}\\s*=\\s*"?(\\d+)`, "m"))?.[1]);
  return {
    HEARTBEAT_INTERVAL_MS: value("HEARTBEAT_INTERVAL_MS"),
    NODE_DEAD_AFTER_MS: value("NODE_DEAD_AFTER_MS"),
  };
}

const BLOCK_TIMEOUT_MS = 45_000;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

/** A block's bash, in a process group of its own (so Ctrl-C and clean-up reach what it started). */
class Shell {
  readonly child: ChildProcess;
  output = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly block: Block,
    readonly index: number,
    readonly tour: Tour,
  ) {
    const script = join(tour.dir, `block-${index}.sh`);
    writeFileSync(script, `${block.text}\n`);
    this.child = spawn("bash", ["-e", "-o", "pipefail", script], {
      cwd: tour.dir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...tour.env, README_CURL_LOG: this.curlLog },
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        this.output += chunk;
      });
    }
    this.exited = new Promise((resolveExit) =>
      this.child.once("exit", (code, signal) => resolveExit({ code, signal })),
    );
  }

  get curlLog(): string {
    return join(this.tour.dir, `block-${this.index}.curl.log`);
  }

  /** Which block this is, for failure messages. */
  describe(): string {
    const first = this.block.text.split("\n").find((l) => l.trim() && !/^(export |json\(\))/.test(l)) ?? "";
    return `README block #${this.index} under "${this.block.heading}" (README.md line ${this.block.line}, "${first.trim()}")`;
  }

  fail(why: string): never {
    throw new Error(`${this.describe()} ${why}\n--- its output ---\n${this.output}\n--- end ---`);
  }

  /** Resolves with the exit, or fails the block after `ms`. */
  async exit(ms: number, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => {
      timer = setTimeout(() => r(null), ms);
    });
    const exit = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (exit === null) {
      this.killGroup();
      this.fail(`did not ${what} within ${ms} ms`);
    }
    // Output written just before the exit may still be in the pipe.
    await new Promise((r) => setTimeout(r, 50));
    return exit;
  }

  signalGroup(signal: NodeJS.Signals): boolean {
    try {
      process.kill(-this.child.pid!, signal);
      return true;
    } catch {
      return false;
    }
  }

  killGroup(): void {
    this.signalGroup("SIGKILL");
  }

  /** Processes the block left running (a stray `sleep` of a stopped loop does not count). */
  leftovers(): string[] {
    try {
      return execFileSync("pgrep", ["-a", "-g", String(this.child.pid)], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.trim() && !/^\d+ (sleep\b|\[sleep\])/.test(l) && !l.includes("<defunct>"));
    } catch {
      return []; // pgrep exits 1 when nothing matches
    }
  }

  /** Every answer its curl calls got: status, whether the command printed its status, the arguments. */
  answers(): { status: string; marked: boolean; args: string }[] {
    if (!existsSync(this.curlLog)) {
      return [];
    }
    return readFileSync(this.curlLog, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [status = "", marked = "", args = ""] = line.split("\t");
        return { status, marked: marked === "marked", args };
      });
  }

  /** Fails unless every answer was below 400 or expected, and the printed statuses are the expected ones. */
  checkStatuses(): void {
    const unexpected = this.answers().filter((a) => !a.marked && !/^[123]\d\d$/.test(a.status));
    if (unexpected.length > 0) {
      this.fail(
        `got answers it does not expect (mark a call meant to fail with -w ' → %{http_code}\\n' ... # expect NNN):\n${unexpected
          .map((a) => `  ${a.status} for curl ${a.args}`)
          .join("\n")}`,
      );
    }
    const printed = [...this.output.matchAll(/ → (\d{3})\b/g)].map((m) => m[1]);
    const expected = expectedStatuses(this.block.text);
    if (JSON.stringify(printed) !== JSON.stringify(expected)) {
      this.fail(
        `printed the statuses ${printed.join(", ") || "(none)"}, its lines expect ${expected.join(", ") || "(none)"}`,
      );
    }
  }
}

/** The directory and environment the tour runs in. */
class Tour {
  readonly dir = join(root, ".wrangler", `readme-tour-${randomBytes(4).toString("hex")}`);
  env: NodeJS.ProcessEnv = { ...process.env };

  setUp(url: string, adminToken: string): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, ".dev.vars"), `ADMIN_TOKEN=${adminToken}\n`);
    // A reader pastes the blocks in the clone's root; this directory stands in for it (with its own
    // .dev.vars), so the clone's examples/ are linked in (node_modules is not: npx would take this
    // directory for a project of its own and stop looking for the clone's bins).
    symlinkSync(join(root, "examples"), join(this.dir, "examples"));
    // A `curl` that records each final status, then answers as the real one did.
    const realCurl = execFileSync("bash", ["-c", "command -v curl"], { encoding: "utf8" }).trim();
    const bin = join(this.dir, "bin");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "curl"),
      `#!/usr/bin/env bash
# readme.test.ts: records the HTTP status of every answer (the last response's status line).
headers=$(mktemp)
${realCurl} -D "$headers" "$@"
code=$?
status=$(grep -a '^HTTP/' "$headers" | tail -n 1 | cut -d' ' -f2)
marked=unmarked
case "$*" in *'%{http_code}'*) marked=marked ;; esac
printf '%s\\t%s\\t%s\\n' "\${status:-000}" "$marked" "$*" >> "$README_CURL_LOG"
rm -f "$headers"
exit $code
`,
    );
    chmodSync(join(bin, "curl"), 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Nothing of the caller's own Meridian: only what a block sets itself.
    for (const name of Object.keys(env)) {
      if (name === "ADMIN" || name.startsWith("MERIDIAN")) {
        delete env[name];
      }
    }
    this.env = {
      ...env,
      MERIDIAN: url,
      // The project's Node 22 (running this test) for `node`, and npx's node.
      PATH: [bin, dirname(process.execPath), env.PATH].join(":"),
    };
  }

  tearDown(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs every block in order; returns how many shell blocks ran. */
  async run(blocks: Block[], pass: string): Promise<number> {
    let ran = 0;
    let background: Shell[] = [];
    try {
      for (const [index, block] of blocks.entries()) {
        if (block.kind === "file") {
          writeFileSync(join(this.dir, block.file!), `${block.text}\n`);
          continue;
        }
        const shell = new Shell(block, index, this);
        ran++;
        if (block.readyWhen !== undefined) {
          const started = Date.now();
          await this.ready(shell, block.readyWhen);
          console.log(`[${pass}] block #${index} (${block.heading}): ready in ${Date.now() - started} ms`);
          background.push(shell);
          continue;
        }
        const started = Date.now();
        const exit = await shell.exit(BLOCK_TIMEOUT_MS, "end");
        console.log(`[${pass}] block #${index} (${block.heading}): ${Date.now() - started} ms`);
        if (process.env.README_TOUR_OUTPUT) {
          console.log(shell.output);
        }
        if (exit.code !== 0) {
          shell.killGroup();
          shell.fail(`failed (exit ${exit.code ?? exit.signal})`);
        }
        // A call under way when its loop was stopped may take a moment to end.
        let left = shell.leftovers();
        for (let tries = 0; left.length > 0 && tries < 10; tries++) {
          await new Promise((r) => setTimeout(r, 100));
          left = shell.leftovers();
        }
        shell.killGroup();
        shell.checkStatuses();
        if (left.length > 0) {
          shell.fail(`left processes running:\n${left.join("\n")}`);
        }
        for (const server of background) {
          const interrupted = Date.now();
          await this.interrupt(server);
          console.log(`[${pass}] block #${server.index}: stopped in ${Date.now() - interrupted} ms`);
        }
        background = [];
      }
      if (background.length > 0) {
        background[0]!.fail("runs in the background, but no block follows it");
      }
    } finally {
      for (const shell of background) {
        shell.killGroup();
      }
    }
    return ran;
  }

  private async ready(shell: Shell, text: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!shell.output.includes(text)) {
      if (shell.child.exitCode !== null || Date.now() > deadline) {
        shell.killGroup();
        shell.fail(`(in the background) did not print "${text}"`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Ctrl-C in its terminal: SIGINT to the whole group; it must end, its agent drained. */
  private async interrupt(shell: Shell): Promise<void> {
    shell.signalGroup("SIGINT");
    const exit = await shell.exit(STOP_TIMEOUT_MS, "stop after Ctrl-C (SIGINT)");
    shell.killGroup();
    if (process.env.README_TOUR_OUTPUT) {
      console.log(`[background] ${shell.describe()}:\n${shell.output}`);
    }
    // bash -e ends with the interrupted command's status: 130 (or the signal itself).
    if (!(exit.code === 0 || exit.code === 130 || exit.signal === "SIGINT")) {
      shell.fail(`ended with ${exit.code ?? exit.signal} after Ctrl-C`);
    }
    shell.checkStatuses();
  }
}

describe("README.md", () => {
  const timings = defaultTimings();
  const { server } = serverForFile(timings);
  const blocks = readmeBlocks(readFileSync(join(root, "README.md"), "utf8"));
  const tour = new Tour();

  beforeAll(() => {
    tour.setUp(server.url, server.admin);
  });
  afterAll(() => {
    tour.tearDown();
  });

  it("marks its blocks so the tour can tell what to run", () => {
    expect(timings.NODE_DEAD_AFTER_MS).toBeGreaterThan(0);
    const names = blocks.filter((b) => b.kind === "file").map((b) => b.file);
    expect(names).toEqual([...new Set(names)]);
    expect(blocks.filter((b) => b.kind === "sh").length).toBeGreaterThanOrEqual(5);
  });

  it("runs every shell block and code sample as written", async () => {
    const ran = await tour.run(blocks, "first run");
    console.log(`README tour: ${ran} shell blocks ran`);
  });

  it("runs again on the state the first run left, after its nodes are dead", async () => {
    // The first run's last nodes die NODE_DEAD_AFTER_MS after their last heartbeat.
    await new Promise((r) => setTimeout(r, timings.NODE_DEAD_AFTER_MS + 1000));
    await tour.run(blocks, "second run");
  });
});
