#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "core/time_format.hpp"
#include "mqtt_json/mqtt_json_codec.hpp"

using namespace cg;
using namespace cg::mqtt_json;

namespace {
std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
const TimeNs kNow = *parse_rfc3339("2026-01-02T03:04:05.678Z");
}  // namespace

TEST_CASE("topic patterns: filter and device extraction", "[mqtt_json]") {
  auto p = TopicPattern::parse("city/+/{device}/telemetry");
  REQUIRE(p);
  CHECK(p->filter() == "city/+/+/telemetry");
  CHECK(p->match("city/north/aq-7/telemetry") == std::optional<std::string>("aq-7"));
  CHECK_FALSE(p->match("city/north/aq-7/status"));
  CHECK_FALSE(p->match("city/north/aq-7/telemetry/extra"));
  CHECK_FALSE(p->match("city/north//telemetry"));  // empty device level
  auto h = TopicPattern::parse("sensors/{device}/#");
  REQUIRE(h);
  CHECK(h->filter() == "sensors/+/#");
  CHECK(h->match("sensors/x1/a/b") == std::optional<std::string>("x1"));
  CHECK_FALSE(TopicPattern::parse("a/{device}/{device}"));
  CHECK_FALSE(TopicPattern::parse("a/x{device}"));
  CHECK_FALSE(TopicPattern::parse("a/#/b"));
}

TEST_CASE("numbers keep their type, nested members are flattened with dots", "[mqtt_json]") {
  auto r = decode("dev", bytes(R"({"temp":21.5,"count":3,"big":18446744073709551615,"neg":-9223372036854775808,
      "ok":true,"label":"north","wind":{"speed":3.2,"dir":270},"pm":[1,2],"skip":null})"), kNow, {});
  REQUIRE(r);
  std::map<std::string, Value> m;
  for (auto& x : *r) {
    CHECK(x.device == "dev");
    CHECK(x.received == kNow);
    CHECK(x.observed == kNow);
    CHECK((x.quality & quality::kTimeFromGateway) != 0);
    m[x.metric] = x.value;
  }
  CHECK(m.size() == 10);
  CHECK(std::get<double>(m["temp"]) == 21.5);
  CHECK(std::get<std::int64_t>(m["count"]) == 3);
  CHECK(std::get<std::uint64_t>(m["big"]) == 18446744073709551615ull);
  CHECK(std::get<std::int64_t>(m["neg"]) == INT64_MIN);
  CHECK(std::get<bool>(m["ok"]) == true);
  CHECK(std::get<std::string>(m["label"]) == "north");
  CHECK(std::get<double>(m["wind.speed"]) == 3.2);
  CHECK(std::get<std::int64_t>(m["wind.dir"]) == 270);
  CHECK(std::get<std::int64_t>(m["pm.1"]) == 2);
}

TEST_CASE("timestamps: RFC 3339 and epoch units by magnitude", "[mqtt_json]") {
  auto expect = *parse_rfc3339("2024-05-01T12:00:00Z");
  for (std::string ts : {"\"2024-05-01T14:00:00+02:00\"", "1714564800", "1714564800000", "1714564800000000",
                         "1714564800000000000", "1714564800.0"}) {
    INFO(ts);
    auto r = decode("d", bytes("{\"ts\":" + ts + ",\"v\":1}"), kNow, {});
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].observed == expect);
    CHECK(((*r)[0].quality & quality::kTimeFromGateway) == 0);
  }
  // an unusable timestamp keeps the value on the receive time, flagged
  auto bad = decode("d", bytes(R"({"ts":"2020-0327T12:39:05Z","v":1})"), kNow, {});
  REQUIRE(bad);
  CHECK((*bad)[0].observed == kNow);
  CHECK(((*bad)[0].quality & quality::kTimeFromGateway) != 0);
}

TEST_CASE("bad payloads are rejected with a reason", "[mqtt_json]") {
  CodecOptions o;
  o.max_payload_bytes = 64;
  struct Case {
    std::string payload, code;
  } cases[] = {
      {"{\"v\":", "json"},
      {"not json", "json"},
      {"[1,2,3]", "not_object"},
      {"42", "not_object"},
      {"{}", "no_values"},
      {"{\"a\":null}", "no_values"},
      {std::string(100, ' '), "too_large"},
      {"{\"v\":1e999}", "json"},
  };
  for (const auto& c : cases) {
    INFO(c.payload);
    auto r = decode("d", bytes(c.payload), kNow, o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == c.code);
    CHECK(r.error().disposition == Disposition::reject);
  }
  std::string deep(40, '[');
  deep = "{\"a\":" + deep + std::string(40, ']') + "}";
  auto d = decode("d", bytes(deep), kNow, {});
  REQUIRE_FALSE(d);
  CHECK(d.error().code == "depth");
}

TEST_CASE("device can come from the payload", "[mqtt_json]") {
  CodecOptions o;
  o.device_field = "id";
  auto r = decode("", bytes(R"({"id":"m-9","kwh":12.5})"), kNow, o);
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].device == "m-9");
  CHECK((*r)[0].metric == "kwh");
  CHECK_FALSE(decode("", bytes(R"({"kwh":12.5})"), kNow, o));
}
