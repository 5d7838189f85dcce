# Shared settings for the scripts: a build cache outside the clone, and the tool paths.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TRELLIS_CACHE_DIR="${TRELLIS_CACHE_DIR:-$HOME/.cache/trellis}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TRELLIS_CACHE_DIR/target}"
export PATH="$HOME/.cargo/bin:$PATH"
export LEPTOS_SITE_ROOT="$root/target/site"
mkdir -p "$TRELLIS_CACHE_DIR"
# The name cargo-leptos gives the web assets; set for plain cargo builds too, so that they and
# cargo-leptos builds share compiled crates (leptos reads it at compile time).
export LEPTOS_OUTPUT_NAME=trellis
# ONNX Runtime for serving ONNX models (installed by bootstrap.sh from the PyPI wheel).
export TRELLIS_ONNXRUNTIME_VERSION=1.22.1
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$TRELLIS_CACHE_DIR/onnxruntime/libonnxruntime.so.$TRELLIS_ONNXRUNTIME_VERSION}"
