#!/usr/bin/env bash
# The project's complete test run: dependencies, formatting, lints, unit and
# integration tests of every crate, then the acceptance suite when present.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

current="setup"
started=$SECONDS
section() {
    current="$*"
    printf '\n======== %s ========\n' "$current"
}
on_exit() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        printf '\n======== FAILED: %s (exit %d) ========\n' "$current" "$status" >&2
    fi
}
trap on_exit EXIT

section "Dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:${PATH}"
fi

section "Formatting (cargo fmt --check)"
cargo fmt --all -- --check

section "Source layout (scripts/check-structure.py)"
python3 scripts/check-structure.py crates

section "Lints (cargo clippy)"
cargo clippy --workspace --all-targets -- -D warnings

section "Tests (cargo test --workspace)"
cargo test --workspace

section "Deployment checks (tests/deploy: image build stage, kustomize, Terraform)"
# The release build of the Dockerfile's build stage runs here too (test_dockerfile.py).
SLUICE_BIN="${CARGO_TARGET_DIR:-target}/debug/sluice" \
    "$(scripts/deploy-checks-env.sh)/bin/python3" -m pytest tests/deploy -p no:cacheprovider

if [ -f tests/acceptance/run.sh ]; then
    section "Acceptance tests (tests/acceptance/run.sh)"
    bash tests/acceptance/run.sh
else
    printf '\n(no tests/acceptance/run.sh: acceptance tests skipped)\n'
fi

current="done"
printf '\n======== ALL CHECKS PASSED (%ds) ========\n' "$((SECONDS - started))"
