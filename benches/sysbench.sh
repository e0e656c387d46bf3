#!/usr/bin/env bash
# Benchmark: sysbench oltp_point_select and oltp_read_only through sluice's MySQL
# listener (transaction pooling) and directly against MariaDB 10.11, all on this
# machine, in one run. Two rounds, interleaved (direct, sluice, direct, sluice); prints
# TPS and QPS per run, a table with the means and the ratio sluice/direct, the errors
# sysbench reported, and sluice's peak RSS after the 64-thread runs.
#
# Usage: benches/sysbench.sh
#   DURATION=10 POOL_SIZE=20 ROUNDS=2 TABLE_SIZE=100000 THREADS="1 16 64"
#   RESULTS_FILE=/tmp/sysbench-results.txt   where the table is written as well
#   SLUICE_BIN=target/release/sluice         use this binary instead of building one
#   WORKERS=0                                 sluice's [runtime] workers (0 = one per core)
set -euo pipefail
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

DURATION=${DURATION:-10}
POOL_SIZE=${POOL_SIZE:-20}
ROUNDS=${ROUNDS:-2}
TABLE_SIZE=${TABLE_SIZE:-100000}
THREADS=${THREADS:-1 16 64}
WORKERS=${WORKERS:-0}
TESTS=${TESTS:-oltp_point_select oltp_read_only}
RESULTS_FILE=${RESULTS_FILE:-/tmp/sysbench-results.txt}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib/local-mariadb.sh
. "$ROOT/scripts/lib/local-mariadb.sh"
# shellcheck source=../scripts/lib/bench-poolers.sh
. "$ROOT/scripts/lib/bench-poolers.sh"
command -v sysbench >/dev/null ||
  { echo "missing sysbench: run scripts/install-deps.sh (apt-get install sysbench)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sluice-sysbench.XXXXXX)
SLUICE_PID=
cleanup() {
  stop_sluice
  stop_mariadb
  rm -rf "$WORK"
}
trap cleanup EXIT

sluice_binary

mysql_bench_setup "$POOL_SIZE" "$WORKERS" "$TABLE_SIZE"

hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$SLUICE_PID/status"; }

# The machine may be shared: CPU that other processes take during a run disturbs its
# figures (usually lower; at 1 thread sometimes higher, as round trips between busy
# cores skip the wake-ups from idle). Measured as the busy CPU time of the whole machine (/proc/stat: user, nice, system,
# irq, softirq, steal) minus what sluice, MariaDB and sysbench used, in % of all cores.
NCPU=$(nproc)
cpu_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# run TEST TARGET THREADS -> "tps qps errors other-cpu-%"; errors are sysbench's
# ignored errors plus reconnects, or FAILED when sysbench stopped on an error (its
# output goes to the failures log).
run() {
  local test=$1 target=$2 threads=$3 out rc=0 me=$BASHPID
  local -a conn
  if [ "$target" = direct ]; then conn=("${DIRECT[@]}"); else conn=("${VIA_SLUICE[@]}"); fi
  local b0 s0 m0 c0 t0 other
  b0=$(cpu_busy); s0=$(proc_ticks "$SLUICE_PID"); m0=$(proc_ticks "$MARIADB_PID")
  # cutime + cstime of this subshell: grows by sysbench's CPU once it is reaped.
  c0=$(awk '{print $16 + $17}' "/proc/$me/stat"); t0=$(date +%s.%N)
  out=$(sysbench "$test" "${COMMON[@]}" "${conn[@]}" --threads="$threads" --time="$DURATION" \
        --report-interval=0 run 2>&1) || rc=$?
  other=$(awk -v b0="$b0" -v b1="$(cpu_busy)" -v s0="$s0" -v s1="$(proc_ticks "$SLUICE_PID")" \
    -v m0="$m0" -v m1="$(proc_ticks "$MARIADB_PID")" -v c0="$c0" -v c1="$(awk '{print $16 + $17}' "/proc/$me/stat")" \
    -v t0="$t0" -v t1="$(date +%s.%N)" -v hz="$(getconf CLK_TCK)" -v n="$NCPU" \
    'BEGIN { o = (b1 - b0) - (s1 - s0) - (m1 - m0) - (c1 - c0); if (o < 0) o = 0;
             printf "%.0f", 100 * o / (hz * n * (t1 - t0)) }')
  local tps qps ign rec
  tps=$(echo "$out" | awk '/^ *transactions:/ {gsub(/\(/, "", $3); printf "%.0f", $3}')
  qps=$(echo "$out" | awk '/^ *queries:/ {gsub(/\(/, "", $3); printf "%.0f", $3}')
  ign=$(echo "$out" | awk '/^ *ignored errors:/ {print $3}')
  rec=$(echo "$out" | awk '/^ *reconnects:/ {print $2}')
  if [ "$rc" != 0 ] || [ -z "$tps" ] || echo "$out" | grep -q 'FATAL'; then
    { echo "--- $test, $target, $threads threads: sysbench exited with $rc"; echo "$out" | grep -v '^$' | tail -25; } >> "$WORK/failures.log"
    echo "${tps:-0} ${qps:-0} FAILED $other"
  else
    echo "$tps $qps $(( ${ign:-0} + ${rec:-0} )) $other"
  fi
}

declare -A TPS QPS ERR
HWM64=0 OTHER_SUM=0 OTHER_MAX=0 RUNS=0
for round in $(seq "$ROUNDS"); do
  for test in $TESTS; do
    for threads in $THREADS; do
      for target in direct sluice; do
        read -r tps qps err other < <(run "$test" "$target" "$threads")
        if ! kill -0 "$SLUICE_PID" 2>/dev/null; then
          echo "!!! sluice exited during $test with $threads threads ($target run); its log:" >&2
          tail -30 "$WORK/sluice.log" >&2
          [ -s "$WORK/failures.log" ] && cat "$WORK/failures.log" >&2
          exit 1
        fi
        OTHER_SUM=$(( OTHER_SUM + other )); RUNS=$(( RUNS + 1 ))
        OTHER_MAX=$(( other > OTHER_MAX ? other : OTHER_MAX ))
        key="$test|$threads|$target"
        TPS["$key|$round"]=$tps; QPS["$key|$round"]=$qps
        # Errors add up over the rounds; a failed run stays FAILED.
        prev=${ERR["$key"]:-0}
        if [ "$err" = FAILED ] || [ "$prev" = FAILED ]; then ERR["$key"]=FAILED; else ERR["$key"]=$(( prev + err )); fi
        if [ "$target" = sluice ] && [ "$threads" = 64 ]; then
          hwm=$(hwm_kib); HWM64=$(( hwm > HWM64 ? hwm : HWM64 ))
        fi
        printf "round %s  %-18s %3s threads  %-6s %8s tps %9s qps  errors %s  (other processes: %s%% CPU)\n" \
          "$round" "$test" "$threads" "$target" "$tps" "$qps" "$err" "$other"
      done
    done
  done
done

mean() {
  local -n arr=$1
  local sum=0 r
  for r in $(seq "$ROUNDS"); do sum=$(( sum + ${arr["$2|$r"]} )); done
  echo $(( sum / ROUNDS ))
}

TOTAL_ERRORS=0
{
  echo "sysbench $(sysbench --version | awk '{print $2}') against MariaDB $("$(mariadb_bin mariadbd)" --version | awk '{print $3}'), $DURATION s per run, $ROUNDS rounds interleaved (mean), pool size $POOL_SIZE (transaction mode), 1 table of $TABLE_SIZE rows, --db-ps-mode=auto"
  echo
  echo "| test | threads | direct TPS | direct QPS | sluice TPS | sluice QPS | sluice/direct | errors (direct / sluice) |"
  echo "|---|---|---|---|---|---|---|---|"
  for test in $TESTS; do
    for threads in $THREADS; do
      dt=$(mean TPS "$test|$threads|direct"); dq=$(mean QPS "$test|$threads|direct")
      st=$(mean TPS "$test|$threads|sluice"); sq=$(mean QPS "$test|$threads|sluice")
      de=${ERR["$test|$threads|direct"]}; se=${ERR["$test|$threads|sluice"]}
      printf "| %s | %s | %s | %s | %s | %s | %s | %s / %s |\n" \
        "${test#oltp_}" "$threads" "$dt" "$dq" "$st" "$sq" "$(ratio "$sq" "$dq")" "$de" "$se"
    done
  done
  echo
  if [ "$HWM64" -gt 0 ]; then
    echo "sluice peak RSS (VmHWM) after the 64-thread runs: $(( HWM64 / 1024 )) MiB"
  fi
  echo "sluice's log: $(grep -c -E ' (WARN|ERROR) ' "$WORK/sluice.log" || true) warning and error lines"
  echo "CPU taken by other processes on this machine during the runs: mean $(( OTHER_SUM / RUNS )) %, max $OTHER_MAX % of $NCPU cores"
  if [ "$OTHER_MAX" -gt 10 ]; then
    echo "(more than 10 %: some figures above are disturbed by other work on the machine; see the per-run lines)"
  fi
} > "$WORK/table.txt"
for key in "${!ERR[@]}"; do
  case ${ERR[$key]} in FAILED) TOTAL_ERRORS=FAILED;; *) [ "$TOTAL_ERRORS" = FAILED ] || TOTAL_ERRORS=$(( TOTAL_ERRORS + ${ERR[$key]} ));; esac
done
if [ "$TOTAL_ERRORS" != 0 ]; then
  {
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! sysbench reported errors (total: $TOTAL_ERRORS); the figures above are not clean"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    if [ -s "$WORK/failures.log" ]; then echo; echo "failed runs (last lines of sysbench's output):"; cat "$WORK/failures.log"; fi
    echo; echo "last lines of sluice's log:"; tail -30 "$WORK/sluice.log"
  } >> "$WORK/table.txt"
else
  echo "errors reported by sysbench: 0" >> "$WORK/table.txt"
fi
echo
cat "$WORK/table.txt"
cp "$WORK/table.txt" "$RESULTS_FILE"
echo
echo "(written to $RESULTS_FILE)"
[ "$TOTAL_ERRORS" = 0 ]
