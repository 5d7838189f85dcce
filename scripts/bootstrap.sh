#!/usr/bin/env bash
# Installs what building, running and testing Trellis need, when it is missing. Fast when all
# is present. Usage: scripts/bootstrap.sh [run|test]   (test also installs the browser-test tools)
set -euo pipefail
mode="${1:-run}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

say() { printf '\033[1;32m==>\033[0m %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if ! have apt-get; then
    echo "error: please install these packages with your system's package manager: $*" >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Rust toolchain and the wasm target.
if ! have cargo; then
  have curl || apt_install curl ca-certificates
  say "installing the Rust toolchain (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
have cc || apt_install build-essential pkg-config
if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos (built without its download features: every tool comes from here).
leptos_version="0.3.10"
if ! cargo leptos --version 2>/dev/null | grep -q "$leptos_version"; then
  say "installing cargo-leptos $leptos_version (takes a while, once)"
  cargo install cargo-leptos --version "$leptos_version" --locked --features no_downloads
fi

# wasm-bindgen-cli must equal the wasm-bindgen version in Cargo.lock.
wb_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
if ! wasm-bindgen --version 2>/dev/null | grep -q "$wb_version"; then
  say "installing wasm-bindgen-cli $wb_version"
  cargo install wasm-bindgen-cli --version "=$wb_version"
fi

# Node.js and npm (for wasm-opt and the browser tests).
if ! have npm; then apt_install nodejs npm; fi

# binaryen's wasm-opt 132 (Debian's is too old for this Rust's wasm).
if ! wasm-opt --version 2>/dev/null | grep -q "version 1[3-9][0-9]"; then
  say "installing wasm-opt (binaryen 132)"
  as_root npm install -g --silent binaryen@132
fi

# PostgreSQL server binaries (initdb, pg_ctl) for the private cluster.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! have initdb; then
  apt_install postgresql
fi

# ONNX Runtime (serving ONNX models), the shared library inside the PyPI wheel: no other
# download source is needed. Loaded at run time through ORT_DYLIB_PATH (scripts/env.sh).
. "$root/scripts/env.sh"
if [ ! -f "$ORT_DYLIB_PATH" ]; then
  have python3 || apt_install python3 python3-venv
  say "installing ONNX Runtime $TRELLIS_ONNXRUNTIME_VERSION"
  tools="$TRELLIS_CACHE_DIR/tools-venv"
  [ -x "$tools/bin/pip" ] || python3 -m venv "$tools" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$tools"; }
  wheels="$(mktemp -d)"
  "$tools/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$wheels" "onnxruntime==$TRELLIS_ONNXRUNTIME_VERSION"
  mkdir -p "$(dirname "$ORT_DYLIB_PATH")"
  "$tools/bin/python" - "$wheels" "$(dirname "$ORT_DYLIB_PATH")" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("onnxruntime/capi/libonnxruntime"):
            with open(os.path.join(sys.argv[2], os.path.basename(name)), "wb") as out:
                out.write(z.read(name))
PY
  rm -rf "$wheels"
  [ -f "$ORT_DYLIB_PATH" ] || { echo "error: ONNX Runtime was not found in the wheel" >&2; exit 1; }
fi

if [ "$mode" = test ]; then
  if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then apt_install chromium; fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "installing the browser-test packages"
    (cd end2end && npm ci --no-audit --no-fund --silent)
  fi
  have python3 || apt_install python3 python3-venv
  # Python test tools in a virtualenv outside the clone: moto's S3 API server for the object-store
  # tests; the official mlflow client, with scikit-learn for log_model, for the tracking-API tests;
  # skl2onnx for the custom training job's script; tritonclient for the Open Inference Protocol.
  venv="${TRELLIS_TEST_VENV:-$HOME/.cache/trellis/venv}"
  if ! "$venv/bin/python" -c "import moto.server, mlflow, sklearn, pandas, skops, skl2onnx, tritonclient.http; assert mlflow.__version__ == '3.17.2' and sklearn.__version__ == '1.9.1'" >/dev/null 2>&1; then
    say "installing the Python test tools into $venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.1' 'mlflow-skinny==3.17.2' \
      'numpy==2.4.6' 'pandas==3.1.1' 'scikit-learn==1.9.1' 'skops==0.16.0' \
      'skl2onnx==1.20.0' 'onnx==1.23.2' 'tritonclient[http]==2.73.0'
  fi
fi
