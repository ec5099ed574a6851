#!/usr/bin/env bash
# The scale-out lane: the database tests again, against a throwaway PostgreSQL cluster.
# Installs Debian's postgresql when missing, starts a cluster on a free port in a
# temporary folder, runs the suite's database tests there, and removes the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi
BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CLUSTER=$(mktemp -d /tmp/tangthu-pg.XXXXXX)
# PostgreSQL will not run as root: the cluster belongs to an unprivileged user.
AS=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$CLUSTER" 2>/dev/null || chown nobody "$CLUSTER"
    AS=(runuser -u "$(stat -c %U "$CLUSTER")" --)
fi
stop() {
    "${AS[@]}" "$BIN/pg_ctl" -D "$CLUSTER/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$CLUSTER"
}
trap stop EXIT
"${AS[@]}" "$BIN/initdb" -D "$CLUSTER/data" -U tangthu --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${AS[@]}" "$BIN/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/log" -w \
    -o "-p $PORT -k $CLUSTER -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
echo "PostgreSQL lane: $("$BIN/postgres" --version) on 127.0.0.1:$PORT"
TANGTHU_TEST_POSTGRES="postgresql+psycopg://tangthu@127.0.0.1:$PORT/postgres" \
    .venv/bin/pytest -m "not browser" -p no:cacheprovider -q "$@" \
    tests/test_migrations.py tests/test_web.py tests/test_admin_items.py tests/test_admin_collections.py \
    tests/test_auth_repository.py tests/test_access_enforcement.py tests/test_ingest_atomic.py \
    tests/test_ingest_cli.py tests/test_search.py tests/test_ocr.py tests/test_oai.py \
    tests/test_discovery.py tests/test_opendata.py tests/test_union.py tests/test_harvest.py \
    tests/test_backup.py tests/test_presentation_http.py tests/test_observability.py \
    tests/test_oidc.py tests/test_translations.py tests/test_browse.py tests/test_collection_pages.py \
    tests/test_site_pages.py tests/test_admin_people.py tests/test_admin_import.py \
    tests/test_admin_harvest.py tests/test_disabled_accounts.py tests/test_usage_counter.py \
    tests/test_access_requests.py
