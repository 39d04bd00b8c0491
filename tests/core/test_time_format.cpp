// RFC 3339 parsing and formatting at the edges.
#include <catch2/catch.hpp>

#include "core/time_format.hpp"

using namespace cg;

namespace {
std::int64_t ns(std::string_view s) {
  auto t = parse_rfc3339(s);
  INFO(s);
  REQUIRE(t.has_value());
  return to_unix_ns(*t);
}
constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t k2020 = 1'585'312'745;  // 2020-03-27T12:39:05Z
}  // namespace

TEST_CASE("parse_rfc3339: UTC with Z") {
  CHECK(ns("1970-01-01T00:00:00Z") == 0);
  CHECK(ns("2020-03-27T12:39:05Z") == k2020 * kSec);
  CHECK(ns("2020-03-27t12:39:05z") == k2020 * kSec);  // lower-case t and z (RFC 3339 §5.6 note)
  CHECK(ns("2020-03-27 12:39:05Z") == k2020 * kSec);  // space separator
  CHECK(ns("2024-02-29T00:00:00Z") == 1'709'164'800 * kSec);  // leap day
  CHECK(ns("1969-12-31T23:59:59Z") == -kSec);
}

TEST_CASE("parse_rfc3339: offsets") {
  CHECK(ns("2020-03-27T14:39:05+02:00") == k2020 * kSec);
  CHECK(ns("2020-03-27T07:09:05-05:30") == k2020 * kSec);
  CHECK(ns("2020-03-27T12:39:05+00:00") == k2020 * kSec);
  CHECK(ns("2020-03-27T12:39:05-00:00") == k2020 * kSec);
  CHECK(ns("2020-03-28T00:00:00+11:21") == (k2020 - 5) * kSec);  // crosses the date line back
}

TEST_CASE("parse_rfc3339: fractions up to nanoseconds, longer ones truncated") {
  CHECK(ns("2020-03-27T12:39:05.5Z") == k2020 * kSec + 500'000'000);
  CHECK(ns("2020-03-27T12:39:05.123Z") == k2020 * kSec + 123'000'000);
  CHECK(ns("2020-03-27T12:39:05.123456Z") == k2020 * kSec + 123'456'000);
  CHECK(ns("2020-03-27T12:39:05.123456789Z") == k2020 * kSec + 123'456'789);
  CHECK(ns("2020-03-27T12:39:05.1234567899999Z") == k2020 * kSec + 123'456'789);
  CHECK(ns("2020-03-27T12:39:05.000000001+01:00") == (k2020 - 3600) * kSec + 1);
  CHECK(ns("1969-12-31T23:59:59.999999999Z") == -1);
}

TEST_CASE("parse_rfc3339: rejects malformed and impossible times") {
  for (const char* bad : {
           "",
           "2020-0327T12:39:05Z",        // missing '-'
           "2020-03-27T12:39:05",        // no zone
           "2020-03-27",                 // date only
           "2020-02-30T00:00:00Z",       // Feb 30
           "2021-02-29T00:00:00Z",       // not a leap year
           "2020-04-31T00:00:00Z",       // April has 30 days
           "2020-13-01T00:00:00Z",       // month 13
           "2020-00-01T00:00:00Z",       // month 0
           "2020-01-00T00:00:00Z",       // day 0
           "2020-01-01T24:00:00Z",       // hour 24
           "2020-01-01T23:60:00Z",       // minute 60
           "2020-01-01T23:59:61Z",       // second 61
           "2020-01-01T00:00:00.Z",      // empty fraction
           "2020-01-01T00:00:00+0100",   // offset without colon
           "2020-01-01T00:00:00+24:00",  // offset hour 24
           "2020-01-01T00:00:00+01:60",  // offset minute 60
           "2020-01-01T00:00:00+01",     // short offset
           "2020-01-01T00:00:00ZZ",      // trailing text
           "2020-01-01T00:00:00Z ",      // trailing space
           "2020-01-01X00:00:00Z",       // bad separator
           "20-01-01T00:00:00Z",         // short year
           "2020-1-01T00:00:00Z",        // short month
           "2020-01-01T0:00:00Z",        // short hour
           "+2020-01-01T00:00:00Z",      // sign
           "2020-01-01T00:00:00,5Z",     // comma fraction
       }) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad).has_value());
  }
}

TEST_CASE("parse_rfc3339: a leap second is clamped, not rejected") {
  CHECK(ns("2016-12-31T23:59:60Z") == ns("2016-12-31T23:59:59Z"));
}

TEST_CASE("format_rfc3339_ms: milliseconds, truncated toward the past") {
  CHECK(format_rfc3339_ms(from_unix_ns(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(from_unix_ns(k2020 * kSec + 123'999'999)) == "2020-03-27T12:39:05.123Z");
  CHECK(format_rfc3339_ms(from_unix_ns(-1)) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339_ms(from_unix_ns(-1'000'000)) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339_ms(from_unix_ns(-1'000'001)) == "1969-12-31T23:59:59.998Z");
  CHECK(format_rfc3339_ms(from_unix_ns(-86'400 * kSec)) == "1969-12-31T00:00:00.000Z");
  CHECK(format_rfc3339_ms(from_unix_ns(-86'400 * kSec - 1)) == "1969-12-30T23:59:59.999Z");
  CHECK(format_rfc3339_ms(from_unix_ns(951'782'400 * kSec)) == "2000-02-29T00:00:00.000Z");
}

TEST_CASE("format and parse round-trip at millisecond precision") {
  for (std::int64_t t : {std::int64_t{0}, k2020 * kSec + 7'000'000, std::int64_t{-123'456'000'000},
                         std::int64_t{4'102'444'800'000'000'000}}) {
    INFO(t);
    CHECK(ns(format_rfc3339_ms(from_unix_ns(t))) == t);
  }
}

TEST_CASE("format_utc_date") {
  CHECK(format_utc_date(from_unix_ns(k2020 * kSec)) == "2020-03-27");
  CHECK(format_utc_date(from_unix_ns(-1)) == "1969-12-31");
}

TEST_CASE("parse_rfc3339: years int64 nanoseconds cannot hold are refused not wrapped") {
  // found by fuzzing: year 9697 overflowed the seconds -> nanoseconds conversion
  CHECK_FALSE(cg::parse_rfc3339("9697-01-01T00:00:00Z"));
  CHECK_FALSE(cg::parse_rfc3339("1000-01-01T00:00:00Z"));
  CHECK_FALSE(cg::parse_rfc3339("2262-04-12T00:00:00Z"));
  REQUIRE(cg::parse_rfc3339("2261-12-31T23:59:59Z"));
  REQUIRE(cg::parse_rfc3339("1678-01-01T00:00:00Z"));
}
