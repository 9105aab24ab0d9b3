# syntax=docker/dockerfile:1
#
# Portcullis container image: a static (musl) binary on a distroless base, running as an
# unprivileged user.
#
#   docker build -t ghcr.io/portcullis-gateway/portcullis:latest .
#
# Needs BuildKit (the default builder of current Docker releases) for the cache mounts.

ARG RUST_VERSION=1

FROM rust:${RUST_VERSION}-bookworm AS builder

# C toolchain for the TLS backend (aws-lc-rs) and for ring, targeting musl.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools cmake clang libclang-dev perl \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl

ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_TERM_COLOR=never

WORKDIR /src

# Dependencies first: they change less often than the sources.
COPY Cargo.toml Cargo.lock ./
# Build settings (jemalloc's purging of freed memory).
COPY .cargo ./.cargo
COPY crates ./crates

# The registry and the target directory live in cache mounts, so a rebuild after a source
# change only compiles what changed. The binary is copied out of the cache in the same step.
RUN --mount=type=cache,id=portcullis-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=portcullis-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=portcullis-target,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl -p portcullis \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/portcullis /out/portcullis

# Distroless static: CA certificates (for HTTPS to OpenID Providers), /etc/passwd with the
# nonroot user (65532), nothing else.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=builder /out/portcullis /usr/local/bin/portcullis

# web, websecure, ping, metrics (see deploy/config.yaml).
EXPOSE 8000 8443 8082 9100
USER 65532:65532

ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["--config", "/etc/portcullis/portcullis.yaml"]
