#!/usr/bin/env bash
# Installs what building and testing sluice needs. Safe to run repeatedly:
# only missing pieces are installed.
#
# System packages (Debian/Ubuntu, via apt-get): postgresql-15,
# postgresql-client-15, pgbouncer, python3-venv, curl, ca-certificates.
# The system PostgreSQL/pgbouncer services are NOT started: the tests start
# their own private servers.
#
# Rust: cargo with rustfmt and clippy must be available (rustup is used to
# add missing components when present).
set -euo pipefail

PG_MAJOR=15
PG_BINDIR="/usr/lib/postgresql/${PG_MAJOR}/bin"

log() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    fi
fi
as_root() {
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "root privileges are needed to run: $* (run as root or install sudo)"
    fi
    ${SUDO[@]+"${SUDO[@]}"} "$@"
}

pkg_installed() {
    command -v dpkg-query >/dev/null 2>&1 &&
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ---------------------------------------------------------------------------
# System packages
# ---------------------------------------------------------------------------
missing=()

if [ ! -x "${PG_BINDIR}/postgres" ] || [ ! -x "${PG_BINDIR}/initdb" ] || [ ! -x "${PG_BINDIR}/pg_ctl" ]; then
    missing+=("postgresql-${PG_MAJOR}")
fi
if [ ! -x "${PG_BINDIR}/psql" ] || [ ! -x "${PG_BINDIR}/pgbench" ] || [ ! -x "${PG_BINDIR}/pg_isready" ]; then
    missing+=("postgresql-client-${PG_MAJOR}")
fi
if ! command -v pgbouncer >/dev/null 2>&1 && ! pkg_installed pgbouncer; then
    missing+=(pgbouncer)
fi
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if ! command -v curl >/dev/null 2>&1; then
    missing+=(curl)
fi
if [ ! -e /etc/ssl/certs/ca-certificates.crt ] && ! pkg_installed ca-certificates; then
    missing+=(ca-certificates)
fi

if [ ${#missing[@]} -eq 0 ]; then
    log "system packages: all present"
else
    command -v apt-get >/dev/null 2>&1 ||
        die "missing: ${missing[*]}; this script installs them with apt-get (Debian/Ubuntu) only, install them by hand"
    log "installing: ${missing[*]}"

    # Keep package scripts from starting services (PostgreSQL on 5432,
    # pgbouncer): the tests start their own servers on free ports.
    created_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        created_policy=1
    fi
    cleanup_policy() {
        if [ -n "${created_policy}" ]; then
            as_root rm -f /usr/sbin/policy-rc.d
        fi
    }
    trap cleanup_policy EXIT

    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
        die "apt-get could not install: ${missing[*]}. PostgreSQL ${PG_MAJOR} may need the PGDG repository (https://wiki.postgresql.org/wiki/Apt) on this distribution"
    fi
    cleanup_policy
    trap - EXIT

    [ -x "${PG_BINDIR}/postgres" ] || die "PostgreSQL ${PG_MAJOR} is still missing in ${PG_BINDIR}"
fi

if ! id postgres >/dev/null 2>&1; then
    die "the 'postgres' OS user does not exist (it is created by postgresql-${PG_MAJOR}); the tests run the servers as that user"
fi

# ---------------------------------------------------------------------------
# Rust toolchain
# ---------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:${PATH}"
fi
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found. Install Rust with rustup: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y, then: source \"\$HOME/.cargo/env\""

components=()
cargo fmt --version >/dev/null 2>&1 || components+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || components+=(clippy)
if [ ${#components[@]} -gt 0 ]; then
    command -v rustup >/dev/null 2>&1 ||
        die "missing Rust components: ${components[*]} (and rustup is not available to add them)"
    log "adding Rust components: ${components[*]}"
    rustup component add "${components[@]}"
fi

log "$(cargo --version)"
log "PostgreSQL: $("${PG_BINDIR}/postgres" --version)"
log "dependencies ready"
