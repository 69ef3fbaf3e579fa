# Builds the `herd` binary for docker-compose.yml.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p herd-cli --bin herd --features sql

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/herd /usr/local/bin/herd
WORKDIR /herd
ENTRYPOINT ["herd"]
CMD ["--help"]
