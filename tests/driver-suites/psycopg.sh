#!/usr/bin/env bash
# psycopg 3's own test suite, directly against PostgreSQL 15 and through sluice in
# transaction mode (pool 20) and session mode (pool 60), in one run. Prints each target's
# counts and wall time, then the failures through sluice that a direct connection does not
# have, split into those on the list of expected differences (expected.txt beside this
# script, each with its reason) and the unexpected ones. Exit status 1 when there is an
# unexpected one. A test counts as failed when it fails, and fails again when the
# failures of its target run once more on their own (the suite has timing tests).
#
# The suite is not part of this repository: check out psycopg's source (its public
# repository) and pass its path. This is a longer check (about an hour for the three
# targets side by side on two cores, psycopg's pure-Python implementation), run before an
# issue that touches the PostgreSQL session code is called resolved.
#
# Usage: tests/driver-suites/psycopg.sh /path/to/psycopg [pytest arguments, e.g. tests/test_pipeline.py]
#   TARGETS="direct transaction session"  which targets to run
#   SLUICE_BIN=path                        a sluice binary instead of building this tree
#   RESULTS_DIR=path                       keep pytest's output and junit files there
#   PARALLEL=0                             run the targets one after the other
#   DIRECT_FROM=dir                        compare with direct*.xml kept (RESULTS_DIR) by an
#                                          earlier run instead of running the direct target
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/driver-suites"
SRC=${1:?usage: $0 /path/to/psycopg-checkout [pytest args]}
SRC=$(cd "$SRC" && pwd)
shift
[ -f "$SRC/psycopg/pyproject.toml" ] || { echo "no psycopg checkout at $SRC" >&2; exit 2; }

# shellcheck source=../../scripts/lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"

VENV=${SLUICE_DRIVER_VENV:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/sluice/psycopg-suite-venv}
if [ ! -x "$VENV/bin/pytest" ] || ! "$VENV/bin/python3" -c "import pytest_timeout" 2>/dev/null; then
  echo "== installing psycopg (from $SRC) and its test requirements into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -e "$SRC/psycopg[test]" -e "$SRC/psycopg_pool" pytest-timeout
fi

make_workdir sluice-psycopg
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "${RESULTS_DIR:-}" ]; then
    mkdir -p "$RESULTS_DIR" && cp "$WORK"/*.out "$WORK"/*.xml "$WORK"/*.log "$RESULTS_DIR"/ 2>/dev/null
  fi
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${SLUICE_BIN:-}" ]; then
  SLUICE=$SLUICE_BIN
else
  # Release, as deployed: the suite's timing tests measure logins and waits.
  (cd "$ROOT" && cargo build -q --release -p sluice) || exit 2
  SLUICE="$ROOT/target/release/sluice"
fi

DBPASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
# A database per target, since the targets run side by side and the suite's tests use
# fixed table names; connections enough for all three.
start_postgres app_owner "$DBPASS" app_direct "max_connections = 250"
for mode in transaction session; do
  as_pg "$PGBIN/createdb" -h "$WORK" -p "$PGPORT" -U app_owner "app_$mode"
done
echo "$DBPASS" > "$WORK/db-password"
printf '[users.suite]\npassword = "suite-password"\n' > "$WORK/users.toml"
declare -A PORT
for mode in transaction session; do
  PORT[$mode]=$(free_port)
  pool=20
  [ "$mode" = session ] && pool=60
  cat > "$WORK/$mode.toml" <<CONF
[admin]
listen = "127.0.0.1:$(free_port)"
[postgres]
listen = "127.0.0.1:${PORT[$mode]}"
users_file = "users.toml"
[postgres.clusters.local]
hosts = ["127.0.0.1:$PGPORT"]
[postgres.databases.app]
cluster = "local"
server_database = "app_$mode"
pool_mode = "$mode"
pool_size = $pool
credentials = { username = "app_owner", password_file = "db-password" }
CONF
  (cd "$WORK" && RUST_LOG=${SLUICE_LOG:-warn} exec "$SLUICE" --config "$WORK/$mode.toml" > "$WORK/$mode.log" 2>&1) &
  PIDS+=($!)
done
for mode in transaction session; do
  for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "${PORT[$mode]}" && break; sleep 0.1; done
done

cd "$SRC" || exit 2
run_suite() { # target dsn pytest-args...
  local target=$1 dsn=$2
  shift 2
  # The package directories of the checkout would shadow the installed packages. A
  # cache of its own per target: the suite refuses to start after a run that did not
  # finish (it takes that for a crash), and --last-failed reads it.
  # The typing tests run mypy over snippets and open no connection. A test that waits
  # for what never comes (a notification) fails after the timeout instead of hanging.
  PYTHONPATH="$SRC/psycopg:$SRC/psycopg_pool" "$VENV/bin/pytest" -q -p no:randomly \
    -o cache_dir="$WORK/pytest-cache-$target" --test-dsn "$dsn" --timeout=120 \
    --ignore=tests/test_typing.py --ignore=tests/crdb/test_typing.py "$@"
}
dsn_of() {
  case $1 in
    direct) echo "host=127.0.0.1 port=$PGPORT user=app_owner password=$DBPASS dbname=app_direct" ;;
    *) echo "host=127.0.0.1 port=${PORT[$1]} user=suite password=suite-password dbname=app" ;;
  esac
}

# The targets run side by side (PARALLEL=0: one after the other).
declare -A RUNNING
for target in ${TARGETS:-direct transaction session}; do
  echo "== $target started"
  (
    started=$SECONDS
    run_suite "$target" "$(dsn_of "$target")" --junitxml="$WORK/$target.xml" "$@" \
      > "$WORK/$target.out" 2>&1
    echo "== $target: $(tail -n 1 "$WORK/$target.out") ($((SECONDS - started)) s)"
  ) &
  RUNNING[$target]=$!
  [ "${PARALLEL:-1}" = 0 ] && wait "${RUNNING[$target]}"
done
wait "${RUNNING[@]}"
# The suite has timing tests (a login or a wait within a few milliseconds), which a
# busy machine fails now and then: what failed runs once more, alone, and counts as
# failed only if it fails again.
for target in ${TARGETS:-direct transaction session}; do
  if tail -n 1 "$WORK/$target.out" | grep -qE "failed|error"; then
    started=$SECONDS
    run_suite "$target" "$(dsn_of "$target")" --last-failed \
      --junitxml="$WORK/$target-rerun.xml" "$@" > "$WORK/$target-rerun.out" 2>&1
    echo "== $target, the failures again: $(tail -n 1 "$WORK/$target-rerun.out") ($((SECONDS - started)) s)"
  fi
done

# The direct target's results of an earlier run, when this one does not run it.
COMPARED="${TARGETS:-direct transaction session}"
if [ -n "${DIRECT_FROM:-}" ] && [[ " $COMPARED " != *" direct "* ]]; then
  cp "$DIRECT_FROM"/direct*.xml "$WORK"/ && COMPARED="direct $COMPARED"
fi
"$VENV/bin/python3" - "$WORK" "$HERE/expected.txt" $COMPARED <<'PY'
import sys
import xml.etree.ElementTree as ET

work, expected_file, targets = sys.argv[1], sys.argv[2], sys.argv[3:]

def failed_in(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    failed = set()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            file = case.get("classname", "").replace(".", "/") + ".py"
            failed.add(f"{file}::{case.get('name')}")
    return failed

flaky = {}

def failures(target):
    """The tests that failed in the run and again in the rerun of its failures."""
    first = failed_in(f"{work}/{target}.xml")
    if first is None:
        return None
    again = failed_in(f"{work}/{target}-rerun.xml")
    if again is None:
        return first
    flaky[target] = sorted(first - again)
    return first & again

# expected.txt: "<mode> <test id>  # reason"; mode is transaction, session or any.
expected = {}
for line in open(expected_file):
    line = line.split("#", 1)
    body, reason = line[0].strip(), (line[1].strip() if len(line) > 1 else "")
    if body:
        mode, test = body.split(None, 1)
        expected[(mode, test.strip())] = reason

direct = failures("direct") or set() if "direct" in targets else set()
unexpected_total = 0
for target in targets:
    if target == "direct":
        continue
    failed = failures(target)
    if failed is None:
        print(f"== {target}: no results")
        unexpected_total += 1
        continue
    extra = sorted(failed - direct)
    listed = [t for t in extra if (target, t) in expected or ("any", t) in expected]
    unlisted = [t for t in extra if t not in listed]
    print(f"== {target}: {len(failed)} failed twice, {len(extra)} not failing directly: "
          f"{len(listed)} expected, {len(unlisted)} unexpected; "
          f"{len(flaky.get(target, []))} failed once and passed on the rerun")
    for t in listed:
        print(f"   expected    {t}  # {expected.get((target, t)) or expected.get(('any', t))}")
    for t in unlisted:
        print(f"   UNEXPECTED  {t}")
    for t in flaky.get(target, []):
        print(f"   flaky       {t}")
    unexpected_total += len(unlisted)
sys.exit(1 if unexpected_total else 0)
PY
