# sluice container image.
#
#   docker build --build-arg SLUICE_COMMIT="$(git rev-parse --short=9 HEAD)" -t sluice .
#
# The build stage runs the release build that scripts/test.sh runs in CI
# (tests/deploy/test_dockerfile.py runs the cargo command of this file and checks that
# the binary copied below exists afterwards). .dockerignore keeps .git out of the
# context, so the commit printed by `sluice --version` comes from SLUICE_COMMIT.
#
# The runtime image has no shell and no package manager: only the C runtime sluice
# links against (glibc, libgcc), CA certificates and the binary, run as a non-root user.

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
ARG SLUICE_COMMIT=unknown
ENV SLUICE_COMMIT=${SLUICE_COMMIT}
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sluice

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
# distroless's "nonroot" user; numeric, so that runAsNonRoot can verify it.
USER 65532:65532
# PostgreSQL, MySQL read-write and read-only, admin HTTP, peers.
EXPOSE 6432 6446 6447 9127 6400
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["--config", "/etc/sluice/config/sluice.toml"]
