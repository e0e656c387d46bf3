#!/usr/bin/env bash
# Acceptance checks with real drivers: starts its own PostgreSQL 15 and MariaDB 10.11 on
# free ports and one sluice in front of both (transaction pooling, pools of 5), then runs
# through sluice the project's pipeline_errors.py (psycopg 3 pipelines with errors, 1,000
# connections) and the shared acceptance scripts: pg_clients.py (asyncpg, psycopg 3) and
# mysql_clients.py (PyMySQL, MySQL Connector/Python), installed into a virtual
# environment from PyPI.
#
# The shared acceptance scripts live beside the repository, in ../shared/acceptance (or
# $SLUICE_ACCEPTANCE_DIR). Usage: tests/acceptance/run.sh (SLUICE_BIN=path: that binary;
# SLUICE_PIPELINE_CONNECTIONS=n: connections of pipeline_errors.py, 1000 by default)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ACCEPTANCE_DIR=${SLUICE_ACCEPTANCE_DIR:-$ROOT/../shared/acceptance}

# shellcheck source=../../scripts/lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"
# shellcheck source=../../scripts/lib/local-mariadb.sh
. "$ROOT/scripts/lib/local-mariadb.sh"

VENV=${SLUICE_ACCEPTANCE_VENV:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/sluice/acceptance-venv}
if ! "$VENV/bin/python3" -c 'import asyncpg, psycopg, pymysql, mysql.connector' 2>/dev/null; then
  echo "== installing asyncpg, psycopg, PyMySQL and mysql-connector-python into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python3" -m pip install --quiet asyncpg 'psycopg[binary]' pymysql mysql-connector-python
fi

make_workdir sluice-acceptance
SLUICE_PID=
REPLICA_PIDS=()
cleanup() {
  [ -n "$SLUICE_PID" ] && kill "$SLUICE_PID" 2>/dev/null
  for pid in "${REPLICA_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  stop_postgres
  stop_mariadb
  rm -rf "$WORK"
}
trap cleanup EXIT

# SLUICE_BIN runs a given binary instead of building the working tree's.
if [ -n "${SLUICE_BIN:-}" ]; then
  SLUICE=$SLUICE_BIN
else
  (cd "$ROOT" && cargo build -q -p sluice)
  SLUICE="$ROOT/target/debug/sluice"
fi

PORT=$(free_port); ADMIN=$(free_port); MYPORT=$(free_port)
DBPASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
start_postgres app_owner "$DBPASS" app
start_mariadb app app_owner "$DBPASS"

echo "$DBPASS" > "$WORK/db-password"
# Three replicas that know each other ([peers]): this one and two PostgreSQL-only ones.
PEERS=($(free_port) $(free_port) $(free_port))
head -c 24 /dev/urandom | base64 > "$WORK/peer-secret"
peers_section() {
  printf '[peers]\nlisten = "127.0.0.1:%s"\naddresses = ["127.0.0.1:%s", "127.0.0.1:%s", "127.0.0.1:%s"]\nsecret_file = "peer-secret"\nrefresh_interval = "1s"\n' \
    "$1" "${PEERS[0]}" "${PEERS[1]}" "${PEERS[2]}"
}
printf '[users.accept]\npassword = "accept-password"\n' > "$WORK/users.toml"
cat > "$WORK/sluice.toml" <<CONF
[admin]
listen = "127.0.0.1:$ADMIN"
[postgres]
listen = "127.0.0.1:$PORT"
users_file = "users.toml"
[postgres.clusters.local]
hosts = ["127.0.0.1:$PGPORT"]
[postgres.databases.app]
cluster = "local"
pool_mode = "transaction"
pool_size = 5
credentials = { username = "app_owner", password_file = "db-password" }
[mysql]
listen_rw = "127.0.0.1:$MYPORT"
listen_ro = ""
users_file = "users.toml"
[mysql.clusters.local]
hosts = ["127.0.0.1:$MARIADB_PORT"]
tls_mode = "disable"
[mysql.databases.app]
cluster = "local"
pool_mode = "transaction"
pool_size = 5
credentials = { username = "app_owner", password_file = "db-password" }
CONF
peers_section "${PEERS[0]}" >> "$WORK/sluice.toml"
"$SLUICE" --config "$WORK/sluice.toml" > "$WORK/sluice.log" 2>&1 &
SLUICE_PID=$!
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.1; done
REPLICA_PORTS=("$PORT")
for i in 1 2; do
  RPORT=$(free_port); RADMIN=$(free_port)
  cat > "$WORK/replica$i.toml" <<CONF
[admin]
listen = "127.0.0.1:$RADMIN"
[postgres]
listen = "127.0.0.1:$RPORT"
users_file = "users.toml"
[postgres.clusters.local]
hosts = ["127.0.0.1:$PGPORT"]
[postgres.databases.app]
cluster = "local"
pool_mode = "transaction"
pool_size = 5
credentials = { username = "app_owner", password_file = "db-password" }
CONF
  peers_section "${PEERS[$i]}" >> "$WORK/replica$i.toml"
  "$SLUICE" --config "$WORK/replica$i.toml" > "$WORK/replica$i.log" 2>&1 &
  REPLICA_PIDS+=($!)
  for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$RPORT" && break; sleep 0.1; done
  REPLICA_PORTS+=("$RPORT")
done

status=0
echo "== pipeline_errors.py through sluice (transaction pooling, pool of 5)"
"$VENV/bin/python3" "$ROOT/tests/acceptance/pipeline_errors.py" \
  --dsn "postgresql://accept:accept-password@127.0.0.1:$PORT/app" \
  --connections "${SLUICE_PIPELINE_CONNECTIONS:-1000}" || status=$?
echo "== cancel_across_replicas.py: asyncpg timeout= and psql Ctrl-C through three replicas"
"$VENV/bin/python3" "$ROOT/tests/acceptance/cancel_across_replicas.py" \
  --ports "$(IFS=,; echo "${REPLICA_PORTS[*]}")" --psql "$PGBIN/psql" \
  --user accept --password accept-password --database app || status=$?
if [ -f "$ACCEPTANCE_DIR/pg_clients.py" ]; then
  echo "== pg_clients.py through sluice (transaction pooling, pool of 5)"
  "$VENV/bin/python3" "$ACCEPTANCE_DIR/pg_clients.py" \
    --dsn "postgresql://accept:accept-password@127.0.0.1:$PORT/app" || status=$?
else
  echo "!! no acceptance scripts at $ACCEPTANCE_DIR (set SLUICE_ACCEPTANCE_DIR): shared checks NOT run"
fi
if [ -f "$ACCEPTANCE_DIR/mysql_clients.py" ]; then
  echo "== mysql_clients.py through sluice (transaction pooling, pool of 5)"
  "$VENV/bin/python3" "$ACCEPTANCE_DIR/mysql_clients.py" --port "$MYPORT" \
    --user accept --password accept-password --database app || status=$?
fi
if [ "$status" -ne 0 ]; then
  echo "---- sluice log (tail) ----"; tail -n 60 "$WORK/sluice.log"
fi
exit "$status"
