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

# Run: the binary, its assets, and PostgreSQL's server binaries for the zero-configuration mode.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/trellis trellis
COPY --from=build /out/trellis /usr/local/bin/trellis
COPY --from=build /out/site /usr/share/trellis/site
USER trellis
WORKDIR /var/lib/trellis
ENV TRELLIS_ADDR=0.0.0.0:3000 \
    TRELLIS_DATA_DIR=/var/lib/trellis/data \
    TRELLIS_SITE_ROOT=/usr/share/trellis/site \
    LEPTOS_SITE_ROOT=/usr/share/trellis/site
EXPOSE 3000
VOLUME ["/var/lib/trellis/data"]
HEALTHCHECK CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/3000"]
ENTRYPOINT ["trellis"]
CMD ["serve"]
