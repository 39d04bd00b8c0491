// JSON text output: escaping, UTF-8 repair, exact numbers, base64.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "core/json_writer.hpp"

using namespace cg;

namespace {
std::string str(std::string_view s) {
  std::string out;
  json::append_string(out, s);
  return out;
}
std::string val(const Value& v) {
  std::string out;
  json::append_value(out, v);
  return out;
}
std::string b64(std::vector<std::uint8_t> v) { return json::base64_encode(v.data(), v.size()); }
}  // namespace

TEST_CASE("json strings: quotes, backslashes and control characters are escaped") {
  CHECK(str("") == R"("")");
  CHECK(str("plain") == R"("plain")");
  CHECK(str("a\"b\\c") == R"("a\"b\\c")");
  CHECK(str("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(str(std::string_view("\0\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  CHECK(str("\x7f") == "\"\x7f\"");  // DEL is allowed unescaped in JSON
  CHECK(str("/") == R"("/")");
}

TEST_CASE("json strings: valid UTF-8 passes through, invalid bytes become U+FFFD") {
  CHECK(str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  const std::string fffd = "\xef\xbf\xbd";
  CHECK(str("a\xff" "b") == "\"a" + fffd + "b\"");            // not a lead byte
  CHECK(str("\x80") == "\"" + fffd + "\"");                   // lone continuation byte
  CHECK(str("\xc3") == "\"" + fffd + "\"");                   // truncated sequence at the end
  CHECK(str("\xc3(") == "\"" + fffd + "(\"");                 // bad continuation
  CHECK(str("\xc0\xaf") == "\"" + fffd + fffd + "\"");        // overlong '/'
  CHECK(str("\xed\xa0\x80") == "\"" + fffd + fffd + fffd + "\"");  // UTF-16 surrogate
  CHECK(str("\xf4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // above U+10FFFF
}

TEST_CASE("json numbers: doubles round-trip, NaN and infinities become strings") {
  std::string out;
  json::append_double(out, 1.0);
  CHECK(out == "1.0");
  out.clear();
  json::append_double(out, -250.0);
  CHECK(out == "-250.0");
  out.clear();
  json::append_double(out, 0.1);
  CHECK(out == "0.1");
  out.clear();
  json::append_double(out, 1e300);
  CHECK(std::stod(out) == 1e300);
  out.clear();
  json::append_double(out, std::numeric_limits<double>::quiet_NaN());
  CHECK(out == "\"NaN\"");
  out.clear();
  json::append_double(out, std::numeric_limits<double>::infinity());
  CHECK(out == "\"Infinity\"");
  out.clear();
  json::append_double(out, -std::numeric_limits<double>::infinity());
  CHECK(out == "\"-Infinity\"");
}

TEST_CASE("json values: integers exact at the limits, bools, strings, bytes") {
  CHECK(val(std::uint64_t{18'446'744'073'709'551'615ULL}) == "18446744073709551615");
  CHECK(val(std::numeric_limits<std::int64_t>::min()) == "-9223372036854775808");
  CHECK(val(std::numeric_limits<std::int64_t>::max()) == "9223372036854775807");
  CHECK(val(std::int64_t{-5}) == "-5");
  CHECK(val(true) == "true");
  CHECK(val(false) == "false");
  CHECK(val(std::string("x\"y")) == R"("x\"y")");
  CHECK(val(Bytes{{0xde, 0xad, 0xbe, 0xef}}) == R"("3q2+7w==")");
  CHECK(val(2.5) == "2.5");
}

TEST_CASE("base64 of 0 to 3 bytes and beyond (padding)") {
  CHECK(b64({}).empty());
  CHECK(b64({0x00}) == "AA==");
  CHECK(b64({0x00, 0x01}) == "AAE=");
  CHECK(b64({0x00, 0x01, 0x02}) == "AAEC");
  CHECK(b64({0xff}) == "/w==");
  CHECK(b64({0xff, 0xff}) == "//8=");
  CHECK(b64({0xff, 0xff, 0xff}) == "////");
  CHECK(b64({'f', 'o', 'o', 'b', 'a', 'r'}) == "Zm9vYmFy");
  CHECK(b64({'f', 'o', 'o', 'b', 'a'}) == "Zm9vYmE=");
}

TEST_CASE("json tags: an object in the given order") {
  std::string out;
  json::append_tags(out, {{"b", "2"}, {"a", "\"1\""}});
  CHECK(out == R"({"b":"2","a":"\"1\""})");
  out.clear();
  json::append_tags(out, {});
  CHECK(out == "{}");
}
