#include "common/json_time.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

#include "core/time_format.hpp"

namespace cg::adapters {

std::optional<TimeNs> epoch_to_time(double v) {
  if (!std::isfinite(v) || v < 0) return std::nullopt;
  double ns;
  if (v < 1e11) ns = v * 1e9;
  else if (v < 1e14) ns = v * 1e6;
  else if (v < 1e17) ns = v * 1e3;
  else ns = v;
  if (ns > 9.2e18) return std::nullopt;
  return from_unix_ns(static_cast<std::int64_t>(std::llround(ns)));
}

std::optional<TimeNs> epoch_to_time(std::int64_t v) {
  if (v < 0) return std::nullopt;
  std::int64_t mult;
  if (v < 100'000'000'000) mult = 1'000'000'000;
  else if (v < 100'000'000'000'000) mult = 1'000'000;
  else if (v < 100'000'000'000'000'000) mult = 1'000;
  else mult = 1;
  if (v > std::numeric_limits<std::int64_t>::max() / mult) return std::nullopt;
  return from_unix_ns(v * mult);
}

std::optional<TimeNs> json_time(simdjson::dom::element e) {
  std::string_view s;
  if (!e.get(s)) return parse_rfc3339(s);
  // Integers exactly: a double cannot hold epoch milliseconds scaled to nanoseconds.
  std::int64_t i;
  if (e.is_int64() && !e.get(i)) return epoch_to_time(i);
  double d;
  if (!e.get(d)) return epoch_to_time(d);
  return std::nullopt;
}

}  // namespace cg::adapters
