#!/usr/bin/env bash
# Starts (once) a private PostgreSQL server for the tests and prints its URL.
set -euo pipefail
dir="${TRELLIS_CACHE_DIR:-$HOME/.cache/trellis}/test-postgres"
port="${TRELLIS_TEST_PG_PORT:-54329}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$bin" ] || bin="$(dirname "$(command -v initdb)")"
run=()
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root.
  dir="/tmp/trellis-test-postgres"
  run=(runuser -u postgres --)
fi
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
  "${run[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
fi
if ! "${run[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir" start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
