import * as fs from "node:fs";
import { expect, test, type Page } from "@playwright/test";

// One story, in order, as a new team would live it: the first administrator sets up the
// instance, creates a project, adds a business analyst as a viewer, creates an API token and
// signs out; the viewer signs in and finds nothing they can change.

const admin = { email: "ada@example.org", password: "correct horse battery" };
const viewer = { email: "bob@example.org", password: "viewer password 1" };
let inviteLink = "";
/** The run the browser-trained model landed in. */
let trainedRun = "";

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `artifacts/${name}.png`, fullPage: true });
}

/** Waits until the page is hydrated (the wasm has attached its event handlers). */
async function hydrated(page: Page) {
  await page.waitForFunction(() => (window as any).__trellis_hydrated === true);
}

test.describe.configure({ mode: "serial" });

// Any script error in the browser (a hydration panic, say) fails the test that caused it.
test.beforeEach(async ({ page }) => {
  page.on("pageerror", (err) => {
    throw new Error(`browser error on ${page.url()}: ${err.message}`);
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") console.log(`[browser console] ${page.url()}: ${msg.text()}`);
  });
});

test("first administrator sets up the instance and gets the demo project", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/setup$/);
  await hydrated(page);
  await shot(page, "01-setup");
  await page.getByLabel("Email").fill(admin.email);
  await page.getByLabel("Name").fill("Ada Admin");
  await page.getByLabel("Password", { exact: true }).fill(admin.password);
  await page.getByLabel("Confirm password").fill("something else");
  await page.getByRole("button", { name: "Create administrator" }).click();
  await expect(page.getByRole("alert")).toContainText("passwords differ");

  await page.getByLabel("Confirm password").fill(admin.password);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: "Projects" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Demo project" })).toBeVisible();
  await shot(page, "02-projects");
  // The demo project comes with a dataset, profiled in the background.
  await page.goto("/p/demo/datasets/customers");
  await expect(page.getByRole("table", { name: "Schema" })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole("img", { name: "Histogram of income" })).toBeVisible();
});

test("admin creates a project, a user, adds them as viewer, and creates a token", async ({ page }) => {
  await signIn(page, admin);

  await page.getByLabel("Name").fill("Churn model");
  await page.getByLabel("Description").fill("Predict which customers leave");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page).toHaveURL(/\/p\/churn-model$/);
  await expect(page.getByRole("heading", { name: "Churn model" })).toBeVisible();
  await hydrated(page);
  await shot(page, "03-project-overview");

  // The project switcher lists it.
  await expect(page.getByRole("combobox", { name: "Switch project" })).toHaveValue("churn-model");

  // Create the analyst's account.
  await page.getByRole("link", { name: "Users" }).click();
  await expect(page.getByRole("heading", { name: "Users", exact: true })).toBeVisible();
  const createUser = page.locator("section", { has: page.getByRole("heading", { name: "Create a user" }) });
  await createUser.getByLabel("Email").fill(viewer.email);
  await createUser.getByLabel("Name").fill("Bob Analyst");
  await createUser.getByLabel("Initial password").fill(viewer.password);
  await createUser.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("table", { name: "Users" })).toContainText(viewer.email);

  // An invitation link, shown once.
  const invite = page.locator("section", { has: page.getByRole("heading", { name: "Invite someone" }) });
  await invite.getByLabel("Email").fill("carol@example.org");
  await invite.getByRole("button", { name: "Create invitation" }).click();
  await expect(page.getByLabel("Invitation link")).toHaveValue(/^http:\/\/127\.0\.0\.1:\d+\/invite\/inv_[0-9a-f]{64}$/);
  inviteLink = await page.getByLabel("Invitation link").inputValue();
  await shot(page, "04-admin-users");

  // Add the analyst to the project as a viewer.
  await page.goto("/p/churn-model/members");
  await hydrated(page);
  const add = page.locator("section", { has: page.getByRole("heading", { name: "Add a member" }) });
  await add.getByLabel("Email").fill(viewer.email);
  await add.getByLabel("Role").selectOption("viewer");
  await add.getByRole("button", { name: "Add member" }).click();
  const members = page.getByRole("table", { name: "Members" });
  await expect(members).toContainText(viewer.email);
  await expect(members.getByRole("row", { name: new RegExp(viewer.email) })).toContainText("viewer");
  await shot(page, "05-members");

  // A token, used against the REST API.
  await page.goto("/settings/tokens");
  await hydrated(page);
  await page.getByLabel("Name").fill("laptop");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = page.getByLabel("New token");
  await expect(secret).toHaveValue(/^trl_[0-9a-f]{64}$/);
  const token = await secret.inputValue();
  await expect(page.getByRole("table", { name: "Your tokens" })).toContainText("laptop");
  await shot(page, "06-tokens");
  const res = await page.request.get("/v1/projects", {
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(res.status()).toBe(200);
  const slugs = (await res.json()).map((p: { slug: string }) => p.slug);
  expect(slugs).toContain("churn-model");

  // The audit log recorded all of it.
  await page.goto("/admin/audit");
  const audit = page.getByRole("table", { name: "Audit log" });
  await expect(audit).toContainText("member.add");
  await expect(audit).toContainText("token.create");
  await shot(page, "07-audit");

  // Jobs page renders (housekeeping runs as a system job).
  await page.goto("/admin/jobs");
  await expect(page.getByRole("table", { name: "Jobs" })).toContainText("maintenance.cleanup");
  await shot(page, "08-system-jobs");

  // Sign out.
  await page.getByText("Ada Admin").click();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
  const after = await page.request.get("/v1/projects");
  expect(after.status()).toBe(401);
});

test("the viewer sees the project but cannot change anything", async ({ page }) => {
  await signIn(page, viewer);
  await expect(page.getByRole("link", { name: "Churn model" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Demo project" })).toHaveCount(0);
  await page.getByRole("link", { name: "Churn model" }).click();
  await expect(page.getByRole("heading", { name: "Churn model" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Save settings" })).toHaveCount(0);
  await page.getByRole("link", { name: "Members" }).click();
  await expect(page.getByRole("table", { name: "Members" })).toContainText(admin.email);
  await expect(page.getByRole("button", { name: "Add member" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: /Remove/ })).toHaveCount(0);
  await shot(page, "09-viewer-members");

  // The dark theme, remembered across pages.
  await page.getByRole("button", { name: "Toggle dark theme" }).click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await shot(page, "13-dark-theme");

  // The server refuses changes too, not only the UI.
  const res = await page.request.post("/v1/projects/churn-model/members", {
    data: { email: viewer.email, role: "admin" },
  });
  expect(res.status()).toBe(403);
  expect((await res.json()).error.code).toBe("forbidden");

  // No administration for a non-admin.
  await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
  const users = await page.request.get("/v1/users");
  expect(users.status()).toBe(403);
});

test("an invitation link creates an account, once", async ({ page }) => {
  expect(inviteLink).not.toBe("");
  await page.goto(inviteLink);
  await hydrated(page);
  await expect(page.getByText("carol@example.org")).toBeVisible();
  await shot(page, "10-accept-invite");
  await page.getByLabel("Name").fill("Carol");
  await page.getByLabel("Password", { exact: true }).fill("carol password 1");
  await page.getByLabel("Confirm password").fill("carol password 1");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByText("You are not a member of any project yet")).toBeVisible();
  await page.context().clearCookies();
  await page.goto(inviteLink);
  await expect(page.getByRole("alert")).toContainText("invalid, used or expired");
});

test("a user changes their password; sign-in errors are shown", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await shot(page, "11-sign-in");
  await page.getByLabel("Email").fill("nobody@example.org");
  await page.getByLabel("Password").fill("whatever it is");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("invalid email or password");

  await signIn(page, viewer);
  await page.goto("/settings/password");
  await hydrated(page);
  await page.getByLabel("Current password").fill(viewer.password);
  await page.getByLabel("New password", { exact: true }).fill("a brand new password");
  await page.getByLabel("Confirm new password").fill("a brand new password");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("status")).toHaveText("Password changed.");
  await shot(page, "12-password");
  viewer.password = "a brand new password";
  await page.context().clearCookies();
  await signIn(page, viewer);
});

test("an editor uploads a CSV, watches it upload and sees its schema, histograms and rows", async ({ page }) => {
  await signIn(page, admin);
  await page.goto("/p/churn-model/datasets");
  await hydrated(page);
  await expect(page.getByText("No datasets yet")).toBeVisible();
  await page.getByLabel("Name").fill("customers");
  await page.getByLabel("Description").fill("CRM export");
  await page.getByRole("button", { name: "Create dataset" }).click();
  await expect(page).toHaveURL(/\/p\/churn-model\/datasets\/customers$/);
  await expect(page.getByText("No versions yet.")).toBeVisible();

  await page.getByLabel("Dataset file").setInputFiles("../ml/tests/fixtures/customers.csv");
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByRole("progressbar", { name: "Upload progress" })).toHaveAttribute("value", "100");
  await expect(page).toHaveURL(/\?v=1$/);
  const versions = page.getByRole("table", { name: "Versions" });
  await expect(versions).toContainText("customers.csv");
  await expect(versions).toContainText("250");

  // Profiling runs as a job; the page follows it.
  const schema = page.getByRole("table", { name: "Schema" });
  await expect(schema).toBeVisible({ timeout: 30_000 });
  await expect(schema.getByRole("row", { name: /^age integer/ })).toBeVisible();
  await expect(schema.getByRole("row", { name: /^churned boolean/ })).toBeVisible();
  await expect(page.getByRole("img", { name: "Histogram of age" })).toBeVisible();
  await expect(page.getByRole("img", { name: "Most frequent values of plan" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Preview" }).getByRole("row")).toHaveCount(21);
  await expect(page.getByText("Rows 1–20 of 250")).toBeVisible();
  await shot(page, "14-dataset");
  await page.getByRole("button", { name: "Next rows" }).click();
  await expect(page.getByText("Rows 21–40 of 250")).toBeVisible();

  // A bad file is refused with the line named, and no version appears.
  await page.getByLabel("Dataset file").setInputFiles({ name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from("a,b\n1,2\n3\n") });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByRole("alert")).toContainText("line 3: expected 2 fields");
  await expect(versions.getByRole("row")).toHaveCount(2);

  // A second version with a dropped column, a new one and shifted ages: the anomalies show.
  const lines = fs.readFileSync("../ml/tests/fixtures/customers.csv", "utf8").trim().split("\n");
  const changed = ["age,income,score,region,churned"]
    .concat(lines.slice(1).map((l) => {
      const f = l.split(",");
      return [Number(f[0]) + 40, f[1], f[2], "north", f[4]].join(",");
    }))
    .join("\n");
  await page.getByLabel("Dataset file").setInputFiles({ name: "customers-2.csv", mimeType: "text/csv", buffer: Buffer.from(changed) });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page).toHaveURL(/\?v=2$/);
  const anomalies = page.getByRole("list", { name: "Anomalies" });
  await expect(anomalies).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole("heading", { name: "Validation against v1" })).toBeVisible();
  await expect(anomalies).toContainText("column 'plan' is missing");
  await expect(anomalies).toContainText("new column 'region'");
  await expect(anomalies).toContainText("values outside the previous range");
  await expect(page.getByRole("table", { name: "Distribution distances" })).toContainText("Jensen-Shannon");
  await page.getByRole("button", { name: "Compare", exact: true }).click();
  const comparison = page.getByRole("table", { name: "Version comparison" });
  await expect(comparison.getByRole("row", { name: /^age integer → integer/ })).toBeVisible();
  await expect(comparison.getByRole("row", { name: /^plan string → —/ })).toBeVisible();
  await shot(page, "15-dataset-anomalies");

  // Split the version: the counts of each part are shown and add up.
  await expect(page.getByText("Not split yet.")).toBeVisible();
  await page.getByLabel("Train %").fill("70");
  await page.getByLabel("Validation %").fill("15");
  await page.getByLabel("Test %").fill("15");
  await page.getByLabel("Seed").fill("7");
  await page.getByRole("button", { name: "Split", exact: true }).click();
  const split = page.getByRole("table", { name: "Split" });
  await expect(split).toBeVisible();
  const cells = await split.locator("tbody td:nth-child(2)").allInnerTexts();
  expect(cells.map(Number).reduce((a, b) => a + b, 0)).toBe(250);
  await expect(page.getByText("Made random, seed 7.")).toBeVisible();

  // Deleting a version.
  await page.getByRole("button", { name: "Delete version 1" }).click();
  await expect(versions.getByRole("row")).toHaveCount(2);
  await expect(versions.getByRole("link", { name: "v1", exact: true })).toHaveCount(0);
  await expect(versions.getByRole("link", { name: "v2", exact: true })).toBeVisible();
});

test("an editor drops a Parquet file on the page, then archives and unarchives the dataset", async ({ page }) => {
  await signIn(page, admin);
  await page.goto("/p/churn-model/datasets/customers");
  await hydrated(page);
  const bytes = fs.readFileSync("../ml/tests/fixtures/customers.parquet");
  await page.getByRole("group", { name: "Drop zone for a new version" }).evaluate((zone, data) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(data)], "customers.parquet", { type: "application/vnd.apache.parquet" }));
    zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, Array.from(bytes));
  await expect(page).toHaveURL(/\?v=3$/);
  const versions = page.getByRole("table", { name: "Versions" });
  await expect(versions.getByRole("row", { name: /customers\.parquet parquet/ })).toBeVisible();
  const schema = page.getByRole("table", { name: "Schema" });
  await expect(schema.getByRole("row", { name: /^age integer/ })).toBeVisible({ timeout: 30_000 });
  await expect(schema.getByRole("row", { name: /^churned boolean/ })).toBeVisible();
  await expect(page.getByRole("img", { name: "Histogram of income" })).toBeVisible();
  await expect(page.getByText("Rows 1–20 of 250")).toBeVisible();
  await shot(page, "16-dataset-parquet");

  // Archived: hidden from the list, closed to uploads, still readable.
  await page.getByRole("button", { name: "Archive dataset" }).click();
  await expect(page.getByRole("button", { name: "Unarchive dataset" })).toBeVisible();
  await expect(page.getByText("Archived: hidden from the dataset list and closed to uploads.")).toBeVisible();
  await expect(page.getByRole("group", { name: "Drop zone for a new version" })).toHaveCount(0);
  await page.goto("/p/churn-model/datasets");
  await hydrated(page);
  await expect(page.getByRole("link", { name: "customers" })).toHaveCount(0);
  await page.getByRole("link", { name: "Show archived datasets" }).click();
  await expect(page.getByRole("table", { name: "Datasets" }).getByRole("row", { name: /customers archived/ })).toBeVisible();
  await page.getByRole("link", { name: "customers" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Unarchive dataset" }).click();
  await expect(page.getByRole("button", { name: "Archive dataset" })).toBeVisible();
  await expect(page.getByRole("group", { name: "Drop zone for a new version" })).toBeVisible();
});

test("runs logged through the MLflow API appear with their metric curves, and filter", async ({ page }) => {
  await signIn(page, admin);
  const api = async (path: string, data: object) => {
    const res = await page.request.post(`/api/2.0/mlflow/${path}`, { data });
    expect(res.ok(), `${path}: ${await res.text()}`).toBeTruthy();
    return res.json();
  };
  const { experiment_id } = await api("experiments/create", { name: "churn-model/baseline" });
  for (const [name, model, scale] of [["rf-1", "rf", 1.0], ["gbt-1", "gbt", 0.5]] as const) {
    const { run } = await api("runs/create", { experiment_id, run_name: name, start_time: Date.now() });
    const metrics = Array.from({ length: 50 }, (_, step) => ({ key: "loss", value: scale / (step + 1), timestamp: Date.now(), step }));
    await api("runs/log-batch", { run_id: run.info.run_id, metrics, params: [{ key: "model", value: model }, { key: "lr", value: String(scale / 10) }] });
    await api("runs/update", { run_id: run.info.run_id, status: "FINISHED", end_time: Date.now() });
  }
  await page.goto("/p/churn-model/experiments");
  await hydrated(page);
  await page.getByRole("link", { name: "baseline" }).click();
  const runs = page.getByRole("table", { name: "Runs" });
  await expect(runs.getByRole("row")).toHaveCount(3);
  await expect(runs.getByRole("columnheader", { name: "loss" })).toBeVisible();
  await page.getByLabel("Filter").fill("params.model = 'gbt'");
  await page.getByRole("button", { name: "Search runs" }).click();
  await expect(runs.getByRole("row")).toHaveCount(2);
  await expect(runs).toContainText("gbt-1");
  await page.getByLabel("Filter").fill("metrics.loss < 'x'");
  await page.getByRole("button", { name: "Search runs" }).click();
  await expect(page.getByRole("alert")).toContainText("Invalid filter");
  await page.goto(page.url().split("?")[0]);
  await hydrated(page);
  // Sorting by a column header: the larger final loss first, then the other way.
  await runs.getByRole("link", { name: "Sort by loss" }).click();
  await expect(runs.getByRole("row").nth(1)).toContainText("rf-1");
  await runs.getByRole("link", { name: "Sort by loss" }).click();
  await expect(runs.getByRole("row").nth(1)).toContainText("gbt-1");
  // The best run by a metric.
  await page.getByLabel("Best run by").selectOption("loss");
  await page.getByLabel("Goal").selectOption("max");
  await page.getByRole("button", { name: "Find best run" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Best run by" })).toContainText("Best run by loss (highest): rf-1");
  // Choosing columns: without the param column.
  await page.getByText("Columns", { exact: true }).click();
  await page.getByRole("checkbox", { name: "param model" }).uncheck();
  await page.getByRole("button", { name: "Show columns" }).click();
  await expect(runs.getByRole("columnheader", { name: "loss" })).toBeVisible();
  await expect(runs.getByRole("columnheader", { name: "lr" })).toBeVisible();
  await expect(runs.getByRole("columnheader", { name: "model" })).toHaveCount(0);
  await page.goto(page.url().split("?")[0]);
  await hydrated(page);
  await shot(page, "17-experiment");
  // Compare: both curves on one chart, the differing param marked.
  await page.getByRole("checkbox", { name: "Select run rf-1" }).check();
  await page.getByRole("checkbox", { name: "Select run gbt-1" }).check();
  await page.getByRole("button", { name: "Compare selected runs" }).click();
  await expect(page.getByRole("heading", { name: "Compare runs" })).toBeVisible();
  const chart = page.getByRole("img", { name: "Metric loss of the compared runs" });
  await expect(chart).toBeVisible();
  await expect(chart).toContainText("rf-1");
  await expect(chart).toContainText("gbt-1");
  await expect(page.getByRole("table", { name: "Differences" }).getByRole("row", { name: /param model/ })).toHaveClass(/differs/);
  await page.getByRole("combobox", { name: "Param", exact: true }).selectOption("lr");
  await page.getByRole("combobox", { name: "Metric", exact: true }).selectOption("loss");
  await page.getByRole("button", { name: "Draw scatter" }).click();
  const scatter = page.getByRole("img", { name: "Scatter of loss against lr" });
  await expect(scatter).toContainText("rf-1");
  await expect(scatter).toContainText("gbt-1");
  await shot(page, "19-compare");
  await page.goBack();
  await hydrated(page);
  await page.getByRole("link", { name: "rf-1" }).click();
  await expect(page.getByRole("heading", { name: /Run rf-1/ })).toBeVisible();
  await expect(page.getByRole("img", { name: "Metric loss" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Parameters" })).toContainText("rf");
  // Time on the x axis, smoothed.
  await page.getByLabel("X axis").selectOption("time");
  await page.getByLabel("Smoothing").fill("0.6");
  await page.getByRole("button", { name: "Redraw charts" }).click();
  await expect(page).toHaveURL(/x=time&smooth=0.6/);
  await expect(page.getByRole("img", { name: "Metric loss" })).toContainText("seconds since the first value");
  await shot(page, "18-run");

  // Runs selected together are deleted, and restored from the deleted ones.
  for (const name of ["scratch-1", "scratch-2"]) {
    await api("runs/create", { experiment_id, run_name: name, start_time: Date.now() });
  }
  await page.goto(`/p/churn-model/experiments/${experiment_id}`);
  await hydrated(page);
  await expect(runs.getByRole("row")).toHaveCount(5);
  const selection = page.getByRole("group", { name: "Selected runs" });
  await expect(selection.getByRole("button", { name: "Delete selected runs" })).toBeDisabled();
  await runs.getByRole("checkbox", { name: "Select run scratch-1" }).check();
  await runs.getByRole("checkbox", { name: "Select run scratch-2" }).check();
  await expect(selection.getByRole("status")).toHaveText("2 selected");
  await selection.getByRole("button", { name: "Delete selected runs" }).click();
  await expect(selection.getByRole("status")).toHaveText("Deleted 2 runs.");
  await expect(runs.getByRole("row")).toHaveCount(3);
  await page.getByRole("combobox", { name: "Runs" }).selectOption("deleted");
  await page.getByRole("button", { name: "Search runs" }).click();
  await hydrated(page);
  await expect(runs.getByRole("row")).toHaveCount(3);
  await expect(runs.getByRole("row", { name: /scratch-1/ })).toContainText("deleted");
  await runs.getByRole("checkbox", { name: "Select run scratch-1" }).check();
  await shot(page, "22-deleted-runs");
  await selection.getByRole("button", { name: "Restore selected runs" }).click();
  await expect(selection.getByRole("status")).toHaveText("Restored 1 run.");
  await expect(runs.getByRole("row")).toHaveCount(2);
  await page.getByRole("combobox", { name: "Runs" }).selectOption("");
  await page.getByRole("button", { name: "Search runs" }).click();
  await expect(runs.getByRole("row")).toHaveCount(4);
  await expect(runs).toContainText("scratch-1");

  // A chart of every run: final loss against the learning rate; the run without them is left out.
  await page.getByRole("combobox", { name: "Horizontal axis" }).selectOption("params.lr");
  await page.getByRole("combobox", { name: "Vertical axis" }).selectOption("metrics.loss");
  await page.getByRole("button", { name: "Draw runs chart" }).click();
  const runsChart = page.getByRole("img", { name: "Runs chart: loss against lr" });
  await expect(runsChart).toContainText("rf-1");
  await expect(runsChart).toContainText("gbt-1");
  await expect(runsChart).toContainText("2 runs drawn; 1 without both values or over the limit left out.");
  await shot(page, "23-runs-chart");
});

test("a model logged from Python appears with its run, lineage and registry entry", async ({ page }) => {
  const python = process.env.TRELLIS_TEST_PYTHON ?? "python3";
  const base = test.info().project.use.baseURL ?? "";
  const { execFileSync } = await import("node:child_process");
  const out = execFileSync(python, ["python/log_model.py"], {
    env: { ...process.env, MLFLOW_TRACKING_URI: base, MLFLOW_TRACKING_USERNAME: admin.email, MLFLOW_TRACKING_PASSWORD: admin.password, MLFLOW_HTTP_REQUEST_MAX_RETRIES: "0" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const runId = out.trim().split("\n").pop() ?? "";
  expect(runId).toMatch(/^[0-9a-f]{32}$/);
  await signIn(page, admin);
  await page.goto("/p/churn-model/experiments");
  await hydrated(page);
  await page.getByRole("link", { name: "python" }).click();
  await page.getByRole("link", { name: "py-logreg" }).click();
  await expect(page.getByRole("heading", { name: /Run py-logreg/ })).toBeVisible();
  await expect(page.getByRole("region", { name: "Note" })).toContainText("Baseline logistic regression");
  // Notes are markdown, edited in place.
  await page.getByText("Edit note").click();
  await page.getByLabel("Note (markdown)").fill("**Champion** candidate, see [the docs](https://mlflow.org).");
  await page.getByRole("button", { name: "Save note" }).click();
  await expect(page.getByRole("region", { name: "Note" }).locator("strong")).toHaveText("Champion");
  await expect(page.getByRole("region", { name: "Note" }).getByRole("link", { name: "the docs" })).toHaveAttribute("href", "https://mlflow.org");
  await expect(page.getByRole("img", { name: "Metric loss" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Dataset inputs" })).toContainText("churn-train");
  const models = page.getByRole("table", { name: "Logged models" });
  await expect(models).toContainText("ready");
  // The artifact browser: into a folder, a CSV shown as rows.
  const files = page.getByRole("table", { name: "Artifacts" });
  await expect(files).toContainText("README.txt");
  await files.getByRole("link", { name: "curves/" }).click();
  await page.getByRole("link", { name: "Preview history.csv" }).click();
  await expect(page.getByRole("table", { name: "Rows of curves/history.csv" })).toContainText("0.41");
  await shot(page, "20-run-lineage");
  await models.getByRole("link", { name: "churn-classifier v1" }).click();
  await expect(page.getByRole("heading", { name: /Model churn-classifier/ })).toBeVisible();
  const versions = page.getByRole("table", { name: "Versions" });
  await expect(versions.getByRole("row")).toHaveCount(2);
  await expect(versions).toContainText("@champion");
  await expect(page.getByText("models:/churn-classifier@champion")).toBeVisible();
  await shot(page, "21-model");
  await page.getByRole("link", { name: "Models", exact: true }).click();
  await expect(page.getByRole("table", { name: "Registered models" })).toContainText("churn-classifier");
});

test("an editor trains a model in the browser, follows the job and sees its evaluation", async ({ page }) => {
  await signIn(page, admin);
  await page.goto("/p/churn-model/datasets");
  await hydrated(page);
  await page.getByLabel("Name").fill("cancer");
  await page.getByRole("button", { name: "Create dataset" }).click();
  await expect(page).toHaveURL(/\/datasets\/cancer$/);
  await page.getByLabel("Dataset file").setInputFiles("../ml/tests/fixtures/breast_cancer.csv");
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByRole("table", { name: "Schema" })).toBeVisible({ timeout: 30_000 });

  await page.getByRole("link", { name: "Train", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Train a model" })).toBeVisible();
  await hydrated(page);
  const form = page.getByRole("form", { name: "Training", exact: true });
  await form.getByRole("combobox", { name: "Dataset version" }).selectOption({ label: "cancer v1 (569 rows)" });
  await form.getByRole("combobox", { name: "Target column" }).selectOption("diagnosis");
  // Two classes: the task follows the target.
  await expect(form.getByRole("combobox", { name: "Task" })).toHaveValue("binary");
  await form.getByRole("combobox", { name: "Algorithm" }).selectOption("gradient_boosting");
  await form.getByRole("spinbutton", { name: "learning_rate" }).fill("0");
  await form.getByLabel("Experiment").fill("cancer-models");
  await shot(page, "24-train-form");
  // A bad value is refused before any job starts.
  await form.getByRole("button", { name: "Start training" }).click();
  await expect(page.getByRole("alert")).toContainText("learning_rate");
  await form.getByRole("spinbutton", { name: "learning_rate" }).fill("0.2");
  await form.getByRole("button", { name: "Start training" }).click();

  // The run page follows the job, then shows the evaluation.
  await expect(page).toHaveURL(/\/p\/churn-model\/runs\/[0-9a-f]{32}$/);
  await expect(page.getByRole("region", { name: "Training job" })).toBeVisible();
  const metrics = page.getByRole("table", { name: "Evaluation metrics" });
  await expect(metrics).toBeVisible({ timeout: 60_000 });
  await expect(metrics.getByRole("row", { name: /^roc_auc/ })).toBeVisible();
  await expect(page.getByRole("img", { name: "ROC curve" })).toBeVisible();
  await expect(page.getByRole("img", { name: "Loss per iteration" })).toBeVisible();
  await expect(page.getByRole("img", { name: "Feature importance" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Confusion matrix (test)" })).toContainText("malignant");
  await expect(page.getByRole("region", { name: "Training job" })).toContainText("succeeded");
  await expect(page.getByRole("table", { name: "Dataset inputs" })).toContainText("cancer@v1");
  await shot(page, "25-trained-run");
  trainedRun = new URL(page.url()).pathname;

  // A search over a hyperparameter's range: a parent run with one child run per trial.
  await page.getByRole("link", { name: "Train", exact: true }).click();
  await hydrated(page);
  await form.getByRole("combobox", { name: "Dataset version" }).selectOption({ label: "cancer v1 (569 rows)" });
  await form.getByRole("combobox", { name: "Target column" }).selectOption("diagnosis");
  await form.getByRole("combobox", { name: "Algorithm" }).selectOption("random_forest");
  await form.getByLabel("Experiment").fill("cancer-models");
  await form.getByLabel("Search hyperparameters").check();
  await form.getByRole("combobox", { name: "How to search max_depth" }).selectOption("int");
  await form.getByLabel("Lowest max_depth").fill("9");
  await form.getByLabel("Highest max_depth").fill("3");
  await form.getByLabel("Trials", { exact: true }).fill("3");
  await form.getByRole("button", { name: "Start training" }).click();
  await expect(page.getByRole("alert")).toContainText("max_depth");
  await form.getByLabel("Lowest max_depth").fill("3");
  await form.getByLabel("Highest max_depth").fill("9");
  await form.getByRole("button", { name: "Start training" }).click();
  await expect(page).toHaveURL(/\/p\/churn-model\/runs\/[0-9a-f]{32}$/);
  // The page follows the search by itself.
  const trials = page.getByRole("region", { name: "Trials" });
  await expect(trials).toContainText("3 of 3 trials ended", { timeout: 90_000 });
  await expect(trials.getByRole("table", { name: "Trials" })).toContainText("max_depth");
  await shot(page, "25b-tuning-run");
});

test("an editor registers the trained model, deploys two versions 80/20 and tries a prediction", async ({ page }) => {
  await signIn(page, admin);
  // Two versions of one registered model, from the trained run.
  for (const version of ["v1", "v2"]) {
    await page.goto(trainedRun);
    await hydrated(page);
    const register = page.getByRole("form", { name: "Register model" });
    await register.getByLabel("Registered model name").fill("cancer-screening");
    await register.getByRole("button", { name: "Register model" }).click();
    await expect(page).toHaveURL(/\/models\/cancer-screening$/);
    await expect(page.getByRole("table", { name: "Versions" })).toContainText(version);
  }

  await page.getByRole("link", { name: "Endpoints", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Endpoints" })).toBeVisible();
  await hydrated(page);
  const create = page.getByRole("form", { name: "New endpoint" });
  await create.getByLabel("Endpoint name").fill("screening");
  await create.getByRole("button", { name: "Create endpoint" }).click();
  await expect(page).toHaveURL(/\/endpoints\/screening$/);
  await hydrated(page);
  await expect(page.getByText("churn-model.screening").first()).toBeVisible();

  const deploy = page.getByRole("form", { name: "Deploy a model" });
  await deploy.getByRole("combobox", { name: "Version or alias" }).selectOption("1");
  await deploy.getByRole("button", { name: "Deploy", exact: true }).click();
  const deployed = page.getByRole("table", { name: "Deployed models" });
  await expect(deployed).toContainText("cancer-screening v1");
  await expect(deployed).toContainText("100%");
  await deploy.getByRole("combobox", { name: "Version or alias" }).selectOption("2");
  await deploy.getByLabel("Traffic (%)").fill("20");
  await deploy.getByRole("button", { name: "Deploy", exact: true }).click();
  await expect(page.getByRole("img", { name: "Traffic split: cancer-screening v1 80%, cancer-screening v2 20%" })).toBeVisible();

  // Try it: the form is prefilled from a row of the training data.
  const tryIt = page.getByRole("region", { name: "Try it" });
  await expect(tryIt.getByLabel("mean_radius", { exact: true })).not.toHaveValue("");
  await tryIt.getByRole("button", { name: "Predict" }).click();
  const prediction = page.getByRole("region", { name: "Prediction" });
  await expect(prediction).toContainText(/Prediction: (malignant|benign)/);
  await expect(prediction).toContainText(/by cancer-screening\/[12]/);
  await expect(prediction.getByRole("img", { name: "Class probabilities" })).toBeVisible();
  await expect(prediction.getByRole("img", { name: "Feature attributions" })).toBeVisible();
  await expect(prediction).toContainText("sampled shapley");
  await expect(prediction.getByLabel("curl command")).toContainText("/v1/projects/churn-model/endpoints/screening:predict");
  await expect(prediction.getByLabel("Python snippet")).toContainText("requests.post");
  await shot(page, "28-endpoint");
  // A bad value is refused, naming the feature.
  await tryIt.getByLabel("mean_radius", { exact: true }).fill("wide");
  await tryIt.getByRole("button", { name: "Predict" }).click();
  await expect(tryIt.getByRole("alert")).toContainText("feature 'mean_radius'");

  // The split can be set whole; it must sum to 100.
  const split = page.getByRole("form", { name: "Traffic split" });
  await split.getByLabel("Traffic for cancer-screening v1 (%)").fill("50");
  await split.getByRole("button", { name: "Save split" }).click();
  await expect(split.getByRole("alert")).toContainText("sums to 70");
  await split.getByLabel("Traffic for cancer-screening v2 (%)").fill("50");
  await split.getByRole("button", { name: "Save split" }).click();
  await expect(page.getByRole("img", { name: "Traffic split: cancer-screening v1 50%, cancer-screening v2 50%" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Deployed models" })).toContainText("50%");

  // Explanation settings change without redeploying.
  const settings = page.getByRole("form", { name: "Explanation settings for cancer-screening v2" });
  await settings.getByRole("combobox", { name: "Explanation method for cancer-screening v2" }).selectOption("sampled_shapley");
  await settings.getByLabel("Paths or steps for cancer-screening v2").fill("5");
  await settings.getByRole("button", { name: "Save explanation settings for cancer-screening v2" }).click();
  await expect(page.getByRole("table", { name: "Deployed models" })).toContainText("sampled Shapley, 5 paths");
  await settings.getByLabel("Paths or steps for cancer-screening v2").fill("80");
  await settings.getByRole("button", { name: "Save explanation settings for cancer-screening v2" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "path_count must be between 1 and 50" })).toBeVisible();

  // The predictions made above are counted and drawn.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("table", { name: "Requests per deployed model" })).toBeVisible();
  await expect(page.getByRole("img", { name: "Requests per minute" })).toBeVisible();
  await shot(page, "29-endpoint-traffic");

  // The model's page: its card with evaluation and importance, lineage to the endpoint, reviews.
  await page.goto("/p/churn-model/models/cancer-screening");
  await hydrated(page);
  const card = page.getByRole("region", { name: "Model card" });
  await expect(card.getByRole("img", { name: "Global feature importance" })).toBeVisible();
  await expect(card.getByRole("table", { name: "Evaluation by version" })).toContainText("cancer@v1");
  const versions = page.getByRole("table", { name: "Versions" });
  await expect(versions).toContainText("churn-model/screening");
  const review = page.getByRole("form", { name: "Review v1" });
  await review.getByRole("combobox", { name: "Decision on v1" }).selectOption("approved");
  await review.getByRole("textbox", { name: "Comment on v1" }).fill("checked on the test split");
  await review.getByRole("button", { name: "Review" }).click();
  await expect(versions).toContainText("checked on the test split");
  await card.getByText("Edit the card").click();
  await card.getByLabel("Model card (markdown)").fill("## Intended use\nScreening support, not diagnosis.");
  await card.getByRole("button", { name: "Save card" }).click();
  await expect(page.getByRole("region", { name: "Model card" }).getByRole("heading", { name: "Intended use" })).toBeVisible();
  await shot(page, "31-model-card");
});

test("an editor runs a batch prediction with attributions and downloads the file", async ({ page }) => {
  await signIn(page, admin);
  await page.goto("/p/churn-model/batch");
  await expect(page.getByRole("heading", { name: "Batch predictions" })).toBeVisible();
  await hydrated(page);
  const form = page.getByRole("form", { name: "New batch prediction" });
  await form.getByRole("combobox", { name: "Model" }).selectOption("cancer-screening");
  await form.getByRole("combobox", { name: "Version or alias" }).selectOption("1");
  await form.getByRole("combobox", { name: "Dataset version" }).selectOption({ label: "cancer v1 (569 rows)" });
  await form.getByRole("combobox", { name: "Output format" }).selectOption("csv");
  await form.getByLabel("Add feature attributions").check();
  await form.getByRole("button", { name: "Start batch prediction" }).click();
  const table = page.getByRole("table", { name: "Batch predictions" });
  await expect(table).toContainText("cancer-screening/1");
  await expect(table).toContainText("succeeded", { timeout: 60_000 });
  await expect(table).toContainText("569");
  await shot(page, "30-batch-predictions");
  const download = page.waitForEvent("download");
  await table.getByRole("link", { name: /^Download/ }).first().click();
  const file = await download;
  const text = fs.readFileSync(await file.path(), "utf8");
  const header = text.split("\n")[0];
  expect(header).toContain("predicted_label");
  expect(header).toContain("attribution_mean_radius");
  expect(text.trim().split("\n").length).toBe(570);

  // A file from this machine instead of a dataset version, with an upload bar.
  const rows = fs.readFileSync("../ml/tests/fixtures/breast_cancer.csv", "utf8").trim().split("\n").slice(0, 26).join("\n") + "\n";
  const byFile = page.getByRole("form", { name: "Batch prediction from a file" });
  await byFile.getByRole("combobox", { name: "Model" }).selectOption("cancer-screening");
  await byFile.getByRole("combobox", { name: "Version or alias" }).selectOption("2");
  await byFile.getByLabel("Input file").setInputFiles({ name: "clinic-may.csv", mimeType: "text/csv", buffer: Buffer.from(rows) });
  await byFile.getByRole("button", { name: "Upload and predict" }).click();
  await expect(byFile.getByRole("progressbar", { name: "File upload progress" })).toHaveAttribute("value", "100");
  const uploaded = table.getByRole("row").filter({ hasText: "uploaded clinic-may.csv" });
  await expect(uploaded).toContainText("succeeded", { timeout: 60_000 });
  await expect(uploaded).toContainText("25");
  // A file without the model's columns is refused at once.
  await byFile.getByLabel("Input file").setInputFiles({ name: "wrong.csv", mimeType: "text/csv", buffer: Buffer.from("a,b\n1,2\n") });
  await byFile.getByRole("button", { name: "Upload and predict" }).click();
  await expect(byFile.getByRole("alert")).toContainText("has no column 'mean_radius'");
});

test("an editor uploads an ONNX model, serves it, and deletes a spare endpoint", async ({ page }) => {
  await signIn(page, admin);
  await page.goto("/p/churn-model/models");
  await hydrated(page);
  const upload = page.getByRole("form", { name: "Upload an ONNX model" });
  await upload.getByLabel("Model name").fill("iris");
  await upload.getByLabel("ONNX file").setInputFiles("../ml/tests/fixtures/iris_logistic_zipmap.onnx");
  await upload.getByRole("button", { name: "Upload model" }).click();
  await expect(upload.getByRole("alert")).toContainText("without ZipMap");
  await upload.getByLabel("Feature names (comma-separated, for a [rows, n] input)").fill("sepal_length, sepal_width, petal_length, petal_width");
  await upload.getByLabel("ONNX file").setInputFiles("../ml/tests/fixtures/iris_logistic.onnx");
  await upload.getByRole("button", { name: "Upload model" }).click();
  await expect(page).toHaveURL(/\/models\/iris$/);
  await expect(page.getByRole("table", { name: "Versions" })).toContainText("v1");

  await page.goto("/p/churn-model/endpoints");
  await hydrated(page);
  const create = page.getByRole("form", { name: "New endpoint" });
  await create.getByLabel("Endpoint name").fill("flowers");
  await create.getByRole("button", { name: "Create endpoint" }).click();
  await expect(page).toHaveURL(/\/endpoints\/flowers$/);
  await hydrated(page);
  const deploy = page.getByRole("form", { name: "Deploy a model" });
  await deploy.getByRole("combobox", { name: "Model" }).selectOption("iris");
  await deploy.getByRole("combobox", { name: "Version or alias" }).selectOption("1");
  await deploy.getByRole("button", { name: "Deploy", exact: true }).click();
  await expect(page.getByRole("table", { name: "Deployed models" })).toContainText("iris v1");
  const tryIt = page.getByRole("region", { name: "Try it" });
  for (const [name, value] of [["sepal_length", "6.7"], ["sepal_width", "3.0"], ["petal_length", "5.2"], ["petal_width", "2.3"]]) {
    await tryIt.getByLabel(name, { exact: true }).fill(value);
  }
  await tryIt.getByRole("button", { name: "Predict" }).click();
  await expect(page.getByRole("region", { name: "Prediction" })).toContainText("Prediction: 2");
  await shot(page, "32-onnx-endpoint");

  // An endpoint that serves nothing can be deleted from its page.
  await page.goto("/p/churn-model/endpoints");
  await hydrated(page);
  // The form refuses a name the server would refuse, before sending it.
  const endpointName = create.getByLabel("Endpoint name");
  await endpointName.fill("Spare-");
  await create.getByRole("button", { name: "Create endpoint" }).click();
  expect(await endpointName.evaluate((input: HTMLInputElement) => input.validity.patternMismatch)).toBe(true);
  await expect(page).toHaveURL(/\/endpoints$/);
  await endpointName.fill("spare");
  await create.getByRole("button", { name: "Create endpoint" }).click();
  await expect(page).toHaveURL(/\/endpoints\/spare$/);
  await hydrated(page);
  await page.getByRole("form", { name: "Delete endpoint" }).getByRole("button", { name: "Delete endpoint" }).click();
  await expect(page).toHaveURL(/\/endpoints$/);
  await expect(page.getByRole("link", { name: "spare", exact: true })).toHaveCount(0);
  await expect(page.getByRole("link", { name: "flowers", exact: true })).toBeVisible();
});

test("an editor starts a custom job with a script and follows its log on the run page", async ({ page }) => {
  await signIn(page, admin);
  await page.goto("/p/churn-model/train");
  await expect(page.getByRole("heading", { name: "Train a model" })).toBeVisible();
  await hydrated(page);
  const form = page.getByRole("form", { name: "Custom training" });
  const script = [
    'echo "rows: $(wc -l < "$TRELLIS_DATA_DIR/train.csv")"',
    'for epoch in 1 2 3; do echo "epoch $epoch loss 0.$((9 - epoch))"; done',
    'echo "a warning" >&2',
  ].join("\n");
  await form.getByLabel("Code (.py file, .zip, .tar or .tar.gz)").setInputFiles({ name: "job.sh", mimeType: "text/x-sh", buffer: Buffer.from(script) });
  await form.getByLabel("Command").fill("sh job.sh");
  await form.getByLabel("Experiment").fill("custom-jobs");
  await form.getByRole("combobox", { name: "Data for $TRELLIS_DATA_DIR" }).selectOption({ label: "cancer v1 (569 rows)" });
  // A limit out of range is refused before anything runs.
  await form.getByLabel("Time limit (seconds)").fill("0");
  await form.getByRole("button", { name: "Start custom job" }).click();
  await expect(form.getByRole("alert")).toContainText("timeout_seconds");
  await form.getByLabel("Time limit (seconds)").fill("120");
  await shot(page, "26-custom-job-form");
  await form.getByRole("button", { name: "Start custom job" }).click();

  await expect(page).toHaveURL(/\/p\/churn-model\/runs\/[0-9a-f]{32}$/);
  const job = page.getByRole("region", { name: "Training job" });
  await expect(job).toContainText("succeeded", { timeout: 60_000 });
  await expect(job).toContainText("epoch 3 loss 0.6");
  await expect(page.getByRole("table", { name: "Tags" })).toContainText("trellis.exit_code");
  await expect(page.getByRole("table", { name: "Dataset inputs" })).toContainText("cancer@v1");
  await shot(page, "27-custom-job-run");
});

async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
}
