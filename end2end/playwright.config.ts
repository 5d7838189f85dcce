import { defineConfig } from "@playwright/test";

// Runs against the release build. scripts/test.sh builds it and sets TRELLIS_BIN and
// LEPTOS_SITE_ROOT; e2e-serve.sh starts Trellis with a fresh private database.
const port = Number(process.env.TRELLIS_E2E_PORT ?? 3210);

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  webServer: {
    command: `bash e2e-serve.sh ${port}`,
    url: `http://127.0.0.1:${port}/readyz`,
    timeout: 120_000,
    reuseExistingServer: false,
    // Stopped with SIGTERM, so that the server stops the PostgreSQL it started (a SIGKILL,
    // Playwright's default, would leave that PostgreSQL running).
    gracefulShutdown: { signal: "SIGTERM", timeout: 20_000 },
    stdout: "pipe",
    stderr: "pipe",
  },
});
