# Shell helpers shared by the demo, the benchmark and the acceptance run: a private
# PostgreSQL 15 in a temporary directory on a free loopback port. Source this file.

PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$PGBIN/initdb" ] || PGBIN=/usr/lib/postgresql/15/bin

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# PostgreSQL refuses to run as root: run its programs as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Creates the run's directory (readable by the postgres user) and sets WORK.
make_workdir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$WORK"
  if [ "$(id -u)" = 0 ]; then chown postgres "$WORK"; fi
}

# start_postgres SUPERUSER PASSWORD DATABASE [postgresql.conf lines]: initdb with
# SCRAM over TCP, start on a free port (sets PGPORT), create DATABASE.
start_postgres() {
  local user=$1 password=$2 database=$3 extra=${4:-}
  [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 is missing: run scripts/install-deps.sh" >&2; return 1; }
  PGPORT=$(free_port)
  echo "$password" > "$WORK/pwfile"; chmod 644 "$WORK/pwfile"
  as_pg "$PGBIN/initdb" -D "$WORK/pg" -U "$user" --pwfile="$WORK/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$WORK/pwfile"
  printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\n%s\n" \
    "$PGPORT" "$WORK" "$extra" >> "$WORK/pg/postgresql.conf"
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
  as_pg "$PGBIN/createdb" -h "$WORK" -p "$PGPORT" -U "$user" "$database"
}

stop_postgres() {
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
}
