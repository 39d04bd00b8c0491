#include <catch2/catch.hpp>

#include "uplink/backoff.hpp"
#include "uplink/sink.hpp"

using namespace cg::uplink;
using namespace std::chrono_literals;

TEST_CASE("backoff: full jitter under an exponential ceiling capped at the maximum", "[uplink][backoff]") {
  std::vector<std::int64_t> asked;
  // the injected source returns the upper bound, so next() shows the ceiling it drew from
  Backoff b(1000ms, 60000ms, [&](std::int64_t hi) {
    asked.push_back(hi);
    return hi;
  });
  std::vector<std::int64_t> got;
  for (int i = 0; i < 10; ++i) got.push_back(b.next().count());
  CHECK(got == std::vector<std::int64_t>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000});
  b.reset();
  CHECK(b.next() == 1000ms);
  // jitter: a source returning 0 gives immediate retries, never negative
  Backoff z(1000ms, 60000ms, [](std::int64_t) { return 0; });
  CHECK(z.next() == 0ms);
  // default random source stays within [0, ceiling]
  Backoff r(100ms, 1000ms);
  for (int i = 0; i < 1000; ++i) {
    auto c = r.ceiling();
    auto d = r.next();
    CHECK(d >= 0ms);
    CHECK(d <= c);
  }
  // many attempts never overflow
  for (int i = 0; i < 10000; ++i) r.next();
  CHECK(r.ceiling() == 1000ms);
}

TEST_CASE("Retry-After: seconds and HTTP-date", "[uplink]") {
  CHECK(parse_retry_after("120", 0) == std::optional<std::chrono::milliseconds>(120s));
  CHECK(parse_retry_after(" 7 ", 0) == std::optional<std::chrono::milliseconds>(7s));
  // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30) ==
        std::optional<std::chrono::milliseconds>(30s));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30) ==
        std::optional<std::chrono::milliseconds>(0s));
  CHECK_FALSE(parse_retry_after("soon", 0));
  CHECK_FALSE(parse_retry_after("", 0));
}
