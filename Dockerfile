# syntax=docker/dockerfile:1.7
# One build, one small image per binary:
#   docker build --target bff-web -t bff-web .
# Targets: bff-mobile, bff-web, bff-partner (the BFFs) and bff-demo (the
# demo services). docker-compose.yml builds all of them.

ARG RUST_VERSION=1.95

# ---- build: every binary at once, with cargo's registry and target/ kept
# between builds by BuildKit cache mounts.
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
        -p bff-mobile -p bff-web -p bff-partner -p bff-demo \
    && mkdir -p /out \
    && cp target/release/bff-mobile target/release/bff-web \
          target/release/bff-partner target/release/bff-demo /out/

# ---- runtime: glibc, libgcc and CA certificates (upstreams over https use
# the system's roots), no shell, no package manager, user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /etc/bff
ENV BFF_SPECS=/etc/bff/specs \
    BFF_LOG_FORMAT=json
USER 65532:65532

# ---- the BFFs. Specs are baked in at /etc/bff/specs; mount a folder (or a
# Kubernetes ConfigMap) there to change them: a BFF reloads on its own.
# Each listens on all interfaces in the container; its admin listener
# (health, readiness, metrics) on a port of its own.
FROM runtime AS bff-mobile
COPY --from=build /out/bff-mobile /usr/local/bin/bff-mobile
COPY composition-specs/mobile /etc/bff/specs
ENV BFF_MOBILE_LISTEN=0.0.0.0:8081 \
    BFF_MOBILE_ADMIN_LISTEN=0.0.0.0:8091
EXPOSE 8081 8091
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/bff-mobile", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/bff-mobile"]

FROM runtime AS bff-web
COPY --from=build /out/bff-web /usr/local/bin/bff-web
COPY composition-specs/web /etc/bff/specs
ENV BFF_WEB_LISTEN=0.0.0.0:8082 \
    BFF_WEB_ADMIN_LISTEN=0.0.0.0:8092
EXPOSE 8082 8092
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/bff-web", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/bff-web"]

FROM runtime AS bff-partner
COPY --from=build /out/bff-partner /usr/local/bin/bff-partner
COPY composition-specs/partner /etc/bff/specs
ENV BFF_PARTNER_LISTEN=0.0.0.0:8083 \
    BFF_PARTNER_ADMIN_LISTEN=0.0.0.0:8093
EXPOSE 8083 8093
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/bff-partner", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/bff-partner"]

# ---- the demo services. `--services users --host 0.0.0.0` runs one of
# them (docker-compose.yml runs one per container); without arguments the
# whole demo runs in one container, BFFs included:
#   docker run --rm -p 8081-8083:8081-8083 bff-demo
FROM runtime AS bff-demo
COPY --from=build /out/bff-demo /usr/local/bin/bff-demo
COPY composition-specs /etc/bff/composition-specs
ENV BFF_SPECS_ROOT=/etc/bff/composition-specs \
    BFF_MOBILE_LISTEN=0.0.0.0:8081 \
    BFF_WEB_LISTEN=0.0.0.0:8082 \
    BFF_PARTNER_LISTEN=0.0.0.0:8083
EXPOSE 8081 8082 8083 9101-9107
ENTRYPOINT ["/usr/local/bin/bff-demo"]
