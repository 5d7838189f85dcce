#!/usr/bin/env bash
# Builds Trellis (release) and runs it. With no DATABASE_URL it runs its own PostgreSQL in the
# data directory (default ./trellis-data). Extra arguments go to `trellis serve`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/bootstrap.sh" run
# shellcheck source=env.sh
. "$here/env.sh"
cd "$root"
cargo leptos build --release
exec "$CARGO_TARGET_DIR/release/trellis" serve "$@"
