#!/usr/bin/env bash
# `make demo`: a local mosquitto, the reference lake receiver, the gateway on
# firmware-config/demo.toml and one `citygate simulate` per transport (MQTT JSON, TTN, Sparkplug B,
# SenML and airRohr over HTTP, line protocol over UDP, a Modbus TCP meter). Everything listens on
# loopback only. Ctrl-C stops it all cleanly.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
BIN="$BUILD/citygate"
LAKE_PORT=8099
API=127.0.0.1:8080
mkdir -p "$BUILD/demo/lake"

"$BIN" check-config --config firmware-config/demo.toml

BROKER_PORT=18830
INGEST=http://127.0.0.1:8081
for port in $LAKE_PORT 8080 8081 8089 8090 $BROKER_PORT 5020; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "error: something already listens on 127.0.0.1:$port (a previous demo?); stop it first" >&2
    exit 1
  fi
done

# the test-broker settings of the integration tests: loopback, anonymous, in memory
cat > "$BUILD/demo/mosquitto.conf" <<CONF
listener $BROKER_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
CONF
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$MOSQUITTO" -c "$BUILD/demo/mosquitto.conf" > "$BUILD/demo/mosquitto.log" 2>&1 &
BROKER=$!
"$BIN" lake --listen 127.0.0.1:$LAKE_PORT --dir "$BUILD/demo/lake" > "$BUILD/demo/lake.log" 2>&1 &
LAKE=$!
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$BROKER_PORT) 2>/dev/null && break; sleep 0.1; done
"$BIN" run --config firmware-config/demo.toml > "$BUILD/demo/gateway.log" 2>&1 &
GW=$!
SIMS=()

stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping gateway and lake..."
  for p in "${SIMS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${SIMS[@]}"; do wait "$p" 2>/dev/null || true; done
  kill -TERM "$GW" 2>/dev/null || true
  wait "$GW" 2>/dev/null || true
  kill -TERM "$LAKE" "$BROKER" 2>/dev/null || true
  wait "$LAKE" "$BROKER" 2>/dev/null || true
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

# the simulated fleet, one process per transport
sim() {
  local name=$1; shift
  "$BIN" simulate "$@" > "$BUILD/demo/sim-$name.log" 2>&1 &
  SIMS+=($!)
}
sim modbus   --kind modbus_tcp --target 127.0.0.1:5020
sim mqtt     --kind mqtt_json --target tcp://127.0.0.1:$BROKER_PORT --devices 8
sim ttn      --kind lorawan_ttn --target tcp://127.0.0.1:$BROKER_PORT --devices 5 --rate 1
sim spb      --kind sparkplug_b --target tcp://127.0.0.1:$BROKER_PORT --devices 3
sim senml    --kind senml --target $INGEST/ingest/senml --devices 4
sim airrohr  --kind http_push --target $INGEST/ingest/sensor-community --devices 3 --rate 1
sim telegraf --kind influx_line --target udp://127.0.0.1:8089 --devices 4

cat <<MSG

citygate demo is running: simulated city devices → mosquitto / HTTP / UDP / Modbus → citygate
(SQLite) → lake receiver.

  Health:            http://$API/healthz
  Devices + latest:  http://$API/api/v1/devices
  One device:        http://$API/api/v1/devices/sim-aq-001/latest
  Lake files:        $BUILD/demo/lake/dt=*/gateway=demo-gw/*.ndjson
  Gateway store:     $BUILD/demo/citygate.db   (sqlite3, read-only while running is fine)
  Logs:              $BUILD/demo/gateway.log  $BUILD/demo/lake.log  $BUILD/demo/sim-*.log
  Outbox, sinks:     $BIN status --config firmware-config/demo.toml   (dead batches: $BIN dead-batches list ...)
  Ingest (devices):  $INGEST (HTTP push and webhooks), udp://127.0.0.1:8089, mqtt://127.0.0.1:$BROKER_PORT

Try:  curl -s http://$API/api/v1/devices | python3 -m json.tool | head -40
Press Ctrl-C to stop.
MSG

wait "$GW"
