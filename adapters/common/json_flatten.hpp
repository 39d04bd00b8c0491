#pragma once
// Shared by the JSON codecs (mqtt_json, lorawan_ttn, lorawan_chirpstack): every number, boolean
// and string member of a JSON value becomes a reading named by its path — nested objects and
// arrays flattened with '.', array elements by index ("wind.speed", "pm.0"); null is skipped, and
// so is a top-level member with an empty name (it would give a reading without a metric).
// Integers stay integers (i64, or u64 above INT64_MAX); other numbers are f64. Pure, no I/O.
#include <simdjson.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::adapters {

class JsonFlattener {
 public:
  // `what` names the input in error messages ("payload", "uplink").
  JsonFlattener(std::size_t max_readings, int max_depth, std::string_view what = "payload")
      : max_readings_(max_readings), max_depth_(max_depth), what_(what) {}

  // Appends one reading (metric, value, unit); past max_readings sets error "too_many_values".
  void add(std::string metric, Value v, std::string unit = {});
  // Flattens `e` under `path` (empty: no prefix); deeper than max_depth sets error "depth".
  void walk(simdjson::dom::element e, const std::string& path, int depth);
  bool has_metric(std::string_view m) const;

  std::vector<Reading> out;   // device/time/quality are the caller's to fill in
  std::optional<Error> error; // the first error; walking stops adding after it

 private:
  std::size_t max_readings_;
  int max_depth_;
  std::string what_;
};

}  // namespace cg::adapters
