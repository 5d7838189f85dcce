#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (real PostgreSQL), then the browser tests
# (release build, real Chromium). Installs what is missing first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/bootstrap.sh" test
export TRELLIS_TEST_PYTHON="${TRELLIS_TEST_VENV:-$HOME/.cache/trellis/venv}/bin/python"
# shellcheck source=env.sh
. "$here/env.sh"
cd "$root"
# A test run rebuilds once and never edits: incremental data would only fill the shared cache
# (it had grown past 25 GB and filled the disk).
export CARGO_INCREMENTAL=0

say() { printf '\033[1;32m==>\033[0m %s\n' "$*" >&2; }

# A PostgreSQL server for the Rust tests: TRELLIS_TEST_DATABASE_URL, the machine's server on
# 127.0.0.1:5432, or a private one started here.
if [ -z "${TRELLIS_TEST_DATABASE_URL:-}" ]; then
  if psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
    export TRELLIS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    export TRELLIS_TEST_DATABASE_URL="$("$here/test-postgres.sh")"
  fi
fi
say "test database server: ${TRELLIS_TEST_DATABASE_URL%%\?*}"
# Databases left by earlier runs.
psql "$TRELLIS_TEST_DATABASE_URL" -Atqc "select datname from pg_database where datname like 'trellis_test_%'" 2>/dev/null |
  while read -r db; do psql "$TRELLIS_TEST_DATABASE_URL" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done

say "Rust tests"
cargo test --workspace --exclude trellis-frontend

say "release build"
cargo leptos build --release

say "browser tests"
export TRELLIS_BIN="$CARGO_TARGET_DIR/release/trellis"
rm -rf end2end/artifacts
(cd end2end && npx playwright test)
say "all tests passed; screenshots in end2end/artifacts/"
