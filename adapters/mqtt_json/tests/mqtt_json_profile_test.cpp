// JSON device profiles: values picked by JSON pointer, renamed, scaled, given units; the shipped
// example profile; per-device choice in the adapter; profile mistakes are config errors.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "adapter_api/adapter.hpp"
#include "core/time_format.hpp"
#include "mqtt_json/mqtt_json_codec.hpp"
#include "support/fake_context.hpp"
#include "support/process.hpp"

using namespace cg;
using namespace cg::mqtt_json;

namespace cg {
const AdapterDescriptor& mqtt_json_descriptor();
}

namespace {
std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
const TimeNs kNow = *parse_rfc3339("2026-01-02T03:04:05.678Z");
const std::string kStation =
    R"({"ts": 1790000000, "sensors": {"pm25": {"value": 12.4}, "pm10": {"value": 20}, "no2": {"ppb": 21}},)"
    R"( "env": {"t_dC": 187, "rh": null}, "power": {"battery_mV": 3710}, "debug": {"heap": 31000}})";

std::map<std::string, Value> by_metric(const std::vector<Reading>& rs) {
  std::map<std::string, Value> m;
  for (const auto& r : rs) m[r.metric] = r.value;
  return m;
}
}  // namespace

TEST_CASE("mqtt_json profile: the shipped air-station profile maps scales and names", "[mqtt_json]") {
  auto p = load_json_profile(std::string(CITYGATE_SOURCE_DIR) + "/firmware-config/profiles/json_air_station.toml");
  REQUIRE(p);
  CHECK(p->name == "json_air_station");
  CodecOptions o;
  o.profile = &*p;
  auto r = decode("aq-7", bytes(kStation), kNow, o);
  REQUIRE(r);
  auto m = by_metric(*r);
  // only mapped values; debug.heap is not a measurement of this profile, rh is null (skipped)
  CHECK(m.size() == 5);
  CHECK(m.count("debug.heap") == 0);
  CHECK(m.count("humidity") == 0);
  CHECK(m["pm2_5"] == Value{12.4});
  CHECK(m["pm10"] == Value{std::int64_t{20}});  // unscaled integers stay exact
  CHECK(m["temperature"] == Value{18.7});        // 187 * 0.1, computed as 187 / 10
  CHECK(m["battery"] == Value{3.71});
  CHECK(std::get<double>(m["no2"]) == Approx(39.48));
  for (const auto& x : *r) {
    CHECK(x.device == "aq-7");
    CHECK(x.observed == from_unix_ns(1790000000LL * 1000000000LL));
    if (x.metric == "pm2_5") CHECK(x.unit == "ug/m3");
    if (x.metric == "temperature") CHECK(x.unit == "Cel");
  }
}

TEST_CASE("mqtt_json profile: a scaled field that is not a number rejects the payload", "[mqtt_json]") {
  auto p = parse_json_profile("[[fields]]\npointer = \"/a\"\nmetric = \"a\"\nscale = 2\n", "<t>", "t");
  REQUIRE(p);
  CodecOptions o;
  o.profile = &*p;
  auto bad = decode("d", bytes(R"({"a": "high"})"), kNow, o);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "field_type");
  auto none = decode("d", bytes(R"({"b": 1})"), kNow, o);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == "no_values");
  // RFC 6901 escapes: "~1" is '/', "~0" is '~'
  auto esc = parse_json_profile("[[fields]]\npointer = \"/a~1b/c~0d\"\nmetric = \"x\"\n", "<t>", "t");
  REQUIRE(esc);
  o.profile = &*esc;
  auto ok = decode("d", bytes(R"({"a/b": {"c~d": true}})"), kNow, o);
  REQUIRE(ok);
  REQUIRE(ok->size() == 1);
  CHECK((*ok)[0].value == Value{true});
}

TEST_CASE("mqtt_json profile: mistakes in a profile are errors with their position", "[mqtt_json]") {
  auto e1 = parse_json_profile("description = \"x\"\n", "p.toml", "p");
  REQUIRE_FALSE(e1);
  CHECK(e1.error().message.find("[[fields]]") != std::string::npos);
  auto e2 = parse_json_profile("[[fields]]\npointer = \"a\"\n", "p.toml", "p");
  REQUIRE_FALSE(e2);
  CHECK(e2.error().message.find("p.toml:") == 0);
  CHECK_FALSE(parse_json_profile("[[fields]]\npointer = \"/a\"\nscal = 2\n", "p.toml", "p"));
  CHECK_FALSE(parse_json_profile("[[fields]]\npointer = \"/a\"\nscale = 0\n", "p.toml", "p"));
  CHECK_FALSE(parse_json_profile("[[fields]\n", "p.toml", "p"));
}

TEST_CASE("mqtt_json profile: the adapter picks each device's profile", "[mqtt_json]") {
  cg::test::TempDir dir;
  cg::test::write_file(dir / "station.toml", "[[fields]]\npointer = \"/sensors/pm25/value\"\nmetric = \"pm2_5\"\n");
  std::map<std::string, ConfigValue, std::less<>> v;
  v["broker"] = std::string("local");
  v["topics"] = std::vector<std::string>{"city/+/{device}/telemetry"};
  v["qos"] = std::int64_t{1};
  v["time_field"] = std::string("ts");
  v["device_field"] = std::string("");
  v["max_payload_bytes"] = std::int64_t{65536};
  v["profile"] = std::string("");
  v["device_profiles"] = std::vector<std::pair<std::string, std::string>>{{"aq-7", "station"}};
  v["profiles_dir"] = dir.path().string();
  auto a = mqtt_json_descriptor().make("m", ConfigView(v));
  REQUIRE(a);
  cg::test::FakeContext ctx("m");
  REQUIRE((*a)->start(ctx));
  REQUIRE(ctx.subs.size() == 1);
  auto deliver = [&](const std::string& topic) {
    MqttMessage m;
    m.topic = topic;
    m.payload = bytes(kStation);
    return ctx.subs[0].decode(m);
  };
  auto mapped = deliver("city/n/aq-7/telemetry");
  REQUIRE(mapped);
  REQUIRE(mapped->size() == 1);
  CHECK((*mapped)[0].metric == "pm2_5");
  auto flat = deliver("city/n/aq-8/telemetry");  // no profile: every value by its path
  REQUIRE(flat);
  CHECK(flat->size() == 6);  // the null is skipped
  // a profile that does not exist is a config error (check-config reports it)
  v["device_profiles"] = std::vector<std::pair<std::string, std::string>>{{"aq-7", "nope"}};
  CHECK_FALSE(mqtt_json_descriptor().make("m", ConfigView(v)));
}
