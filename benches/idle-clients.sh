#!/usr/bin/env bash
# Benchmark: what an idle client costs each pooler. One private PostgreSQL 15 with
# sluice, PgBouncer (Debian package) and, when PG_DOORMAN names its binary, pg_doorman in
# front of it, all in transaction mode; IDLE_CLIENTS clients log in to each in turn
# (benches/hold-connections, tokio-postgres) and stay idle while the pooler's resident
# memory is read. Prints the growth per client, in bytes, and sluice's ratio to each.
#
# Usage: benches/idle-clients.sh   (IDLE_CLIENTS=10000; SLUICE_BIN=path uses that binary;
#                                   PG_DOORMAN=/path/to/pg_doorman adds pg_doorman)
set -euo pipefail
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
POOL_SIZE=${POOL_SIZE:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"
# shellcheck source=../scripts/lib/bench-poolers.sh
. "$ROOT/scripts/lib/bench-poolers.sh"
for tool in "$PGBIN/initdb" /usr/sbin/pgbouncer ${PG_DOORMAN:+"$PG_DOORMAN"}; do
  [ -x "$tool" ] || { echo "missing $tool (scripts/install-deps.sh installs PostgreSQL 15 and PgBouncer)" >&2; exit 1; }
done
if [ "$(ulimit -n)" -lt $((IDLE_CLIENTS + 100)) ]; then
  echo "IDLE_CLIENTS=$IDLE_CLIENTS needs more open files than ulimit -n $(ulimit -n) allows" >&2
  exit 1
fi

make_workdir sluice-idle
cleanup() {
  stop_sluice
  stop_pgbouncer
  stop_doorman
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT

sluice_binary hold-connections
HOLD="$ROOT/target/release/hold-connections"
PASSWORD=bench-password
BOUNCERPORT=$(free_port); SLUICEPORT=$(free_port); ADMINPORT=$(free_port); DOORMANPORT=$(free_port)

echo "== starting PostgreSQL 15"
start_postgres bench "$PASSWORD" bench "max_connections = 400"
start_pgbouncer "$BOUNCERPORT" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"
start_sluice_pg "$SLUICEPORT" "$ADMINPORT" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"
if [ -n "${PG_DOORMAN:-}" ]; then
  start_doorman "$DOORMANPORT" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"
fi

echo "== $IDLE_CLIENTS idle clients through each"
sluice=$(idle_bytes "$SLUICE_PID" "$SLUICEPORT" "$IDLE_CLIENTS")
bouncer=$(idle_bytes "$PGBOUNCER_PID" "$BOUNCERPORT" "$IDLE_CLIENTS")
doorman=
[ -n "${PG_DOORMAN:-}" ] && doorman=$(idle_bytes "$DOORMAN_PID" "$DOORMANPORT" "$IDLE_CLIENTS")

echo
echo "Resident memory per idle client, $IDLE_CLIENTS clients logged in and idle"
echo
echo "| pooler | bytes per idle client | sluice / pooler |"
echo "|---|---|---|"
echo "| sluice | $sluice | 1.00 |"
echo "| PgBouncer $(/usr/sbin/pgbouncer --version | head -1 | awk '{print $2}') | $bouncer | $(ratio "$sluice" "$bouncer") |"
[ -n "${PG_DOORMAN:-}" ] && echo "| pg_doorman | $doorman | $(ratio "$sluice" "$doorman") |"
exit 0
