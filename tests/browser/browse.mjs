// Opens pages in headless Chromium and reports what a person would see.
// Input (argv[2], JSON): { cookies: [playwright cookie], http_credentials?:
// { username, password } (answers HTTP Basic challenges), viewport?:
// { width, height }, pages: [{ url, wait_for: CSS selector whose text must
// be non-empty, wait_until?: JS expression polled until truthy (e.g. until
// a live number changed), evaluate?: JS expression whose value is
// returned, screenshot?: path }] }.
// Output (stdout, JSON): [{ url, status, text, console, value }] in page order.
import { chromium } from "playwright-core";

const job = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // The machine has no route out: keep Chromium from trying.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const context = await browser.newContext({
    httpCredentials: job.http_credentials,
    viewport: job.viewport,
  });
  if (job.cookies?.length) await context.addCookies(job.cookies);
  const results = [];
  for (const p of job.pages) {
    const page = await context.newPage();
    const console_ = [];
    page.on("console", (m) => console_.push(m.text()));
    const response = await page.goto(p.url);
    const selector = p.wait_for || "body";
    await page.waitForFunction(
      (s) => (document.querySelector(s)?.innerText || "").trim() !== "",
      selector,
      { timeout: p.timeout_ms || 10000 },
    );
    if (p.wait_until) {
      await page.waitForFunction(p.wait_until, null, {
        timeout: p.timeout_ms || 10000,
        polling: 100,
      });
    }
    if (p.screenshot) await page.screenshot({ path: p.screenshot, fullPage: true });
    const value = p.evaluate ? await page.evaluate(p.evaluate) : null;
    // innerText: the text as rendered, without what CSS hides.
    const text = (await page.innerText(selector)).trim();
    results.push({ url: p.url, status: response?.status(), text, console: console_, value });
    await page.close();
  }
  process.stdout.write(JSON.stringify(results));
} finally {
  await browser.close();
}
