#!/usr/bin/env bash
# A private PostgreSQL cluster on loopback for the tests (never a system service).
#   postgres.sh install      install PostgreSQL 15 from apt if no server binaries are present
#   postgres.sh start        initdb + start on 127.0.0.1 (random port, password auth); prints
#                            PGDIR=... and DRPO_TEST_PG_URL=postgresql://drpo:PASS@127.0.0.1:PORT/drpo
#   postgres.sh stop PGDIR   stop that cluster and delete it
# Works as root (the server runs as the `postgres` user) or as any other user.
set -euo pipefail

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

as_owner() {  # run a server command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  install)
    if [ -z "$(bindir || true)" ]; then
      . "$(dirname "$0")/apt.sh"
      apt_install postgresql-15
    fi
    bindir >/dev/null || { echo "postgres.sh: no PostgreSQL server binaries" >&2; exit 1; }
    ;;
  start)
    BIN=$(bindir) || { echo "postgres.sh: run 'postgres.sh install' first" >&2; exit 1; }
    PGDIR=$(mktemp -d /tmp/drpo-pg.XXXXXX)
    chmod 755 "$PGDIR"
    PASS=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    echo "$PASS" >"$PGDIR/pwfile"
    mkdir -p "$PGDIR/data" "$PGDIR/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres "$PGDIR"
    as_owner "$BIN/initdb" -D "$PGDIR/data" -U drpo --pwfile="$PGDIR/pwfile" \
      --auth=scram-sha-256 -E UTF8 >"$PGDIR/initdb.log" 2>&1
    rm -f "$PGDIR/pwfile"
    as_owner "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGDIR/sock -c max_connections=100 -c fsync=off" \
      >/dev/null
    PGPASSWORD="$PASS" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U drpo drpo
    echo "PGDIR=$PGDIR"
    echo "DRPO_TEST_PG_URL=postgresql://drpo:$PASS@127.0.0.1:$PORT/drpo"
    ;;
  stop)
    PGDIR=${2:?usage: postgres.sh stop PGDIR}
    BIN=$(bindir)
    [ -d "$PGDIR/data" ] && as_owner "$BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null || true
    rm -rf "$PGDIR"
    ;;
  *)
    echo "usage: postgres.sh install | start | stop PGDIR" >&2
    exit 2
    ;;
esac
