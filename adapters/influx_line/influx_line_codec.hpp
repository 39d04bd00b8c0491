#pragma once
// influx_line codec: InfluxDB line protocol text -> Readings. Pure (no I/O, no clock), fuzzable.
//
// Syntax (one point per line):
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
//
// Escaping depends on the position:
//   measurement            `\,` and `\ `              (any other backslash is kept as is)
//   tag keys/values,
//   field keys             `\,` `\=` and `\ `         (any other backslash is kept as is)
//   string field values    `\"` and `\\`              (any other backslash is kept as is)
// Field values: unsuffixed numbers are floats (1, 1.0, -1.2e+78), `i` suffix int64, `u` suffix
// uint64, "..." strings, booleans t T true True TRUE f F false False FALSE. Out-of-range numbers
// (int64/uint64 overflow, float overflow) make the line invalid. The timestamp is an int64 in the
// request precision (ns, us, ms, s) and may be negative; a line without one takes the default time
// (the receive time) truncated to the precision and is flagged quality::kTimeFromGateway.
// Runs of spaces between sections are accepted, `#` comment lines and blank lines are skipped,
// CRLF line ends are tolerated. A newline always ends a line (also inside a quoted string: such a
// line is reported as an unterminated string).
//
// Duplicate keys in one line: the last tag / last field with a given key wins (as in InfluxDB).
// Tags come out sorted by key.
//
// Naming (fixed): device = the `device` tag if present, else the `host` tag, else the
// measurement; metric = "<measurement>.<field key>". Every tag of the line becomes a reading tag,
// including the one used as the device (kept so a reading round-trips to the same line).
//
// Bad lines never drop good ones: decoding a body returns the readings of the valid lines and a
// per-line error list (1-based line numbers).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/reading.hpp"
#include "core/result.hpp"

namespace cg::influx_line {

enum class Precision { ns, us, ms, s };

// Accepts "ns", "us", "µs", "ms", "s", optionally with a leading "1" ("1ms", as InfluxDB's API).
std::optional<Precision> parse_precision(std::string_view text);
std::int64_t precision_ns(Precision p);  // 1, 1000, 1000000, 1000000000

struct CodecOptions {
  Precision precision = Precision::ns;
  std::size_t max_line_bytes = 65536;      // longer lines are rejected unparsed
  std::size_t max_fields_per_line = 1024;  // a line with more fields is rejected
  std::size_t max_readings = 100000;       // per body; lines past the limit are rejected
  std::size_t max_errors = 100;            // per-line errors kept in detail (all are counted)
};

// One field value as written (type kept exactly).
using FieldValue = Value;  // double, int64, uint64, bool or string (never Bytes)

struct Point {
  std::string measurement;
  Tags tags;                                              // sorted by key, unique keys
  std::vector<std::pair<std::string, FieldValue>> fields;  // in line order, unique keys
  TimeNs time{};
  bool has_timestamp = false;  // false: time is the truncated default time
};

struct LineError {
  std::size_t line = 0;  // 1-based line number within the body
  std::string code;      // short reason: syntax, range, line_too_long, too_many_fields, too_many_readings
  std::string reason;    // human-readable detail
};

struct PointsResult {
  std::vector<Point> points;
  std::vector<LineError> errors;    // the first opts.max_errors bad lines
  std::size_t rejected_lines = 0;   // every bad line, also those beyond max_errors
};

struct DecodeResult {
  std::vector<Reading> readings;
  std::vector<LineError> errors;
  std::size_t rejected_lines = 0;
};

// Parses one line (no line terminator). `default_time` is used when the line has no timestamp
// (truncated to the precision). Comment/blank lines are an error here (decode_points skips them).
Result<Point> parse_line(std::string_view line, TimeNs default_time, const CodecOptions& opts);

// Parses a whole request body.
PointsResult decode_points(std::string_view body, TimeNs default_time, const CodecOptions& opts);

// Parses a whole request body into readings (one per field), `received` being the receive time.
DecodeResult decode(std::string_view body, TimeNs received, const CodecOptions& opts);

// The naming rule applied to a point: device tag, else host tag, else the measurement.
std::string device_of(const Point& p);

}  // namespace cg::influx_line
