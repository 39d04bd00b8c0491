#pragma once
// mqtt_json codec: pure (bytes -> Readings), no I/O, fuzzable.
//
// A payload is one JSON object. Every number, boolean and string member becomes a reading whose
// metric is the member's path (nested objects and arrays flattened with '.', array elements by
// index: "wind.speed", "pm.0"); null members are skipped. The member named by `time_field` (if
// present) is the observation time instead: RFC 3339 text, or epoch seconds / milliseconds /
// microseconds / nanoseconds told apart by magnitude. Integers stay integers (i64, or u64 above
// INT64_MAX); numbers with a fraction or exponent are f64.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::mqtt_json {

// A topic pattern: an MQTT filter in which one level may be "{device}" (a '+' for the broker;
// its value names the device). Example: "city/+/{device}/telemetry".
class TopicPattern {
 public:
  static Result<TopicPattern> parse(std::string_view pattern);
  const std::string& filter() const { return filter_; }  // what to subscribe to
  bool has_device() const { return device_level_ >= 0; }
  // The device named by `topic`, or nullopt if the topic does not match the pattern.
  std::optional<std::string> match(std::string_view topic) const;

 private:
  std::vector<std::string> levels_;
  int device_level_ = -1;
  std::string filter_;
};

// A device profile for JSON payloads (firmware-config/profiles/<name>.toml): which values to take,
// by RFC 6901 JSON pointer, and what they are. With a profile only the mapped values become
// readings (renamed, scaled, with their unit); without one every value is flattened as above.
//
//   description = "Air station, vendor X firmware 2.x"
//   [[fields]]
//   pointer = "/sensors/pm25/value"   # RFC 6901 ("~1" is '/', "~0" is '~')
//   metric  = "pm2_5"
//   unit    = "ug/m3"                 # optional
//   scale   = 1.0                     # optional: value * scale + offset (numbers only)
//   offset  = 0.0
struct FieldMap {
  std::string pointer;
  std::string metric;
  std::string unit;
  double scale = 1.0;
  double offset = 0.0;
};

struct JsonProfile {
  std::string name;
  std::string description;
  std::vector<FieldMap> fields;
};

// Parses profile text; `source` names it in errors (file:line:col). Errors are Disposition::fatal
// (a profile is configuration).
Result<JsonProfile> parse_json_profile(std::string_view toml_text, std::string_view source, std::string_view name);
Result<JsonProfile> load_json_profile(const std::string& path);

struct CodecOptions {
  std::string time_field = "ts";
  std::string device_field;  // JSON member naming the device when the topic does not
  std::size_t max_payload_bytes = 65536;
  std::size_t max_readings = 1000;
  int max_depth = 16;
  const JsonProfile* profile = nullptr;  // not owned; nullptr: flatten every value
};

// Decodes one payload. `device` may be empty when opts.device_field names it in the payload.
// Errors are Disposition::reject with codes: too_large, json, not_object, no_device, no_values,
// too_many_values, depth. With a profile, a mapped value that is absent or null is skipped (a
// payload carrying none of them has no_values); a scaled value that is not a number is a
// `field_type` error for that payload.
Result<std::vector<Reading>> decode(std::string_view device, std::span<const std::uint8_t> payload,
                                    TimeNs received, const CodecOptions& opts);

}  // namespace cg::mqtt_json
