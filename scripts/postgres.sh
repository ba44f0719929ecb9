# Sourced by .ci/run (and usable by hand): makes sure a PostgreSQL server is
# reachable and exports HALO_KEYS_TEST_DATABASE_URL for the tests.
ensure_postgres() {
  if [ -n "${HALO_KEYS_TEST_DATABASE_URL:-}" ]; then return 0; fi
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export HALO_KEYS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    return 0
  fi
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>/dev/null || true
    if pg_isready -q -h 127.0.0.1 -p 5432; then
      export HALO_KEYS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
      return 0
    fi
  fi
  # A throwaway cluster, owned by an unprivileged user when running as root.
  local bindir dir port=54329 owner
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bindir" ]; then echo "postgres.sh: no PostgreSQL installed" >&2; return 1; fi
  dir=$(mktemp -d /tmp/halo-keys-pg.XXXXXX)
  owner=$(id -un)
  if [ "$(id -u)" = 0 ]; then owner=postgres; chown "$owner" "$dir"; fi
  run_as() { if [ "$(id -u)" = 0 ]; then su "$owner" -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  run_as "$bindir/initdb -D $dir/data -U postgres --auth=trust >/dev/null"
  run_as "$bindir/pg_ctl -D $dir/data -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -l $dir/log -w start >/dev/null"
  export HALO_KEYS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}
