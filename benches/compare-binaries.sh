#!/usr/bin/env bash
# A/B benchmark of two sluice binaries: both in front of one PostgreSQL 15, pgbench -S
# through each in turn, the order alternating every round so that neither always runs
# first; prints each run and the mean per binary. For checking a change's cost, where
# benches/pgbench.sh run once per binary would compare two differently noisy runs.
#
# Usage: benches/compare-binaries.sh OLD_BINARY NEW_BINARY
#        (CLIENTS="16 64" ROUNDS=6 DURATION=10 POOL_SIZE=20 to change;
#         PGBENCH_FLAGS="-C" adds pgbench options, e.g. a new connection per transaction)
set -euo pipefail
OLD=${1:?usage: $0 OLD_BINARY NEW_BINARY}
NEW=${2:?usage: $0 OLD_BINARY NEW_BINARY}
CLIENTS=${CLIENTS:-"16 64"}
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-10}
POOL_SIZE=${POOL_SIZE:-20}
PGBENCH_FLAGS=${PGBENCH_FLAGS:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"
# shellcheck source=../scripts/lib/bench-poolers.sh
. "$ROOT/scripts/lib/bench-poolers.sh"

make_workdir sluice-compare
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT

PASSWORD=bench-password
start_postgres bench "$PASSWORD" bench "$(printf 'max_connections = 400\nshared_buffers = 256MB\nsynchronous_commit = off')"
export PGPASSWORD=$PASSWORD
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U bench -i -s 10 -q bench >/dev/null 2>&1
declare -A PORT BIN=([old]=$OLD [new]=$NEW)
for v in old new; do
  PORT[$v]=$(free_port)
  sluice_pg_config "$WORK/$v.toml" "${PORT[$v]}" "$(free_port)" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"
  (cd "$WORK" && exec "${BIN[$v]}" --config "$WORK/$v.toml" > "$WORK/$v.log" 2>&1) &
  PIDS+=($!)
done
for v in old new; do
  for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "${PORT[$v]}" && break; sleep 0.1; done
done

echo "pgbench -S $PGBENCH_FLAGS, $DURATION s per run, pool size $POOL_SIZE; old = $OLD, new = $NEW"
for clients in $CLIENTS; do
  declare -A SUM=([old]=0 [new]=0)
  for r in $(seq "$ROUNDS"); do
    order="old new"
    [ $((r % 2)) = 0 ] && order="new old"
    for v in $order; do
      tps=$("$PGBIN/pgbench" -h 127.0.0.1 -p "${PORT[$v]}" -U bench -S -n $PGBENCH_FLAGS -c "$clients" \
        -j 2 -T "$DURATION" bench 2>&1 | awk '/^tps/ {print int($3)}')
      echo "  $clients clients, round $r, $v: ${tps:-0} tps"
      SUM[$v]=$(( ${SUM[$v]} + ${tps:-0} ))
    done
  done
  echo "$clients clients: old $(( ${SUM[old]} / ROUNDS )) tps, new $(( ${SUM[new]} / ROUNDS )) tps (mean of $ROUNDS)"
done
