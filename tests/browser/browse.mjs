// Opens pages in headless Chromium and reports what a person would see.
// Input (argv[2], JSON): { cookies: [playwright cookie], pages: [{ url,
// wait_for: CSS selector whose text must be non-empty, screenshot?: path }] }.
// Output (stdout, JSON): [{ url, text, console }] in page order.
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
  const context = await browser.newContext();
  if (job.cookies?.length) await context.addCookies(job.cookies);
  const results = [];
  for (const p of job.pages) {
    const page = await context.newPage();
    const console_ = [];
    page.on("console", (m) => console_.push(m.text()));
    await page.goto(p.url);
    const selector = p.wait_for || "body";
    await page.waitForFunction(
      (s) => (document.querySelector(s)?.innerText || "").trim() !== "",
      selector,
      { timeout: p.timeout_ms || 10000 },
    );
    if (p.screenshot) await page.screenshot({ path: p.screenshot, fullPage: true });
    // innerText: the text as rendered, without what CSS hides.
    const text = (await page.innerText(selector)).trim();
    results.push({ url: p.url, text, console: console_ });
    await page.close();
  }
  process.stdout.write(JSON.stringify(results));
} finally {
  await browser.close();
}
