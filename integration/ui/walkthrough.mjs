// The isolated-environments walkthrough in a real browser (Playwright driving Chromium
// headless), in two phases around what happens outside the UI (an S3 append and an API
// commit, done by integration/test_ui.py):
//
//   phase 1: sign in (a wrong key pair first), create repository `example`, upload the
//            reviews file and the pre-merge action file on Objects, commit on Uncommitted
//            Changes (then once more with nothing to commit), create `double-branch` on
//            Branches (an invalid name first);
//   phase 2: compare main with double-branch (486,000 against 972,000 rows, duplicates),
//            click Merge and see the refusal with its report, see main unchanged, the run
//            on Actions, a tag that cannot be uploaded to, sign out.
//
// Any console error or uncaught page error fails the run. Every page visited is saved as a
// screenshot under SCREENSHOT_DIR.
//
// Environment: SLUICE_ENDPOINT, SLUICE_ACCESS_KEY_ID, SLUICE_SECRET_ACCESS_KEY, UI_PHASE
// (1 or 2), REVIEWS_PARQUET and ACTION_FILE (phase 1), SCREENSHOT_DIR, PLAYWRIGHT_CORE (the
// playwright-core package folder), CHROMIUM (default /usr/bin/chromium).
import { createRequire } from "node:module";
import { join } from "node:path";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(join(env("PLAYWRIGHT_CORE"), "package.json"));
const { chromium } = require(env("PLAYWRIGHT_CORE"));

const endpoint = env("SLUICE_ENDPOINT");
const keyId = env("SLUICE_ACCESS_KEY_ID");
const secret = env("SLUICE_SECRET_ACCESS_KEY");
const phase = env("UI_PHASE");
const shots = env("SCREENSHOT_DIR");
const repo = "example";
const ui = (path) => `${endpoint}/ui/repositories/${repo}/${path}`;

const problems = [];
let shot = 0;

async function snap(page, name) {
  shot += 1;
  const file = join(shots, `phase${phase}-${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

async function expectText(locator, text, what) {
  const got = (await locator.innerText()).replace(/\s+/g, " ");
  if (!got.includes(text)) throw new Error(`${what}: expected ${JSON.stringify(text)} in ${JSON.stringify(got.slice(0, 2000))}`);
}

async function flashError(page, what, timeout = 15000) {
  const f = page.locator(".flash.error");
  await f.waitFor({ timeout }).catch(() => {
    throw new Error(`${what}: no error message on the page`);
  });
  const text = (await f.innerText()).replace(/\s+/g, " ");
  console.log(`${what}: ${text.slice(0, 200)}`);
  return text;
}

async function signIn(page, id, key) {
  await page.getByLabel("Access key ID").fill(id);
  await page.getByLabel("Secret access key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForLoadState();
}

async function upload(page, path, file, name) {
  await page.goto(ui(`objects?ref=main&path=${encodeURIComponent(path)}`));
  await page.locator("#files").setInputFiles(file);
  await page.getByRole("button", { name: "Upload Object" }).click();
  const status = page.locator("#upload-status");
  await status.filter({ hasText: "Uploaded" }).waitFor({ timeout: 300000 });
  await expectText(status, "Uploaded 1 of 1 file", `upload of ${name}`);
  await snap(page, `objects-uploaded-${name}`);
}

async function phase1(page) {
  // A browser asking for / is sent to the UI, and to sign-in first.
  await page.goto(`${endpoint}/`);
  if (!page.url().includes("/ui/login")) throw new Error(`/ led to ${page.url()}`);
  await snap(page, "sign-in");
  await signIn(page, keyId, "not-the-secret");
  await expectText(page.locator(".flash.error"), "Wrong access key ID or secret access key", "wrong key pair");
  await snap(page, "sign-in-wrong-key");
  await signIn(page, keyId, secret);
  await page.getByRole("heading", { name: "Repositories" }).waitFor();
  await snap(page, "repositories");

  await page.getByLabel("Repository ID").fill(repo);
  await page.getByLabel("Default branch").fill("main");
  await page.getByRole("button", { name: "Create Repository" }).click();
  await expectText(page.locator(".flash.ok"), `Created repository ${repo}`, "create repository");
  await snap(page, "objects-empty");

  await upload(page, "_sluice_actions/", env("ACTION_FILE"), "action-file");
  await upload(page, "reviews/", env("REVIEWS_PARQUET"), "reviews");
  // The reviews file (about 15 MB) is over the 8 MiB threshold: it went up in parts.
  await expectText(page.locator("#upload-progress"), "Uploaded in 2 parts", "the reviews file's multipart upload");
  await page.goto(ui("objects?ref=main&path=reviews/"));
  await expectText(page.locator(".preview"), "486,000 rows", "preview of reviews/");
  await snap(page, "objects-preview");

  await page.getByRole("link", { name: "Uncommitted Changes", exact: true }).click();
  await expectText(page.locator("main"), "reviews/part-00000.parquet", "uncommitted changes");
  await snap(page, "uncommitted-changes");
  await page.getByLabel("Commit message").fill("Add the reviews table and its merge gate");
  await page.getByLabel("Metadata key 1").fill("source");
  await page.getByLabel("Metadata value 1").fill("walkthrough");
  await page.getByRole("button", { name: "Commit Changes" }).click();
  await expectText(page.locator(".flash.ok"), "Committed the changes of main", "commit");
  await snap(page, "committed");
  // Nothing left to commit.
  await page.getByLabel("Commit message").fill("Nothing");
  await page.getByRole("button", { name: "Commit Changes" }).click();
  await flashError(page, "commit with nothing to commit");
  await snap(page, "nothing-to-commit");

  await page.getByRole("link", { name: "Branches", exact: true }).click();
  await page.getByLabel("Branch name").fill("bad name~");
  await page.getByRole("button", { name: "Create Branch" }).click();
  await flashError(page, "invalid branch name");
  await snap(page, "invalid-branch-name");
  await page.getByLabel("Branch name").fill("double-branch");
  await page.getByLabel("Create from (branch, tag or commit)").fill("main");
  await page.getByRole("button", { name: "Create Branch" }).click();
  await expectText(page.locator(".flash.ok"), "Created branch double-branch", "create branch");
  await snap(page, "branches");

  await page.getByRole("link", { name: "Commits", exact: true }).click();
  await expectText(page.locator("ol.log"), "Add the reviews table", "commit log");
  await snap(page, "commits");
}

async function phase2(page) {
  await page.goto(`${endpoint}/ui/`);
  await signIn(page, keyId, secret);
  await page.goto(ui("branches"));
  await page.getByRole("row", { name: /double-branch/ }).getByRole("link", { name: "Compare with main" }).click();
  await page.locator(".report").first().waitFor({ timeout: 300000 });
  await expectText(page.locator(".left-rows").first(), "486,000", "rows on main");
  await expectText(page.locator(".right-rows").first(), "972,000", "rows on double-branch");
  await expectText(page.locator(".duplicates").first(), "486,000 duplicate rows", "duplicates");
  if ((await page.locator("svg.chart").count()) === 0) throw new Error("no chart on Compare");
  await snap(page, "compare");

  await page.getByRole("button", { name: "Merge", exact: true }).click();
  // A slow check leads through the merge's progress page, which reloads until the refusal.
  const refusal = await flashError(page, "merge", 300000);
  for (const words of ["refused", "duplicate"]) {
    if (!refusal.toLowerCase().includes(words)) throw new Error(`the refusal does not say ${words}: ${refusal}`);
  }
  await expectText(page.locator(".flash.error .refusal"), "972,000", "the refusal's report");
  await snap(page, "merge-refused");

  // main is unchanged.
  await page.goto(ui("objects?ref=main&path=reviews/"));
  await expectText(page.locator(".preview"), "486,000 rows", "main after the refused merge");
  await snap(page, "main-unchanged");

  await page.getByRole("link", { name: "Actions", exact: true }).click();
  await expectText(page.locator("table.runs"), "failed", "the run on Actions");
  await snap(page, "actions");
  await page.locator("table.runs a").first().click();
  await expectText(page.locator("main"), "reviews_not_duplicated", "the run's hook");
  await snap(page, "action-run");

  // A tag cannot be uploaded to.
  await page.goto(ui("branches"));
  await page.getByLabel("Tag name").fill("v1");
  await page.getByRole("button", { name: "Create Tag" }).click();
  await expectText(page.locator(".flash.ok"), "Created tag v1", "create tag");
  await page.goto(ui("objects?ref=v1&path=reviews/"));
  await expectText(page.locator(".note"), "is not a branch", "upload to a tag");
  if ((await page.getByRole("button", { name: "Upload Object" }).count()) !== 0) {
    throw new Error("a tag offers Upload Object");
  }
  await snap(page, "tag-no-upload");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await snap(page, "signed-out");
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
});
let failed = false;
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(60000);
  page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  const started = Date.now();
  await (phase === "1" ? phase1(page) : phase2(page));
  console.log(`phase ${phase} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  failed = true;
  console.error(`phase ${phase} failed: ${e.stack || e}`);
  if (page) await snap(page, "failure").catch(() => {});
} finally {
  await browser.close();
}
for (const p of problems) console.error(p);
process.exit(failed || problems.length > 0 ? 1 : 0);
