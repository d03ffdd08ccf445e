// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
// (never a browser download; CI installs chromium with apt in .ci/run).
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Where the tests leave screenshots the README and docs show. */
export const IMAGES = resolve(import.meta.dirname, "../../docs/images");

export function launchBrowser(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/**
 * A screenshot into docs/images/<name>.png: the viewport, or only `element` (smaller files);
 * `mask`: selectors painted over (e.g. a token). Only with UPDATE_SCREENSHOTS=1, so that a test
 * run does not rewrite the committed pictures.
 */
export async function screenshot(
  page: Page,
  name: string,
  options: { element?: string; mask?: string[] } = {},
): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== "1") {
    return;
  }
  mkdirSync(IMAGES, { recursive: true });
  const shot = {
    path: join(IMAGES, `${name}.png`),
    mask: (options.mask ?? []).map((s) => page.locator(s)),
    maskColor: "#57606a",
  };
  await (options.element ? page.locator(options.element).screenshot(shot) : page.screenshot(shot));
}

/** Opens the dashboard and signs in with `token`; answers once the token form is gone or an error shows. */
export async function openDashboard(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/dashboard`);
  await page.fill("#token-input", token);
  await page.click("#token-form button[type=submit]");
  await page.waitForSelector("#app:not([hidden]), #token-error:not([hidden])");
}
