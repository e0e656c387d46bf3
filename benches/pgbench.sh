#!/usr/bin/env bash
# Benchmark: pgbench select-only through sluice, through PgBouncer (transaction mode,
# same pool size) and directly against PostgreSQL, all on this machine, in one run.
# Two rounds, interleaved; prints TPS per run, the ratios sluice/PgBouncer and
# sluice/direct (mean of the rounds), and sluice's memory with 256 busy clients and
# with 2,000 idle clients.
#
# Usage: benches/pgbench.sh            (DURATION=10 POOL_SIZE=20 ROUNDS=2 SCALE=10 to change;
#                                      SLUICE_BIN=path uses that binary instead of building one)
set -euo pipefail
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

DURATION=${DURATION:-10}
POOL_SIZE=${POOL_SIZE:-20}
ROUNDS=${ROUNDS:-2}
SCALE=${SCALE:-10}
IDLE_CLIENTS=${IDLE_CLIENTS:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"
# shellcheck source=../scripts/lib/bench-poolers.sh
. "$ROOT/scripts/lib/bench-poolers.sh"
for tool in "$PGBIN/initdb" "$PGBIN/pgbench" /usr/sbin/pgbouncer; do
  if [ ! -x "$tool" ]; then
    echo "missing $tool: run scripts/install-deps.sh (apt-get install postgresql-15 pgbouncer)" >&2
    exit 1
  fi
done

make_workdir sluice-bench
cleanup() {
  stop_sluice
  stop_pgbouncer
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT

sluice_binary hold-connections
HOLD="$ROOT/target/release/hold-connections"

BOUNCERPORT=$(free_port); SLUICEPORT=$(free_port); ADMINPORT=$(free_port)
PASSWORD=bench-password

echo "== starting PostgreSQL 15"
start_postgres bench "$PASSWORD" bench "$(printf 'max_connections = 400\nshared_buffers = 256MB\nsynchronous_commit = off')"
echo "   PostgreSQL 15 on $PGPORT"
export PGPASSWORD=$PASSWORD
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U bench -i -s "$SCALE" -q bench >/dev/null 2>&1

echo "== starting PgBouncer $(/usr/sbin/pgbouncer --version | head -1 | awk '{print $2}') on $BOUNCERPORT"
start_pgbouncer "$BOUNCERPORT" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"

echo "== starting sluice on $SLUICEPORT"
start_sluice_pg "$SLUICEPORT" "$ADMINPORT" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$SLUICE_PID/status"; }

# run TARGET PORT CLIENTS MODE EXTRA -> prints tps (0 when pgbench failed)
run() {
  local port=$2 clients=$3 mode=$4 extra=$5
  local jobs=$(( clients < 2 ? 1 : 2 ))
  local out
  if out=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U bench -n -S -M "$mode" $extra \
            -c "$clients" -j "$jobs" -T "$DURATION" bench 2>&1); then
    echo "$out" | awk '/^tps = / {printf "%.0f\n", $3; exit}'
  else
    echo "$out" | tail -3 >> "$WORK/failures.log"
    echo 0
  fi
}

CASES=("1 simple" "16 simple" "64 simple" "256 simple" "64 extended" "64 prepared" "16 simple -C")
declare -A TPS
PEAK256=0
for round in $(seq "$ROUNDS"); do
  for case in "${CASES[@]}"; do
    read -r clients mode extra <<<"$case"
    for target in direct pgbouncer sluice; do
      case $target in direct) port=$PGPORT;; pgbouncer) port=$BOUNCERPORT;; sluice) port=$SLUICEPORT;; esac
      if [ "$target" = sluice ] && [ "$clients" = 256 ]; then
        ( while sleep 0.2; do rss_kib; done ) > "$WORK/rss256" 2>/dev/null &
        sampler=$!
      fi
      tps=$(run "$target" "$port" "$clients" "$mode" "${extra:-}")
      if [ "$target" = sluice ] && [ "$clients" = 256 ]; then
        kill $sampler 2>/dev/null || true
        peak=$(sort -n "$WORK/rss256" | tail -1); PEAK256=$(( peak > PEAK256 ? peak : PEAK256 ))
      fi
      TPS["$case|$target|$round"]=$tps
      printf "round %s  %-18s %-10s %8s tps\n" "$round" "$case" "$target" "$tps"
    done
  done
done

echo "== $IDLE_CLIENTS idle clients through sluice"
before=$(rss_kib)
coproc HOLDER { "$HOLD" "$IDLE_CLIENTS" "host=127.0.0.1 port=$SLUICEPORT user=bench dbname=bench"; }
read -r ready count <&"${HOLDER[0]}" || true
after=$(rss_kib)
exec {HOLDER[1]}>&-
wait "$HOLDER_PID" 2>/dev/null || true
if [ "${ready:-}" = ready ]; then
  per=$(( (after - before) * 1024 / IDLE_CLIENTS ))
else
  per="n/a"
fi

mean() { local a=0 n=0; for r in $(seq "$ROUNDS"); do a=$(( a + ${TPS["$1|$2|$r"]} )); n=$((n+1)); done; echo $(( a / n )); }

echo
echo "pgbench -S (select-only), $DURATION s per run, $ROUNDS rounds interleaved, pool size $POOL_SIZE, scale $SCALE"
echo
echo "| clients | mode | direct tps | PgBouncer tps | sluice tps | sluice/PgBouncer | sluice/direct |"
echo "|---|---|---|---|---|---|---|"
for case in "${CASES[@]}"; do
  read -r clients mode extra <<<"$case"
  d=$(mean "$case" direct); b=$(mean "$case" pgbouncer); s=$(mean "$case" sluice)
  printf "| %s | %s%s | %s | %s | %s | %s | %s |\n" "$clients" "$mode" "${extra:+ $extra}" "$d" \
    "$( [ "$b" = 0 ] && echo "fails" || echo "$b")" "$s" "$(ratio "$s" "$b")" "$(ratio "$s" "$d")"
done
s_prep=$(mean "64 prepared" sluice); b_simple=$(mean "64 simple" pgbouncer)
echo
echo "sluice -M prepared at 64 clients vs PgBouncer simple at 64: $(ratio "$s_prep" "$b_simple")x"
echo "sluice peak RSS with 256 clients: $((PEAK256 / 1024)) MiB"
echo "sluice RSS with $IDLE_CLIENTS idle clients: $((after / 1024)) MiB ($per bytes per idle client)"
if [ -s "$WORK/failures.log" ]; then echo; echo "failed runs (last lines):"; cat "$WORK/failures.log"; fi
