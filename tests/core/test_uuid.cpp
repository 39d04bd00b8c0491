// UUIDv7 (RFC 9562): layout, time prefix, uniqueness.
#include <set>

#include <catch2/catch.hpp>

#include "core/uuid.hpp"

using namespace cg;

TEST_CASE("uuid_v7: version and variant bits") {
  auto now = from_unix_ns(1'700'000'000'123'456'789);
  for (int i = 0; i < 100; ++i) {
    auto b = uuid_v7_bytes(now);
    CHECK((b[6] >> 4) == 0x7);
    CHECK((b[8] >> 6) == 0x2);
  }
}

TEST_CASE("uuid_v7: the first 48 bits are Unix milliseconds, big-endian") {
  auto now = from_unix_ns(1'700'000'000'123'456'789);  // ms = 1700000000123 = 0x018BCFE5687B
  auto b = uuid_v7_bytes(now);
  std::uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | b[static_cast<std::size_t>(i)];
  CHECK(ms == 1'700'000'000'123ULL);
  auto s = uuid_v7(now);
  CHECK(s.substr(0, 13) == "018bcfe5-687b");
}

TEST_CASE("uuid_v7: canonical text form") {
  auto s = uuid_v7(from_unix_ns(1'700'000'000'000'000'000));
  REQUIRE(s.size() == 36);
  for (std::size_t i = 0; i < s.size(); ++i) {
    INFO(i);
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      CHECK(s[i] == '-');
    } else {
      CHECK(((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')));
    }
  }
  CHECK(s[14] == '7');
  CHECK(std::string("89ab").find(s[19]) != std::string::npos);
  CHECK(uuid_to_string({0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}) ==
        "01234567-89ab-cdef-0123-456789abcdef");
}

TEST_CASE("uuid_v7: unique over 10k ids within the same millisecond") {
  auto now = from_unix_ns(1'700'000'000'000'000'000);
  std::set<std::string> seen;
  for (int i = 0; i < 10'000; ++i) seen.insert(uuid_v7(now));
  CHECK(seen.size() == 10'000);
}

TEST_CASE("uuid_v7: later milliseconds sort later") {
  auto a = uuid_v7(from_unix_ns(1'700'000'000'000'000'000));
  auto b = uuid_v7(from_unix_ns(1'700'000'000'001'000'000));
  CHECK(a < b);
}
