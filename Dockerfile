# Build: the release binary and the web assets.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/* \
 && npm install -g binaryen@132 \
 && rustup target add wasm32-unknown-unknown \
 && cargo install cargo-leptos --version 0.3.10 --locked --features no_downloads \
 && cargo install wasm-bindgen-cli --version =0.2.130
WORKDIR /src
COPY . .
RUN cargo leptos build --release \
 && mkdir -p /out && cp target/release/trellis /out/ && cp -r target/site /out/site

# ONNX Runtime's shared library, from the onnxruntime wheel (for serving ONNX models).
FROM python:3.11-slim-bookworm AS onnxruntime
RUN pip download -q --no-deps --only-binary=:all: -d /wheels onnxruntime==1.22.1 \
 && python -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('/wheels/*.whl')[0]); z.extract('onnxruntime/capi/libonnxruntime.so.1.22.1', '/ort')"

# Run: the binary, its assets, and PostgreSQL's server binaries for the zero-configuration mode.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/trellis trellis
COPY --from=build /out/trellis /usr/local/bin/trellis
COPY --from=build /out/site /usr/share/trellis/site
COPY --from=onnxruntime /ort/onnxruntime/capi/libonnxruntime.so.1.22.1 /usr/local/lib/libonnxruntime.so.1.22.1
USER trellis
WORKDIR /var/lib/trellis
ENV TRELLIS_ADDR=0.0.0.0:3000 \
    TRELLIS_DATA_DIR=/var/lib/trellis/data \
    TRELLIS_SITE_ROOT=/usr/share/trellis/site \
    LEPTOS_SITE_ROOT=/usr/share/trellis/site \
    ORT_DYLIB_PATH=/usr/local/lib/libonnxruntime.so.1.22.1
EXPOSE 3000
VOLUME ["/var/lib/trellis/data"]
HEALTHCHECK CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/3000"]
ENTRYPOINT ["trellis"]
CMD ["serve"]
