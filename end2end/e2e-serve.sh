#!/usr/bin/env bash
# Starts Trellis for the browser tests: release binary, fresh private PostgreSQL in a temp dir.
set -euo pipefail
port="$1"
bin="${TRELLIS_BIN:?TRELLIS_BIN must point at the release binary}"
dir="$(mktemp -d /tmp/trellis-e2e.XXXXXX)"
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
unset DATABASE_URL
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$(cd .. && pwd)/target/site}"
"$bin" serve --data-dir "$dir" --addr "127.0.0.1:$port" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; rm -rf "$dir"' EXIT TERM INT
wait $pid
