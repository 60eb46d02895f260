#!/bin/sh
# Initialise the data directory on first start (a fresh volume), then run the server in the
# foreground. POSTGRES_PASSWORD has no default: the compose file takes it from .env.
set -eu
: "${POSTGRES_USER:=mlflow}" "${POSTGRES_DB:=mlflow}" "${POSTGRES_PORT:=5432}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (see .env.example)}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-host=scram-sha-256 \
         --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" -w start >/dev/null
  createdb -h /run/postgresql -U "$POSTGRES_USER" "$POSTGRES_DB" 2>/dev/null || true
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses="${POSTGRES_LISTEN:-*}" -p "$POSTGRES_PORT" \
     -c unix_socket_directories=/run/postgresql
