#!/usr/bin/env bash
# psycopg 3's own test suite, directly against PostgreSQL 15 and through sluice in
# transaction mode (pool 20) and session mode (pool 60), in one run. Prints each target's
# counts and wall time, then the failures through sluice that a direct connection does not
# have, split into those on the list of expected differences (expected.txt beside this
# script, each with its reason) and the unexpected ones. Exit status 1 when there is an
# unexpected one.
#
# The suite is not part of this repository: check out psycopg's source (its public
# repository) and pass its path. This is a longer check (about 20 minutes a target on two
# cores), run before an issue that touches the PostgreSQL session code is called resolved.
#
# Usage: tests/driver-suites/psycopg.sh /path/to/psycopg [pytest arguments, e.g. tests/test_pipeline.py]
#   TARGETS="direct transaction session"  which targets to run
#   SLUICE_BIN=path                        a sluice binary instead of building this tree
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
if [ ! -x "$VENV/bin/pytest" ]; then
  echo "== installing psycopg (from $SRC) and its test requirements into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -e "$SRC/psycopg[test]" -e "$SRC/psycopg_pool"
fi

make_workdir sluice-psycopg
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${SLUICE_BIN:-}" ]; then
  SLUICE=$SLUICE_BIN
else
  (cd "$ROOT" && cargo build -q -p sluice) || exit 2
  SLUICE="$ROOT/target/debug/sluice"
fi

DBPASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
start_postgres app_owner "$DBPASS" app
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
for target in ${TARGETS:-direct transaction session}; do
  case $target in
    direct) dsn="host=127.0.0.1 port=$PGPORT user=app_owner password=$DBPASS dbname=app" ;;
    *) dsn="host=127.0.0.1 port=${PORT[$target]} user=suite password=suite-password dbname=app" ;;
  esac
  echo "== $target"
  started=$SECONDS
  # The package directories of the checkout would shadow the installed packages.
  PYTHONPATH="$SRC/psycopg:$SRC/psycopg_pool" "$VENV/bin/pytest" -q -p no:randomly \
    --junitxml="$WORK/$target.xml" "$@" --test-dsn "$dsn" > "$WORK/$target.out" 2>&1
  tail -n 1 "$WORK/$target.out"
  echo "   ($((SECONDS - started)) s)"
done

"$VENV/bin/python3" - "$WORK" "$HERE/expected.txt" ${TARGETS:-direct transaction session} <<'PY'
import sys
import xml.etree.ElementTree as ET

work, expected_file, targets = sys.argv[1], sys.argv[2], sys.argv[3:]

def failures(target):
    try:
        root = ET.parse(f"{work}/{target}.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    failed = set()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            path = case.get("classname", "").replace(".", "/") + ".py"
            failed.add(f"{path}::{case.get('name')}")
    return failed

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
    print(f"== {target}: {len(failed)} failed, {len(extra)} not failing directly: "
          f"{len(listed)} expected, {len(unlisted)} unexpected")
    for t in listed:
        print(f"   expected    {t}  # {expected.get((target, t)) or expected.get(('any', t))}")
    for t in unlisted:
        print(f"   UNEXPECTED  {t}")
    unexpected_total += len(unlisted)
sys.exit(1 if unexpected_total else 0)
PY
