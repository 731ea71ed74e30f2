# Sourced by the Makefile: make PostgreSQL and Redis available and export where they are.
#   source scripts/services.sh run   → DATABASE_URL / REDIS_URL for `make run`
#   source scripts/services.sh test  → TEST_DATABASE_ADMIN_URL / TEST_REDIS_URL for `make test`
mode=${1:-run}
_pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
_redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && read -t 2 -r line <&3 && [[ $line == +PONG* ]]) 2>/dev/null; }
if ! _pg_up && [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1 || true
  for _ in $(seq 20); do _pg_up && break; sleep 0.5; done
fi
if ! _redis_up && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
  for _ in $(seq 20); do _redis_up && break; sleep 0.25; done
fi
if [ "$mode" = test ]; then
  _pg_up || { echo "PostgreSQL is not running on 127.0.0.1:5432 and could not be started" >&2; return 1; }
  _redis_up || { echo "Redis is not running on 127.0.0.1:6379 and could not be started" >&2; return 1; }
  export TEST_DATABASE_ADMIN_URL=${TEST_DATABASE_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
  export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
else
  if [ -z "${DATABASE_URL:-}" ]; then
    _pg_up || { echo "PostgreSQL is not available: install postgresql (apt-get install postgresql)" >&2; return 1; }
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='allign'" | grep -q 1 \
      || createdb -h 127.0.0.1 -U postgres allign
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/allign
  fi
  if [ -z "${REDIS_URL:-}" ]; then
    _redis_up || { echo "Redis is not available: install redis-server (apt-get install redis-server)" >&2; return 1; }
    export REDIS_URL=redis://127.0.0.1:6379/0
  fi
fi
