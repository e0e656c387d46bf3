#!/usr/bin/env bash
# sluice's main job, on one machine: start a local PostgreSQL 15, start sluice in front
# of it (transaction pooling, pool of 10), and drive pgbench through it with 50 clients.
# Prints pgbench's result, how many server connections served those clients, and a few
# of sluice's metrics.
#
# Usage: scripts/demo.sh          (DURATION=10 to change the run length)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
"$ROOT/scripts/install-deps.sh"

# shellcheck source=lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"

make_workdir sluice-demo
SLUICE_PID=
cleanup() {
  [ -n "$SLUICE_PID" ] && kill "$SLUICE_PID" 2>/dev/null
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building sluice"
(cd "$ROOT" && cargo build --release -q -p sluice)

PORT=$(free_port); ADMIN=$(free_port)
DBPASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
echo "== starting PostgreSQL 15"
start_postgres app_owner "$DBPASS" app
echo "   PostgreSQL 15 on 127.0.0.1:$PGPORT"

echo "== starting sluice on 127.0.0.1:$PORT (admin on $ADMIN)"
echo "$DBPASS" > "$WORK/db-password"
cat > "$WORK/users.toml" <<CONF
[users.demo]
password = "demo-password"
CONF
cat > "$WORK/sluice.toml" <<CONF
[admin]
listen = "127.0.0.1:$ADMIN"
[postgres]
listen = "127.0.0.1:$PORT"
users_file = "users.toml"
[postgres.clusters.local]
hosts = ["127.0.0.1:$PGPORT"]
tls_mode = "prefer"
[postgres.databases.app]
cluster = "local"
pool_mode = "transaction"
pool_size = 10
credentials = { username = "app_owner", password_file = "db-password" }
CONF
"$ROOT/target/release/sluice" check --config "$WORK/sluice.toml"
"$ROOT/target/release/sluice" --config "$WORK/sluice.toml" > "$WORK/sluice.log" 2>&1 &
SLUICE_PID=$!
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.1; done

export PGPASSWORD=demo-password   # the app's sluice password; it never sees the database's
echo "== pgbench through sluice: 50 clients, $DURATION s (the app knows only its sluice password)"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U demo -i -s 5 -q app 2>&1 | tail -1
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U demo -c 50 -j 2 -T "$DURATION" -P 5 app 2>&1 | grep -E 'tps|latency|processed|failed|progress'
echo "== server connections PostgreSQL saw for those 50 clients:"
as_pg "$PGBIN/psql" -h "$WORK" -p "$PGPORT" -U app_owner -d app -Atc \
  "select count(*) from pg_stat_activity where datname = 'app' and backend_type = 'client backend'"
echo "== a few of sluice's metrics (http://127.0.0.1:$ADMIN/metrics):"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^sluice_(transactions_total|pool_servers|server_connections_opened_total)' || true
echo "== readiness: $(curl -s "http://127.0.0.1:$ADMIN/readyz")"
