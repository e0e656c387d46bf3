#!/usr/bin/env bash
# sluice's main job, on one machine: start a local PostgreSQL 15 and a local MariaDB
# 10.11, start one sluice in front of both (transaction pooling, pool of 10 each), and
# drive them through it: pgbench with 50 clients on the PostgreSQL side; the mariadb
# client and sysbench with 50 threads on the MySQL side. Prints the results, how many
# server connections served those clients, and a few of sluice's metrics.
#
# Usage: scripts/demo.sh          (DURATION=10 to change the run lengths)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
"$ROOT/scripts/install-deps.sh"

# shellcheck source=lib/local-postgres.sh
. "$ROOT/scripts/lib/local-postgres.sh"
# shellcheck source=lib/local-mariadb.sh
. "$ROOT/scripts/lib/local-mariadb.sh"

make_workdir sluice-demo
SLUICE_PID=
cleanup() {
  [ -n "$SLUICE_PID" ] && kill "$SLUICE_PID" 2>/dev/null
  stop_postgres
  stop_mariadb
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building sluice"
(cd "$ROOT" && cargo build --release -q -p sluice)

PORT=$(free_port); ADMIN=$(free_port); MYSQL_RW=$(free_port); MYSQL_RO=$(free_port)
DBPASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
MYDBPASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
echo "== starting PostgreSQL 15"
start_postgres app_owner "$DBPASS" app
echo "   PostgreSQL 15 on 127.0.0.1:$PGPORT"
echo "== starting MariaDB"
start_mariadb shop shop_owner "$MYDBPASS"
echo "   MariaDB $("$(mariadb_bin mariadbd)" --version | awk '{print $3}') on 127.0.0.1:$MARIADB_PORT"

echo "== starting sluice: PostgreSQL on 127.0.0.1:$PORT, MySQL on 127.0.0.1:$MYSQL_RW (read-write)" \
  "and $MYSQL_RO (read-only), admin on $ADMIN"
echo "$DBPASS" > "$WORK/db-password"
echo "$MYDBPASS" > "$WORK/mysql-db-password"
# One identity for the app on both sides; the database passwords stay in sluice's files.
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
[mysql]
listen_rw = "127.0.0.1:$MYSQL_RW"
listen_ro = "127.0.0.1:$MYSQL_RO"
users_file = "users.toml"
[mysql.clusters.local]
hosts = ["127.0.0.1:$MARIADB_PORT"]
tls_mode = "disable"
[mysql.databases.shop]
cluster = "local"
pool_mode = "transaction"
pool_size = 10
credentials = { username = "shop_owner", password_file = "mysql-db-password" }
CONF
"$ROOT/target/release/sluice" check --config "$WORK/sluice.toml"
RUST_LOG=${RUST_LOG:-info} "$ROOT/target/release/sluice" --config "$WORK/sluice.toml" > "$WORK/sluice.log" 2>&1 &
SLUICE_PID=$!
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.1; done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

export PGPASSWORD=demo-password   # the app's sluice password; it never sees the database's
echo "== pgbench through sluice: 50 clients, $DURATION s (the app knows only its sluice password)"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U demo -i -s 5 -q app 2>&1 | tail -1
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U demo -c 50 -j 2 -T "$DURATION" -P 5 app 2>&1 | grep -E 'tps|latency|processed|failed|progress'
echo "== server connections PostgreSQL saw for those 50 clients:"
as_pg "$PGBIN/psql" -h "$WORK" -p "$PGPORT" -U app_owner -d app -Atc \
  "select count(*) from pg_stat_activity where datname = 'app' and backend_type = 'client backend'"

# The MySQL side: the same app identity, through sluice's read-write listener. The
# client never learns shop_owner's password; CURRENT_USER() shows whom MariaDB sees.
mysql_app() {
  "$(mariadb_bin mariadb)" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$MYSQL_RW" \
    -u demo -pdemo-password --connect-timeout=10 shop "$@"
}
echo "== MySQL through sluice (127.0.0.1:$MYSQL_RW): mariadb -u demo shop (the app's sluice identity)"
SQL="CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(40) NOT NULL, qty INT NOT NULL);
INSERT INTO orders (item, qty) VALUES ('apples', 3), ('pears', 5), ('plums', 7);
UPDATE orders SET qty = qty + 1 WHERE item = 'pears';
SELECT id, item, qty FROM orders ORDER BY id;
SELECT CURRENT_USER() AS database_user, DATABASE() AS db, VERSION() AS server_version;"
echo "$SQL" | sed 's/^/   sql> /'
if ! mysql_app --table -e "$SQL"; then
  echo "!!! the statements above failed through sluice; sluice's log:" >&2; tail -20 "$WORK/sluice.log" >&2; exit 1
fi

echo "== sysbench oltp_point_select through sluice: 50 threads, $DURATION s"
SYSBENCH=(sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$MYSQL_RW"
  --mysql-user=demo --mysql-password=demo-password --mysql-db=shop --mysql-ssl=off
  --tables=1 --table-size=10000)
"${SYSBENCH[@]}" prepare 2>&1 | grep -E 'Creating|Inserting|FATAL' || true
"${SYSBENCH[@]}" --threads=50 --time="$DURATION" --report-interval=5 run 2>&1 |
  grep -E '^\[|transactions:|queries:|ignored errors:|reconnects:|avg:|95th|FATAL|error' || true
echo "== server connections MariaDB saw for those 50 threads (the pool, plus one that watches the member's role):"
mariadb_root "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'shop_owner'"

echo "== a few of sluice's metrics (http://127.0.0.1:$ADMIN/metrics):"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^sluice_(transactions_total|pool_servers|server_connections_opened_total)' || true
echo "== readiness: $(curl -s "http://127.0.0.1:$ADMIN/readyz")"
