# The pipeline image: one binary (every subcommand) plus the plugins, the
# schema, the seed data and the default configuration.
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN cargo build --release -p host && scripts/build-plugins.sh

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/pipeline /usr/local/bin/pipeline
COPY --from=build /src/plugins/wasm plugins/wasm
COPY pipeline.toml ./
COPY schemas schemas
COPY data data
RUN mkdir -p time_track consumer_logs run
ENTRYPOINT ["pipeline"]
