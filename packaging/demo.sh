#!/usr/bin/env bash
# `make demo`: the reference lake receiver plus the gateway on firmware-config/demo.toml
# (simulated city devices; no broker or network needed). Ctrl-C stops both cleanly.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
BIN="$BUILD/citygate"
LAKE_PORT=8099
API=127.0.0.1:8080
mkdir -p "$BUILD/demo/lake"

"$BIN" check-config --config firmware-config/demo.toml

for port in $LAKE_PORT 8080; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "error: something already listens on 127.0.0.1:$port (a previous demo?); stop it first" >&2
    exit 1
  fi
done

"$BIN" lake --listen 127.0.0.1:$LAKE_PORT --dir "$BUILD/demo/lake" > "$BUILD/demo/lake.log" 2>&1 &
LAKE=$!
"$BIN" run --config firmware-config/demo.toml > "$BUILD/demo/gateway.log" 2>&1 &
GW=$!

stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping gateway and lake..."
  kill -TERM "$GW" 2>/dev/null || true
  wait "$GW" 2>/dev/null || true
  kill -TERM "$LAKE" 2>/dev/null || true
  wait "$LAKE" 2>/dev/null || true
  echo "stopped. Data stays in $BUILD/demo/ (citygate.db, lake/)."
  exit 0
}
trap stop INT TERM EXIT

# wait (bounded) for the gateway to answer
for _ in $(seq 1 100); do
  if curl -fsS "http://$API/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$GW" 2>/dev/null; then echo "gateway exited:"; cat "$BUILD/demo/gateway.log"; exit 1; fi
  sleep 0.1
done

cat <<MSG

citygate demo is running (simulated city devices → SQLite → lake receiver).

  Health:            http://$API/healthz
  Devices + latest:  http://$API/api/v1/devices
  One device:        http://$API/api/v1/devices/sim-aq-001/latest
  Lake files:        $BUILD/demo/lake/dt=*/gateway=demo-gw/*.ndjson
  Gateway store:     $BUILD/demo/citygate.db   (sqlite3, read-only while running is fine)
  Logs:              $BUILD/demo/gateway.log  $BUILD/demo/lake.log

Try:  curl -s http://$API/api/v1/devices | python3 -m json.tool | head -40
Press Ctrl-C to stop.
MSG

wait "$GW"
