#pragma once
// Observation times found in JSON members, shared by the JSON codecs (mqtt_json, http_push).
// Pure, no I/O.
#include <simdjson.h>

#include <cstdint>
#include <optional>

#include "core/reading.hpp"

namespace cg::adapters {

// Epoch number -> time, unit told by magnitude (s < 1e11 <= ms < 1e14 <= us < 1e17 <= ns).
// nullopt for negative, non-finite or out-of-range values.
std::optional<TimeNs> epoch_to_time(double v);
// The same for an integer, exactly (no rounding through double).
std::optional<TimeNs> epoch_to_time(std::int64_t v);

// A time member: RFC 3339 text (core/time_format.hpp: 'T', 't' or ' ' as separator) or an epoch
// number (epoch_to_time; integers exactly). nullopt for anything else, including malformed text.
std::optional<TimeNs> json_time(simdjson::dom::element e);

}  // namespace cg::adapters
