#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster on 127.0.0.1 and CANGTOU_TEST_POSTGRES_URL set.
# Without PostgreSQL binaries (and no root to install them) the command runs without it, and the
# PostgreSQL tests skip; CI runs as root, so it installs PostgreSQL and those tests always run.
set -euo pipefail

find_bindir() {
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; fi
}

BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "with_postgres: installing PostgreSQL" >&2
  (apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; })
  BINDIR="$(find_bindir || true)"
fi
if [ -z "$BINDIR" ]; then
  echo "with_postgres: no PostgreSQL found; PostgreSQL tests will skip" >&2
  exec "$@"
fi

DATA="$(mktemp -d /tmp/cangtou-pg.XXXXXX)"
AS=()
if [ "$(id -u)" = 0 ]; then  # initdb and pg_ctl refuse to run as root
  chown postgres "$DATA"
  AS=(runuser -u postgres --)
fi
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() {
  "${AS[@]}" "$BINDIR/pg_ctl" -D "$DATA/db" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT
"${AS[@]}" "$BINDIR/initdb" -D "$DATA/db" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
"${AS[@]}" "$BINDIR/pg_ctl" -D "$DATA/db" -w -l "$DATA/log" \
  -o "-h 127.0.0.1 -p $PORT -k $DATA -c fsync=off -c full_page_writes=off -c max_connections=200" start >/dev/null
export CANGTOU_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
echo "with_postgres: PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
"$@"
