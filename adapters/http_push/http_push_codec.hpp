#pragma once
// http_push codec: pure (one HTTP POST body + its headers -> Readings), no I/O, fuzzable.
//
// Three body formats, chosen by Options::format:
//   senml             RFC 8428 SenML pack, JSON or CBOR: delegated to the senml codec (device
//                     from bn; see adapters/senml/senml_codec.hpp).
//   sensor_community  airRohr / sensor.community node push:
//                     {"esp8266id"?, "software_version"?, "timestamp"?, "sampling_rate"?,
//                      "sensordatavalues":[{"value_type":..., "value":...}, ...]}
//   json              any other JSON object (or an array of objects, each one decoded): every
//                     number, boolean and string member becomes a reading named by its path
//                     (adapters/common/json_flatten.hpp).
//   auto (default)    senml when Content-Type is application/senml+json or application/senml+cbor;
//                     otherwise JSON, where each object with a `sensordatavalues` member is a
//                     sensor_community body and every other object is generic json.
//
// sensor_community:
//   device   the X-Sensor header (else Sensor, else Node: the headers the sensor.community API
//            server accepts), verbatim ("esp8266-3394227"); else "esp8266-" + the body's
//            esp8266id, so one node has one device key whether or not the header came along.
//            Neither: error no_device.
//   metric   value_type as sent ("SDS_P1", "BME280_temperature", "P1"). With an X-PIN (or Pin)
//            header other than "0" (the sensor.community API shape: one request per sensor, no
//            sensor prefix in value_type) the metric is "pin<n>_" + value_type, so a DHT22
//            "temperature" (pin 7) and a BME280 "temperature" (pin 11) stay two streams.
//   unit     from the value_type (sensor prefix before the first '_' ignored): P0/P1/P2/P4 ug/m3,
//            N05..N10 /cm3, TS um, temperature Cel, humidity %RH, pressure Pa, noise_LA* dB,
//            co2_ppm ppm, lat/lon deg, height m, signal dBm, min_micro/max_micro us, interval ms;
//            a unit written in the value itself ("-59 dBm") wins.
//   value    strings are parsed with parse_quantity (integers stay i64); JSON numbers as they are.
//            A value_type with a known unit (above) must be numeric (else error `value`); other
//            value_types keep non-numeric text as a string reading.
//   tags     software_version=<software_version> on every reading; role=diagnostic on the firmware
//            statistics samples, min_micro, max_micro, interval, signal and sampling_rate (the
//            latter a top-level member, ms), which are not environmental measurements.
//   time     `timestamp` ("2015-04-05 22:10:10+02:00"; RFC 3339 with ' ' or 'T', or an epoch
//            number) else the receive time.
//
// json:
//   device   the member named Options::device_field (string or integer; not itself a reading),
//            else the X-Device-Id header; neither: error no_device.
//   time     the member named Options::time_field (RFC 3339 or epoch s/ms/us/ns; not a reading),
//            else the receive time.
//   values   strings that parse_quantity accepts become numbers (Options::numeric_strings).
//
// Time fallback (both JSON formats): without a time member, observed = received = in.now and
// quality kTimeFromGateway. A time member that cannot be read (the Milesight gateway's
// "2020-0327T12:39:05.547336Z") is not repaired: observed = in.now, kTimeFromGateway, and the
// raw text (at most 64 bytes) is kept in tag bad_time on each reading of that object; the
// readings are kept and no error is reported (a 400 would only make the sender retry a body that
// can never get better). Stats::time_fallbacks counts such objects.
//
// Errors (Disposition::reject, code "http_push.<code>"): too_large, empty, json, not_object,
// no_device, bad_device (not 1..128 bytes of printable text), pin, sensordatavalues (missing or
// not an array), record (an entry that is not {value_type: string, value: ...}), value, no_values,
// depth, too_many_values, and the senml codec's codes (too_large, format, json, cbor, depth, ...)
// for SenML bodies. Errors of one object (or one sensordatavalues entry) do not drop the valid
// readings of the others; too_large, json, depth and too_many_values drop the whole body. At most
// 20 errors are listed; the rest are counted in one last error `more_errors`.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "adapter_api/adapter.hpp"
#include "core/reading.hpp"

namespace cg::http_push {

enum class Format { auto_detect, sensor_community, json, senml };

// "auto", "sensor_community", "json", "senml".
std::optional<Format> parse_format(std::string_view s);
std::string_view format_name(Format f);

struct Options {
  Format format = Format::auto_detect;
  std::string device_field = "device";  // json: member naming the device ("" = header only)
  std::string time_field = "ts";        // json: member holding the time ("" = none)
  bool numeric_strings = true;          // json: "12.5", "-59 dBm" become numbers
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_readings = 10000;     // per request, all objects together
  int max_depth = 16;                   // JSON nesting (simdjson stops a deeper body at parse)
};

struct Stats {
  std::size_t time_fallbacks = 0;  // objects whose time member could not be read
};

DecodeOutput decode(const DecodeInput& in, const Options& opts, Stats* stats = nullptr);

// A number written as text, with an optional unit after it.
struct Quantity {
  Value value;       // i64 for integers (u64 above INT64_MAX), else f64
  std::string unit;  // "" when none; a few spellings mapped to UCUM-ish ASCII (°C -> Cel, µg/m³ -> ug/m3)
};

// Grammar, after trimming ASCII whitespace: ['-'|'+'] ('0' | [1-9][0-9]*) ['.' [0-9]+]
// [('e'|'E') ['-'|'+'] [0-9]+] then optionally a unit: after whitespace, any 1..32 bytes without
// whitespace or control characters starting with a letter, '%', '[', '{' or a non-ASCII byte;
// written directly after the number, only a unit starting with '%' or a non-ASCII byte ("50%",
// "20.5°C") - so hex ids like "24e124fffef021be" and "0004a30b" stay text. "-59 dBm" ->
// {-59, "dBm"}, "1.5e3 Pa" -> {1500.0, "Pa"}, " 7 " -> {7, ""}; "abc", "007", ".5", "4/5", "12V",
// "inf", "1e999" -> nullopt.
std::optional<Quantity> parse_quantity(std::string_view text);

}  // namespace cg::http_push
