# Shell helpers shared by the demo and the MySQL benchmark: a private MariaDB 10.11 in a
# temporary directory on a free loopback port. The machine's own MariaDB (3306, if any)
# is never used. Source this file, then:
#
#   start_mariadb DATABASE USER PASSWORD [mariadbd options...]
#       sets MARIADB_PORT, MARIADB_SOCKET, MARIADB_DIR and MARIADB_PID
#   mariadb_root SQL        runs SQL as the server's root over its own socket
#   stop_mariadb            stops the server and removes its directory
#
# The callers' EXIT trap should call stop_mariadb (safe to call when nothing started).

MARIADB_PORT=
MARIADB_SOCKET=
MARIADB_DIR=
MARIADB_PID=

mariadb_bin() {
  local dir
  for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
    [ -x "$dir/$1" ] && { echo "$dir/$1"; return 0; }
  done
  command -v "$1" 2>/dev/null || return 1
}

declare -F free_port >/dev/null ||
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# MYSQL_PWD, MYSQL_HOST, MYSQL_TCP_PORT and friends could point the client at another
# server; every MariaDB program runs without them.
mariadb_clean_env() {
  MARIADB_ENV=(env LC_ALL=C)
  local var
  for var in $(compgen -e); do
    case $var in MYSQL*|MARIADB*) MARIADB_ENV+=(-u "$var");; esac
  done
}

# mariadbd refuses to run as root: as root it runs with --user=mysql, so everything it
# writes lives in a directory owned by mysql.
mariadb_own() { if [ "$(id -u)" = 0 ]; then chown mysql:mysql "$@"; fi; }

mariadb_root() {
  mariadb_clean_env
  "${MARIADB_ENV[@]}" "$(mariadb_bin mariadb)" --no-defaults --protocol=SOCKET \
    --socket="$MARIADB_SOCKET" --user=root --batch --skip-column-names --execute "$1"
}

# Options given to both mariadb-install-db (for its bootstrap server) and mariadbd.
mariadb_storage_args() {
  MARIADB_ARGS=(--datadir="$MARIADB_DIR/data" --tmpdir="$MARIADB_DIR/tmp"
    --innodb-buffer-pool-size=256M --innodb-log-file-size=64M
    --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0)
  if [ "$(id -u)" = 0 ]; then MARIADB_ARGS+=(--user=mysql); fi
}

start_mariadb() {
  local database=$1 user=$2 password=$3; shift 3
  local mariadbd install_db attempt
  mariadbd=$(mariadb_bin mariadbd) && install_db=$(mariadb_bin mariadb-install-db) &&
    mariadb_bin mariadb >/dev/null ||
    { echo "MariaDB is missing: run scripts/install-deps.sh (apt-get install mariadb-server mariadb-client)" >&2; return 1; }
  if [ "$(id -u)" = 0 ] && ! id mysql >/dev/null 2>&1; then
    echo "the mysql OS user is missing (it comes with mariadb-server)" >&2; return 1
  fi

  MARIADB_DIR=$(mktemp -d /tmp/sluice-mariadb.XXXXXX)
  chmod 755 "$MARIADB_DIR"
  mkdir "$MARIADB_DIR/tmp"
  : > "$MARIADB_DIR/mariadbd.log"
  mariadb_own "$MARIADB_DIR" "$MARIADB_DIR/tmp" "$MARIADB_DIR/mariadbd.log"
  MARIADB_SOCKET=$MARIADB_DIR/mariadbd.sock
  mariadb_storage_args
  mariadb_clean_env

  # The bootstrap server has been seen to crash (signal 11) once in a while: one retry
  # on a fresh data directory.
  for attempt in 1 2; do
    if "${MARIADB_ENV[@]}" "$install_db" --no-defaults "${MARIADB_ARGS[@]}" \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
        > "$MARIADB_DIR/install-db.log" 2>&1; then
      break
    fi
    if [ "$attempt" = 2 ] || ! grep -q "got signal" "$MARIADB_DIR/install-db.log"; then
      echo "mariadb-install-db failed:" >&2; tail -20 "$MARIADB_DIR/install-db.log" >&2; return 1
    fi
    rm -rf "$MARIADB_DIR/data"
  done

  # free_port can race with other processes: try again on another port when the chosen
  # one was taken before mariadbd bound it.
  for attempt in 1 2 3 4 5; do
    MARIADB_PORT=$(free_port)
    local log_lines
    log_lines=$(wc -l < "$MARIADB_DIR/mariadbd.log")
    # Started directly (not through a function) so that $! is mariadbd itself.
    "${MARIADB_ENV[@]}" "$mariadbd" --no-defaults "${MARIADB_ARGS[@]}" \
      --port="$MARIADB_PORT" --bind-address=127.0.0.1 --socket="$MARIADB_SOCKET" \
      --pid-file="$MARIADB_DIR/mariadbd.pid" --log-error="$MARIADB_DIR/mariadbd.log" \
      --skip-name-resolve --max-connections=1000 \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci "$@" \
      < /dev/null >> "$MARIADB_DIR/mariadbd.log" 2>&1 &
    MARIADB_PID=$!
    local ready=
    for _ in $(seq 300); do
      kill -0 "$MARIADB_PID" 2>/dev/null || break
      if [ -S "$MARIADB_SOCKET" ] && mariadb_root "SELECT 1" >/dev/null 2>&1; then ready=1; break; fi
      sleep 0.1
    done
    [ -n "$ready" ] && break
    kill -9 "$MARIADB_PID" 2>/dev/null || true
    wait "$MARIADB_PID" 2>/dev/null || true
    MARIADB_PID=
    if [ "$attempt" = 5 ] || ! tail -n +"$((log_lines + 1))" "$MARIADB_DIR/mariadbd.log" | grep -q "Address already in use"; then
      echo "MariaDB did not start; its log:" >&2; tail -30 "$MARIADB_DIR/mariadbd.log" >&2; return 1
    fi
  done

  # No anonymous accounts (they would shadow user@'%' logins from localhost) and root
  # only over the socket; then the database and one account for it, with
  # mysql_native_password so that every client library can log in directly.
  local q_pw=${password//\'/\'\'}
  mariadb_root "
    DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
    FLUSH PRIVILEGES;
    CREATE DATABASE \`$database\`;
    CREATE USER '$user'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$q_pw');
    GRANT ALL ON \`$database\`.* TO '$user'@'%';"
}

stop_mariadb() {
  if [ -n "$MARIADB_PID" ] && kill -0 "$MARIADB_PID" 2>/dev/null; then
    kill "$MARIADB_PID" 2>/dev/null || true
    # A clean shutdown takes about a second; the data is thrown away anyway.
    for _ in $(seq 100); do kill -0 "$MARIADB_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$MARIADB_PID" 2>/dev/null || true
    wait "$MARIADB_PID" 2>/dev/null || true
  fi
  MARIADB_PID=
  if [ -n "$MARIADB_DIR" ]; then rm -rf "$MARIADB_DIR"; fi
  MARIADB_DIR=
}
