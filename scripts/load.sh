#!/usr/bin/env bash
# `make load`: Locust (bench/locustfile.py) headless against a local server started here, or against
# LOAD_HOST when set. LOAD_USERS (200), LOAD_TIME (60s), LOAD_SPAWN_RATE (20/s), LOAD_WORKERS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
users=${LOAD_USERS:-200}
duration=${LOAD_TIME:-60s}
spawn=${LOAD_SPAWN_RATE:-20}
export OTP_TEST_PREFIX=${OTP_TEST_PREFIX:-+9199} OTP_TEST_CODE=${OTP_TEST_CODE:-246810}
if [ -z "${LOAD_HOST:-}" ]; then
  source scripts/services.sh load
  port=${LOAD_PORT:-8077}
  mkdir -p var
  PORT=$port REDIS_PREFIX=load: WORKERS=${LOAD_WORKERS:-1} LOG_LEVEL=WARNING \
    .venv/bin/python run.py serve >var/load-server.log 2>&1 &
  server=$!
  trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { cat var/load-server.log >&2; exit 1; }
    sleep 0.2
  done
  LOAD_HOST=http://127.0.0.1:$port
fi
echo "locust: $users users for $duration against $LOAD_HOST"
.venv-load/bin/locust -f bench/locustfile.py --headless --users "$users" --spawn-rate "$spawn" \
  --run-time "$duration" --host "$LOAD_HOST" --only-summary --stop-timeout 10
