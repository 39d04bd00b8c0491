#!/usr/bin/env bash
# Replays each fuzz target's seeds and fuzzes it for SECONDS (ASan+UBSan, leaks on).
#   tests/fuzz/run.sh BUILD_DIR SECONDS
# Seeds: the shared vectors of the kind (../shared/vectors, read in place), the kind's own test
# cases, and tests/fuzz/corpus/<target>. New inputs go to a temp dir; a crash leaves its input in
# BUILD_DIR/fuzz-artifacts/ and fails the run.
set -uo pipefail
build=$1
secs=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
vectors=${CITYGATE_SHARED_DIR:-$root/../shared}/vectors
declare -A seeds=(
  [senml]="$vectors/senml adapters/senml/tests/cases"
  [influx_line]="$vectors/influx_line_protocol adapters/influx_line/tests/cases"
  [lorawan_ttn]="$vectors/lorawan_ttn_v3 adapters/lorawan_ttn/tests/cases"
  [lorawan_chirpstack]="$vectors/lorawan_chirpstack_v4 $vectors/generic_json adapters/lorawan_chirpstack/tests/cases"
  [mqtt_json]="$vectors/generic_json"
  [http_push]="$vectors/sensor_community $vectors/generic_json adapters/http_push/tests/cases"
  [sparkplug_b]="$vectors/sparkplug_b adapters/sparkplug_b/tests/cases"
  [modbus_tcp]="$vectors/modbus_eastron_sdm adapters/modbus/tests/cases"
  [modbus_rtu]="$vectors/modbus_eastron_sdm adapters/modbus/tests/cases"
  [http_ingest]="$vectors/sensor_community tests/fuzz/corpus/http_ingest"
)
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
failed=()
shopt -s nullglob
targets=("$build"/tests/fuzz/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets under $build/tests/fuzz" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  [ -x "$t" ] || continue
  name=${t##*/fuzz_}
  dirs=()
  for d in ${seeds[$name]:-}; do
    [[ $d = /* ]] || d=$root/$d
    [ -d "$d" ] && dirs+=("$d")
  done
  [ -d "$root/tests/fuzz/corpus/$name" ] && dirs+=("$root/tests/fuzz/corpus/$name")
  work=$(mktemp -d)
  log=$build/fuzz-$name.log
  start=$(date +%s)
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  [ -n "$runs" ] || runs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
  if [ $rc -ne 0 ]; then
    echo "FUZZ FAIL $name (exit $rc) — log $log"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20
    failed+=("$name")
  else
    echo "fuzz ok   $name: ${runs:-?} inputs in $(( $(date +%s) - start )) s, seeds from ${#dirs[@]} dir(s)"
  fi
  rm -rf "$work"
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz targets failed: ${failed[*]}"
  exit 1
fi
