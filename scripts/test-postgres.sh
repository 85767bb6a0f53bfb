#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the store tests and exports its URL as
# BRAINLOCK_TEST_POSTGRES. Meant to be sourced (`.ci/run` does):
#
#     source scripts/test-postgres.sh    # starts it; stopped when the shell exits
#
# The cluster lives in a temporary folder on a free loopback port, with trust
# authentication for its own superuser only on 127.0.0.1, and is deleted on exit.
# PostgreSQL comes from Debian's packages, installed here if absent.

pg_bin_dir() {
    local dir
    for dir in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && { echo "$dir"; return 0; }
    done
    return 1
}

if ! PG_BIN=$(pg_bin_dir); then
    echo "test-postgres: PostgreSQL not found; installing it from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    PG_BIN=$(pg_bin_dir) || { echo "test-postgres: no initdb after installing" >&2; return 1; }
fi

PG_DIR=$(mktemp -d -t brainlock-pg.XXXXXX)
# initdb refuses to run as root: run the server as the packaged `postgres` user then.
PG_AS=()
if [[ $(id -u) -eq 0 ]]; then
    PG_AS=(runuser -u postgres --)
    chown postgres "$PG_DIR"
fi
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

"${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U brainlock --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
    || { cat "$PG_DIR/server.log" >&2; return 1; }

stop_test_postgres() {
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1
    rm -rf "$PG_DIR"
}
trap stop_test_postgres EXIT

export BRAINLOCK_TEST_POSTGRES="postgres://brainlock@127.0.0.1:$PG_PORT/postgres"
echo "test-postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT" >&2
