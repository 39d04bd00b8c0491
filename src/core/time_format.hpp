#pragma once
// RFC 3339 / ISO 8601 text at the edges of the system.
#include <optional>
#include <string>
#include <string_view>

#include "core/reading.hpp"

namespace cg {

// "2024-05-01T12:34:56.789Z": UTC, always exactly milliseconds (truncated toward the past).
std::string format_rfc3339_ms(TimeNs t);

// "2024-05-01": the UTC date of t.
std::string format_utc_date(TimeNs t);

// Strict RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM). 't'/' ' accepted as the
// separator and 'z' as Z (RFC 3339 §5.6 note). Fractions up to nanoseconds (more digits are
// truncated). Returns nullopt for anything else, including out-of-range fields and years outside
// 1678..2261 (int64 nanoseconds cannot hold them).
std::optional<TimeNs> parse_rfc3339(std::string_view s);

}  // namespace cg
