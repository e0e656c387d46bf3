# Shell helpers shared by the benchmarks in benches/: which sluice binary to run, sluice
# in front of the private PostgreSQL (local-postgres.sh) or MariaDB (local-mariadb.sh),
# PgBouncer from the Debian package, and CPU time read from /proc. Source this file after
# the local-*.sh library the benchmark uses; the functions write into $WORK and expect
# ROOT (the checkout) to be set.

# sluice_binary [CARGO_PACKAGE...]: sets SLUICE to $SLUICE_BIN when it is set, else to a
# release build of this checkout; the packages named are built (release) in both cases.
sluice_binary() {
  local -a packages=()
  local p
  for p in "$@"; do packages+=(-p "$p"); done
  if [ -n "${SLUICE_BIN:-}" ]; then
    SLUICE=$SLUICE_BIN
    echo "== using $SLUICE"
    if [ ${#packages[@]} -gt 0 ]; then (cd "$ROOT" && cargo build --release -q "${packages[@]}"); fi
  else
    echo "== building sluice (release)"
    (cd "$ROOT" && cargo build --release -q -p sluice "${packages[@]}")
    SLUICE="$ROOT/target/release/sluice"
  fi
}

# ratio A B: A / B with two decimals, n/a when B is 0 or empty.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a ~ /^[0-9.]+$/) printf "%.2f", a / b; else print "n/a" }'; }

# CPU time (user + system) in clock ticks of one process, all its threads together.
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# CPU time in clock ticks of a whole PostgreSQL cluster: the postmaster, what it has
# reaped of its children (backends that have exited) and the children still running.
cluster_ticks() {
  local pm
  pm=$(head -1 "$1/postmaster.pid")
  { cat "/proc/$pm/stat"; for p in $(pgrep -P "$pm"); do cat "/proc/$p/stat" 2>/dev/null; done; } |
    awk '{ s += $14 + $15 + $16 + $17 } END { print s + 0 }'
}

# wait_for PID LOG NAME COMMAND...: runs COMMAND every 0.1 s (for up to 10 s) until it
# succeeds while PID lives; else shows the end of LOG and fails.
wait_for() {
  local pid=$1 log=$2 name=$3; shift 3
  for _ in $(seq 100); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2; tail -20 "$log" >&2; return 1
}
pg_ready() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$1"; }
pgbouncer_ready() { [ -s "$WORK/pgbouncer.pid" ] && pg_ready "$1"; }

# start_pgbouncer PORT PGPORT USER PASSWORD DATABASE POOL_SIZE: PgBouncer in transaction
# mode in front of DATABASE, run as the postgres user (as root); sets PGBOUNCER_PID to
# pgbouncer's own process (runuser does not pass signals on), waits until it is up.
start_pgbouncer() {
  local port=$1 pgport=$2 user=$3 password=$4 database=$5 pool_size=$6
  cat > "$WORK/pgbouncer.ini" <<CONF
[databases]
$database = host=127.0.0.1 port=$pgport dbname=$database user=$user password=$password
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
max_client_conn = 20000
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
CONF
  echo "\"$user\" \"$password\"" > "$WORK/userlist.txt"
  chmod 644 "$WORK/pgbouncer.ini" "$WORK/userlist.txt"
  # runuser starts it with PAM's default of 1,024 open files: raised to the hard limit,
  # as sluice's own, for the idle-client measurement's 10,000 clients.
  as_pg sh -c 'ulimit -n "$(ulimit -Hn)"; exec /usr/sbin/pgbouncer "$1"' pgbouncer "$WORK/pgbouncer.ini" >/dev/null 2>&1 &
  wait_for $! "$WORK/pgbouncer.log" PgBouncer pgbouncer_ready "$port"
  PGBOUNCER_PID=$(cat "$WORK/pgbouncer.pid")
}

stop_pgbouncer() {
  if [ -n "${PGBOUNCER_PID:-}" ]; then kill "$PGBOUNCER_PID" 2>/dev/null || true; fi
  PGBOUNCER_PID=
}

# sluice_pg_config FILE PORT ADMINPORT PGPORT USER PASSWORD DATABASE POOL_SIZE: writes a
# sluice config (and users.toml, hba.conf, db-password beside it in $WORK) for its
# PostgreSQL listener in transaction mode in front of DATABASE, clients on the loopback
# trusted, logging warnings only.
sluice_pg_config() {
  local file=$1 port=$2 admin=$3 pgport=$4 user=$5 password=$6 database=$7 pool_size=$8
  echo "$password" > "$WORK/db-password"
  printf '[users.%s]\npassword = "%s"\n' "$user" "$password" > "$WORK/users.toml"
  echo "host all all 127.0.0.1/32 trust" > "$WORK/hba.conf"
  cat > "$file" <<CONF
[log]
level = "warn"
[admin]
listen = "127.0.0.1:$admin"
[postgres]
listen = "127.0.0.1:$port"
# Room for the idle-client measurement (IDLE_CLIENTS, 10,000 in the performance target).
max_client_conn = 20000
users_file = "users.toml"
hba_file = "hba.conf"
[postgres.clusters.main]
hosts = ["127.0.0.1:$pgport"]
tls_mode = "disable"
[postgres.databases.$database]
cluster = "main"
pool_mode = "transaction"
pool_size = $pool_size
credentials = { username = "$user", password_file = "db-password" }
CONF
}

# start_sluice_pg PORT ADMINPORT PGPORT USER PASSWORD DATABASE POOL_SIZE: $SLUICE with
# the config above; sets SLUICE_PID and waits until it accepts connections.
start_sluice_pg() {
  sluice_pg_config "$WORK/sluice.toml" "$@"
  run_sluice pg_ready "$1"
}

# run_sluice COMMAND...: $SLUICE with $WORK/sluice.toml, its output in $WORK/sluice.log;
# sets SLUICE_PID and waits until COMMAND succeeds.
run_sluice() {
  "$SLUICE" --config "$WORK/sluice.toml" > "$WORK/sluice.log" 2>&1 &
  SLUICE_PID=$!
  wait_for "$SLUICE_PID" "$WORK/sluice.log" sluice "$@"
}

# Stops the sluice that start_sluice_pg or start_sluice_mysql started (safe to call when
# none did).
stop_sluice() {
  if [ -n "${SLUICE_PID:-}" ]; then kill "$SLUICE_PID" 2>/dev/null || true; wait "$SLUICE_PID" 2>/dev/null || true; fi
  SLUICE_PID=
}

# start_sluice_mysql PORT ADMINPORT DB_USER APP_USER APP_PASSWORD DATABASE POOL_SIZE WORKERS:
# sluice's MySQL read-write listener (transaction multiplexing) in front of the private
# MariaDB, logging in to it as DB_USER with the password in $WORK/db-password; clients
# log in as APP_USER. Logs at info level (refused logins show up); sets SLUICE_PID and
# waits until /readyz answers.
start_sluice_mysql() {
  local port=$1 admin=$2 db_user=$3 app_user=$4 app_password=$5 database=$6 pool_size=$7 workers=$8
  printf '[users.%s]\npassword = "%s"\n' "$app_user" "$app_password" > "$WORK/users.toml"
  cat > "$WORK/sluice.toml" <<CONF
[runtime]
workers = $workers
[admin]
listen = "127.0.0.1:$admin"
[mysql]
listen_rw = "127.0.0.1:$port"
listen_ro = ""
max_client_conn = 20000
users_file = "users.toml"
[mysql.clusters.local]
hosts = ["127.0.0.1:$MARIADB_PORT"]
tls_mode = "disable"
[mysql.databases.$database]
cluster = "local"
pool_size = $pool_size
pool_mode = "transaction"
credentials = { username = "$db_user", password_file = "db-password" }
CONF
  "$SLUICE" check --config "$WORK/sluice.toml" >/dev/null
  RUST_LOG=${RUST_LOG:-info} run_sluice curl -sf "http://127.0.0.1:$admin/readyz"
}

# mysql_bench_setup POOL_SIZE WORKERS TABLE_SIZE: a private MariaDB with the database
# sbtest, sluice's MySQL listener in front of it (start_sluice_mysql) and one sysbench
# table of TABLE_SIZE rows, loaded directly. Sets DB_USER, DB_PASSWORD, APP_USER,
# APP_PASSWORD, RW_PORT, ADMIN_PORT and sysbench's options: COMMON (the same tables and
# options for every run), DIRECT and VIA_SLUICE (where sysbench connects and as whom).
mysql_bench_setup() {
  local pool_size=$1 workers=$2 table_size=$3
  DB_USER=sbtest_db
  DB_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
  APP_USER=sbtest
  APP_PASSWORD=sbtest-pw
  echo "== starting MariaDB"
  start_mariadb sbtest "$DB_USER" "$DB_PASSWORD"
  echo "   $("$(mariadb_bin mariadbd)" --version | awk '{print $3}') on 127.0.0.1:$MARIADB_PORT"
  RW_PORT=$(free_port); ADMIN_PORT=$(free_port)
  echo "== starting sluice on 127.0.0.1:$RW_PORT (pool size $pool_size, transaction mode)"
  echo "$DB_PASSWORD" > "$WORK/db-password"
  chmod 600 "$WORK/db-password"
  start_sluice_mysql "$RW_PORT" "$ADMIN_PORT" "$DB_USER" "$APP_USER" "$APP_PASSWORD" sbtest "$pool_size" "$workers"
  COMMON=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-ssl=off --mysql-db=sbtest
    --tables=1 --table-size="$table_size" --db-ps-mode=auto)
  DIRECT=(--mysql-port="$MARIADB_PORT" --mysql-user="$DB_USER" --mysql-password="$DB_PASSWORD")
  VIA_SLUICE=(--mysql-port="$RW_PORT" --mysql-user="$APP_USER" --mysql-password="$APP_PASSWORD")
  echo "== sysbench oltp_point_select prepare: 1 table, $table_size rows (directly)"
  sysbench oltp_point_select "${COMMON[@]}" "${DIRECT[@]}" prepare > "$WORK/prepare.log" 2>&1 ||
    { tail -20 "$WORK/prepare.log" >&2; return 1; }
}

# start_doorman PORT PGPORT USER PASSWORD DATABASE POOL_SIZE: pg_doorman ($PG_DOORMAN,
# built from its own source) in transaction mode in front of DATABASE, in its own TOML
# format: clients trusted from the loopback (as for sluice and PgBouncer), the server
# login given explicitly, one worker per core. Sets DOORMAN_PID and waits until it is up.
start_doorman() {
  local port=$1 pgport=$2 user=$3 password=$4 database=$5 pool_size=$6 md5
  md5="md5$(printf '%s' "${password}${user}" | md5sum | cut -d' ' -f1)"
  cat > "$WORK/pg_doorman.toml" <<CONF
[general]
host = "127.0.0.1"
port = $port
admin_username = "admin"
admin_password = "$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')"
worker_threads = $(nproc)
max_connections = 20000
tls_mode = "disable"
server_tls_mode = "disable"
log_client_connections = false
log_client_disconnections = false
pg_hba = { content = "host all all 127.0.0.1/32 trust" }

[pools.$database]
server_host = "127.0.0.1"
server_port = $pgport
pool_mode = "transaction"

[pools.$database.users.0]
username = "$user"
password = "$md5"
pool_size = $pool_size
server_username = "$user"
server_password = "$password"
CONF
  "$PG_DOORMAN" -l warn -n "$WORK/pg_doorman.toml" > "$WORK/pg_doorman.log" 2>&1 &
  DOORMAN_PID=$!
  wait_for "$DOORMAN_PID" "$WORK/pg_doorman.log" pg_doorman pg_ready "$port"
}

# Stops the pg_doorman start_doorman started (safe to call when none did).
stop_doorman() {
  if [ -n "${DOORMAN_PID:-}" ]; then kill "$DOORMAN_PID" 2>/dev/null || true; wait "$DOORMAN_PID" 2>/dev/null || true; fi
  DOORMAN_PID=
}

# idle_bytes PID PORT N: logs N clients in to PORT (hold-connections, $HOLD) and keeps
# them idle; prints the growth of PID's resident memory per client in bytes ("n/a" when
# the clients could not all log in).
idle_bytes() {
  local pid=$1 port=$2 n=$3 before after ready count
  before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  coproc HOLDER { "$HOLD" "$n" "host=127.0.0.1 port=$port user=bench dbname=bench password=$PASSWORD"; }
  read -r ready count <&"${HOLDER[0]}" || true
  sleep 2
  after=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  # Closing its stdin lets the holder go (it is gone already when a login failed).
  if [ -n "${HOLDER[1]:-}" ]; then exec {HOLDER[1]}>&-; fi
  wait "$HOLDER_PID" 2>/dev/null || true
  if [ "${ready:-}" = ready ] && [ "${count:-}" = "$n" ]; then
    echo $(( (after - before) * 1024 / n ))
  else
    echo "n/a"
  fi
}
