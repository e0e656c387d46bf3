#!/usr/bin/env bash
# Benchmark: how much CPU each pooler spends per transaction, next to what the database
# spends, on this machine, in one run.
#
# PostgreSQL: one private PostgreSQL 15 (pgbench -i), and in front of it sluice
# (transaction mode, pool POOL_SIZE), PgBouncer (Debian package, transaction mode, same
# pool size) and, when PG_DOORMAN names its binary, pg_doorman (transaction mode, same
# pool size); pgbench -S through each and directly, at a fixed rate (-R RATE) and at full
# load. MySQL: a private MariaDB and sysbench oltp_point_select directly and through
# sluice (transaction multiplexing, pool POOL_SIZE), at a fixed rate and at full load.
#
# For every run: the CPU time (user + system, /proc/<pid>/stat) the pooler's process used
# from before to after the run, divided by the transactions the load generator
# completed; the same for the database server (PostgreSQL: the postmaster and all its
# children, exited ones included; MariaDB: mariadbd); throughput; p50 and p99 latency
# (pgbench's per-transaction log; sysbench's histogram and its 99th percentile). Rounds
# are interleaved, the order of the targets reversed every other round; the table gives
# the mean tps and percentiles of the rounds and total CPU / total transactions, plus
# the ratios sluice/PgBouncer and sluice/pg_doorman (CPU per transaction and tps).
# Each run starts its clients anew, so its figures include their connections: for
# direct runs, PostgreSQL's start of a backend per client (which weighs most at a low
# rate); through a pooler, its login of the clients (trusted) and of new server
# connections.
# sysbench oltp_point_select runs one query per transaction: its rows are per query too.
#
# Usage: benches/cpu-per-tx.sh
#   CLIENTS="16 64"       pgbench clients and sysbench threads
#   MODES="simple"        pgbench -M protocols, e.g. "simple extended prepared"
#   LOADS="rate full"     fixed rate, full load or both
#   RATE=2000             pgbench -R, transactions per second over all clients
#   MYSQL_RATE=$RATE      sysbench --rate, queries per second
#   DURATION=10 ROUNDS=2 POOL_SIZE=20 SCALE=10 TABLE_SIZE=100000
#   DATABASES="postgres mysql"           which side(s) to run
#   PG_DOORMAN=/path/to/pg_doorman       adds pg_doorman (built from its own source)
#   SLUICE_BIN=target/release/sluice     use this binary instead of building one
#   LOG_SAMPLING=1        fraction of transactions pgbench logs for the percentiles
#   RESULTS_FILE=/tmp/cpu-per-tx.txt     where the table is written as well
set -euo pipefail
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

CLIENTS=${CLIENTS:-16 64}
MODES=${MODES:-simple}
LOADS=${LOADS:-rate full}
RATE=${RATE:-2000}
MYSQL_RATE=${MYSQL_RATE:-$RATE}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
POOL_SIZE=${POOL_SIZE:-20}
SCALE=${SCALE:-10}
TABLE_SIZE=${TABLE_SIZE:-100000}
DATABASES=${DATABASES:-postgres mysql}
LOG_SAMPLING=${LOG_SAMPLING:-1}
RESULTS_FILE=${RESULTS_FILE:-/tmp/cpu-per-tx.txt}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"
# shellcheck source=../scripts/lib/local-mariadb.sh
. "$ROOT/scripts/lib/local-mariadb.sh"
# shellcheck source=../scripts/lib/bench-poolers.sh
. "$ROOT/scripts/lib/bench-poolers.sh"
HZ=$(getconf CLK_TCK)
case " $DATABASES " in *" postgres "*) RUN_PG=1;; *) RUN_PG=;; esac
case " $DATABASES " in *" mysql "*) RUN_MYSQL=1;; *) RUN_MYSQL=;; esac
if [ -n "$RUN_PG" ]; then
  for tool in "$PGBIN/initdb" "$PGBIN/pgbench" /usr/sbin/pgbouncer ${PG_DOORMAN:+"$PG_DOORMAN"}; do
    [ -x "$tool" ] || { echo "missing $tool (scripts/install-deps.sh installs PostgreSQL 15 and PgBouncer)" >&2; exit 1; }
  done
fi
if [ -n "$RUN_MYSQL" ]; then
  command -v sysbench >/dev/null || { echo "missing sysbench: run scripts/install-deps.sh" >&2; exit 1; }
fi

make_workdir sluice-cpu
cleanup() {
  stop_sluice
  stop_pgbouncer
  stop_doorman
  stop_postgres
  stop_mariadb
  rm -rf "$WORK"
}
trap cleanup EXIT

sluice_binary
PASSWORD=bench-password
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

# Per case (database|mode|clients|load|target), summed over the rounds.
declare -A TPS TX PROXY SERVER P50 P99 OK FAILED
# record KEY TPS TX PROXY_TICKS SERVER_TICKS P50_MS P99_MS
record() {
  local k=$1
  TPS[$k]=$(awk -v a="${TPS[$k]:-0}" -v b="$2" 'BEGIN { print a + b }')
  TX[$k]=$(( ${TX[$k]:-0} + $3 ))
  PROXY[$k]=$(( ${PROXY[$k]:-0} + $4 )); SERVER[$k]=$(( ${SERVER[$k]:-0} + $5 ))
  P50[$k]=$(awk -v a="${P50[$k]:-0}" -v b="$6" 'BEGIN { print a + b }')
  P99[$k]=$(awk -v a="${P99[$k]:-0}" -v b="$7" 'BEGIN { print a + b }')
  OK[$k]=$(( ${OK[$k]:-0} + 1 ))
}
# The targets in the order of this round: reversed every other round.
in_order() {
  local round=$1; shift
  if [ $((round % 2)) = 1 ]; then echo "$@"; else printf '%s\n' "$@" | tac | tr '\n' ' '; fi
}
# Let the backends of a finished run exit and be reaped before CPU time is read again.
settle() { sleep 0.5; }

# ---------------------------------------------------------------- PostgreSQL
# pg_run TARGET MODE CLIENTS LOAD ROUND: one pgbench run; records it, or marks the case
# failed (pgbench's last lines go to the failures log).
pg_run() {
  local target=$1 mode=$2 clients=$3 load=$4 round=$5
  local key="postgres|$mode|$clients|$load|$target" port pid= out rc=0
  case $target in
    direct) port=$PGPORT;;
    sluice) port=$SLUICEPORT; pid=$SLUICE_PID;;
    PgBouncer) port=$BOUNCERPORT; pid=$PGBOUNCER_PID;;
    pg_doorman) port=$DOORMANPORT; pid=$DOORMAN_PID;;
  esac
  local logs="$WORK/tx/$round.$target.$mode.$clients.$load" p0=0 p1=0 s0 s1
  mkdir -p "$logs"
  local -a args=(-h 127.0.0.1 -p "$port" -U bench -n -S -M "$mode" -c "$clients"
    -j $(( clients < 2 ? 1 : 2 )) -T "$DURATION" --log --log-prefix="$logs/tx" --sampling-rate="$LOG_SAMPLING")
  if [ "$load" = rate ]; then args+=(-R "$RATE"); fi
  [ -n "$pid" ] && p0=$(proc_ticks "$pid")
  s0=$(cluster_ticks "$WORK/pg")
  out=$("$PGBIN/pgbench" "${args[@]}" bench 2>&1) || rc=$?
  settle
  [ -n "$pid" ] && p1=$(proc_ticks "$pid")
  s1=$(cluster_ticks "$WORK/pg")
  local tps tx
  tps=$(echo "$out" | awk '/^tps = / {printf "%.0f", $3; exit}')
  tx=$(echo "$out" | awk '/^number of transactions actually processed:/ {print $6; exit}')
  if [ "$rc" != 0 ] || [ -z "$tps" ] || [ "${tx:-0}" = 0 ]; then
    { echo "--- $key, round $round: pgbench exited with $rc"; echo "$out" | tail -3; } >> "$WORK/failures.log"
    FAILED[$key]=1
    printf "round %s  %-10s %-8s %4s clients %-4s  failed\n" "$round" "$target" "$mode" "$clients" "$load"
  else
    local lat
    # The third column of pgbench's per-transaction log is the latency in microseconds.
    lat=$(cat "$logs"/tx.* | awk '{print $3}' | sort -n |
      awk '{ v[NR] = $1 } END { i = int(NR * 0.5); j = int(NR * 0.99); if (i < 1) i = 1; if (j < 1) j = 1;
                               printf "%.3f %.3f", v[i] / 1000, v[j] / 1000 }')
    read -r p50 p99 <<<"$lat"
    record "$key" "$tps" "$tx" $((p1 - p0)) $((s1 - s0)) "$p50" "$p99"
    printf "round %s  %-10s %-8s %4s clients %-4s  %7s tps  proxy %s ticks  server %s ticks  p50 %s ms  p99 %s ms\n" \
      "$round" "$target" "$mode" "$clients" "$load" "$tps" $((p1 - p0)) $((s1 - s0)) "$p50" "$p99"
  fi
  rm -rf "$logs"
}

PG_TARGETS=()
if [ -n "$RUN_PG" ]; then
  echo "== starting PostgreSQL 15"
  start_postgres bench "$PASSWORD" bench "$(printf 'max_connections = 400\nshared_buffers = 256MB\nsynchronous_commit = off')"
  export PGPASSWORD=$PASSWORD
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U bench -i -s "$SCALE" -q bench >/dev/null 2>&1
  BOUNCERPORT=$(free_port); SLUICEPORT=$(free_port); DOORMANPORT=$(free_port)
  echo "== starting PgBouncer $(/usr/sbin/pgbouncer --version | head -1 | awk '{print $2}') on $BOUNCERPORT"
  start_pgbouncer "$BOUNCERPORT" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"
  echo "== starting sluice on $SLUICEPORT"
  start_sluice_pg "$SLUICEPORT" "$(free_port)" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"
  PG_TARGETS=(direct PgBouncer sluice)
  if [ -n "${PG_DOORMAN:-}" ]; then
    echo "== starting pg_doorman ($PG_DOORMAN) on $DOORMANPORT"
    start_doorman "$DOORMANPORT" "$PGPORT" bench "$PASSWORD" bench "$POOL_SIZE"
    PG_TARGETS+=(pg_doorman)
  fi
  for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
      for clients in $CLIENTS; do
        for load in $LOADS; do
          for target in $(in_order "$round" "${PG_TARGETS[@]}"); do
            pg_run "$target" "$mode" "$clients" "$load" "$round"
          done
        done
      done
    done
  done
  stop_sluice; stop_pgbouncer; stop_doorman; stop_postgres
fi

# ---------------------------------------------------------------- MySQL
# my_run TARGET CLIENTS LOAD ROUND: one sysbench oltp_point_select run; a run sysbench ends with an error or with ignored errors marks the case failed.
my_run() {
  local target=$1 clients=$2 load=$3 round=$4
  local key="mysql|point_select|$clients|$load|$target" out rc=0 p0 p1 s0 s1
  local -a conn=("${DIRECT[@]}")
  [ "$target" = sluice ] && conn=("${VIA_SLUICE[@]}")
  [ "$load" = rate ] && conn+=(--rate="$MYSQL_RATE")
  p0=$(proc_ticks "$SLUICE_PID"); s0=$(proc_ticks "$MARIADB_PID")
  out=$(sysbench oltp_point_select "${COMMON[@]}" "${conn[@]}" --threads="$clients" --time="$DURATION" \
        --report-interval=0 --percentile=99 --histogram=on run 2>&1) || rc=$?
  p1=$(proc_ticks "$SLUICE_PID"); s1=$(proc_ticks "$MARIADB_PID")
  [ "$target" = direct ] && p1=$p0
  local queries qps errors p50 p99
  queries=$(echo "$out" | awk '/^ *queries:/ {print $2; exit}')
  qps=$(echo "$out" | awk '/^ *queries:/ {gsub(/\(/, "", $3); printf "%.0f", $3; exit}')
  errors=$(echo "$out" | awk '/^ *ignored errors:/ {e += $3} /^ *reconnects:/ {e += $2} END {print e + 0}')
  p99=$(echo "$out" | awk '/99th percentile:/ {print $3; exit}')
  # Histogram lines: "value |**** count", value in milliseconds.
  p50=$(echo "$out" | awk '/^ *[0-9.]+ +\|/ { v[++n] = $1; c[n] = $NF; t += $NF }
    END { for (i = 1; i <= n; i++) { s += c[i]; if (s >= t / 2) { print v[i]; exit } } }')
  if [ "$rc" != 0 ] || [ -z "$queries" ] || [ "$queries" = 0 ] || [ "$errors" != 0 ]; then
    { echo "--- $key, round $round: sysbench exited with $rc, $errors errors"; echo "$out" | grep -v '^$' | tail -5; } >> "$WORK/failures.log"
    FAILED[$key]=1
    printf "round %s  %-10s point_select %4s threads %-4s  failed\n" "$round" "$target" "$clients" "$load"
  else
    record "$key" "$qps" "$queries" $((p1 - p0)) $((s1 - s0)) "${p50:-0}" "${p99:-0}"
    printf "round %s  %-10s point_select %4s threads %-4s  %7s qps  proxy %s ticks  server %s ticks  p50 %s ms  p99 %s ms\n" \
      "$round" "$target" "$clients" "$load" "$qps" $((p1 - p0)) $((s1 - s0)) "$p50" "$p99"
  fi
}

if [ -n "$RUN_MYSQL" ]; then
  mysql_bench_setup "$POOL_SIZE" 0 "$TABLE_SIZE"
  for round in $(seq "$ROUNDS"); do
    for clients in $CLIENTS; do
      for load in $LOADS; do
        for target in $(in_order "$round" direct sluice); do
          my_run "$target" "$clients" "$load" "$round"
        done
      done
    done
  done
  stop_sluice; stop_mariadb
fi

# ---------------------------------------------------------------- the table
# per_tx KEY ticks-array -> microseconds of CPU per transaction
per_tx() { local -n t=$2; awk -v c="${t[$1]:-0}" -v n="${TX[$1]:-0}" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.1f", c / hz * 1e6 / n; else print "n/a" }'; }
mean_of() { local -n t=$2; awk -v s="${t[$1]:-0}" -v n="${OK[$1]:-0}" -v f="$3" 'BEGIN { if (n > 0) printf f, s / n; else print "n/a" }'; }
cell() { if [ -n "${FAILED[$1]:-}" ] && [ -z "${OK[$1]:-}" ]; then echo fails; else "${@:2}"; fi; }
# vs KEY_OF_SLUICE OTHER_TARGET: "cpu-ratio tps-ratio" of sluice against that target
vs() {
  local other="${1%|sluice}|$2"
  if [ -n "${FAILED[$other]:-}" ] && [ -z "${OK[$other]:-}" ]; then echo "fails fails"; return; fi
  if [ -z "${OK[$other]:-}" ] || [ -z "${OK[$1]:-}" ]; then echo "– –"; return; fi
  echo "$(ratio "$(per_tx "$1" PROXY)" "$(per_tx "$other" PROXY)") $(ratio "$(mean_of "$1" TPS %.0f)" "$(mean_of "$other" TPS %.0f)")"
}
{
  echo "CPU per transaction: $DURATION s per run, $ROUNDS rounds interleaved, pool size $POOL_SIZE (transaction mode), $(nproc) cores"
  [ -n "$RUN_PG" ] && echo "PostgreSQL 15, pgbench -S, scale $SCALE, fixed rate $RATE tps; PgBouncer $(/usr/sbin/pgbouncer --version | head -1 | awk '{print $2}')${PG_DOORMAN:+; pg_doorman $("$PG_DOORMAN" --version 2>/dev/null | head -1)}"
  [ -n "$RUN_MYSQL" ] && echo "MariaDB $("$(mariadb_bin mariadbd)" --version | awk '{print $3}'), sysbench oltp_point_select, fixed rate $MYSQL_RATE tps (one query per transaction)"
  echo "proxy/server CPU: µs of user + system time per transaction; tps and percentiles: mean of the rounds"
  echo
  echo "| database | target | mode | clients | load | tps | proxy CPU µs/tx | server CPU µs/tx | p50 ms | p99 ms | CPU sluice/PgBouncer | CPU sluice/pg_doorman | tps sluice/PgBouncer | tps sluice/pg_doorman |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for db in postgres mysql; do
    if [ "$db" = postgres ]; then
      [ -n "$RUN_PG" ] || continue; modes=$MODES; targets=("${PG_TARGETS[@]}")
    else
      [ -n "$RUN_MYSQL" ] || continue; modes=point_select; targets=(direct sluice)
    fi
    for mode in $modes; do
      for clients in $CLIENTS; do
        for load in $LOADS; do
          for target in "${targets[@]}"; do
            k="$db|$mode|$clients|$load|$target"
            proxy=–; [ "$target" = direct ] || proxy=$(cell "$k" per_tx "$k" PROXY)
            cb=–; cd=–; tb=–; td=–
            if [ "$target" = sluice ] && [ "$db" = postgres ]; then
              read -r cb tb < <(vs "$k" PgBouncer); read -r cd td < <(vs "$k" pg_doorman)
            fi
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" "$db" "$target" "$mode" "$clients" \
              "$([ "$load" = rate ] && echo "rate" || echo "full")" "$(cell "$k" mean_of "$k" TPS %.0f)" "$proxy" \
              "$(cell "$k" per_tx "$k" SERVER)" "$(cell "$k" mean_of "$k" P50 %.3f)" "$(cell "$k" mean_of "$k" P99 %.3f)" \
              "$cb" "$cd" "$tb" "$td"
          done
        done
      done
    done
  done
  echo
  echo "load average at the start: $LOAD_AT_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine disturbs every figure)"
  if [ -s "$WORK/failures.log" ]; then echo; echo "failed runs (last lines):"; cat "$WORK/failures.log"; fi
} > "$WORK/table.txt"
echo
cat "$WORK/table.txt"
cp "$WORK/table.txt" "$RESULTS_FILE"
echo
echo "(written to $RESULTS_FILE)"
