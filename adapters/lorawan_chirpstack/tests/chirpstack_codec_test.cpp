#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>

#include "adapter_api/adapter.hpp"
#include "support/golden.hpp"
#include "lorawan_chirpstack/chirpstack_codec.hpp"

using namespace cg;
using namespace cg::lorawan_chirpstack;
using golden::bytes;

namespace cg {
const AdapterDescriptor& lorawan_chirpstack_descriptor();  // defined in chirpstack_adapter.cpp
}

namespace {
const TimeNs kNow = *parse_rfc3339("2026-01-02T03:04:05.678Z");
const std::string kUp = R"({"deviceInfo":{"devEui":"0101010101010101"},"time":"2024-01-01T00:00:00+00:00",
  "fCnt":9,"object":{"temperature":21.5,"door":{"open":true}},"rxInfo":[{"rssi":-100,"snr":-3.5},{"rssi":-90,"snr":-7}],
  "txInfo":{"modulation":{"lora":{"spreadingFactor":9}}}})";
}  // namespace

TEST_CASE("golden: every ChirpStack vector (and the v3-style generic_json one) decodes as documented",
          "[lorawan_chirpstack][golden]") {
  std::set<std::string> covered;
  simdjson::dom::parser p;
  for (const auto& dir : golden::case_dirs(LORAWAN_CHIRPSTACK_CASES_DIR)) {
    auto exp_text = golden::read_file(dir / "expected.json");
    simdjson::dom::element exp = p.parse(exp_text).value();
    std::string vector = golden::str(exp, "vector");
    covered.insert(vector);
    auto received = golden::time_of(exp, "received");
    INFO("case " << dir.filename().string() << " (" << vector << ")");
    auto text = golden::read_file(golden::vectors_dir() / vector);
    REQUIRE_FALSE(text.empty());
    // The event type is the one the MQTT topic would carry (the files have no topic).
    auto event = parse_event_type(golden::str(exp, "event"));
    auto r = decode(event, "", bytes(text), received, {});
    REQUIRE(r);
    CHECK(r->event == event);
    CHECK(r->time_fallback == (golden::str(exp, "time_fallback") == "yes"));
    golden::check(exp, r->readings, received);
  }
  for (const char* folder : {"lorawan_chirpstack_v4", "generic_json"})
    for (const auto& e : std::filesystem::directory_iterator(golden::vectors_dir() / folder)) {
      INFO(e.path().filename().string());
      CHECK(covered.count(std::string(folder) + "/" + e.path().filename().string()) == 1);
    }
}

TEST_CASE("dump decoded vectors (bootstrap for expected.json)", "[.dump]") {
  for (const char* folder : {"lorawan_chirpstack_v4", "generic_json"})
    for (const auto& e : std::filesystem::directory_iterator(golden::vectors_dir() / folder)) {
      auto text = golden::read_file(e.path());
      auto r = decode(EventType::up, "", bytes(text), kNow, {});
      std::cout << "== " << e.path().filename().string() << "\n";
      if (!r) std::cout << "error " << r.error().code << "\n";
      else {
        std::cout << "time_fallback " << r->time_fallback << "\n";
        golden::dump(r->readings);
      }
    }
}

TEST_CASE("topics name the event type and the device", "[lorawan_chirpstack]") {
  auto t = parse_topic("application/17c82e96/device/0101010101010101/event/up");
  CHECK(t.event == std::optional<EventType>(EventType::up));
  CHECK(t.dev_eui == "0101010101010101");
  CHECK(parse_topic("application/1/device/0101010101010101/event/status").event ==
        std::optional<EventType>(EventType::status));
  CHECK(parse_topic("application/1/device/0101010101010101/event/whatever").event ==
        std::optional<EventType>(EventType::unknown));
  CHECK(parse_topic("application/1/device/24e1641092176759/rx").event == std::optional<EventType>(EventType::up));
  CHECK(parse_topic("application/1/device/24e1641092176759/join").event ==
        std::optional<EventType>(EventType::join));
  CHECK_FALSE(parse_topic("some/custom/topic").event);
  CHECK_FALSE(parse_topic("").event);
  for (auto n : {"up", "join", "status", "ack", "txack", "log", "location", "integration"})
    CHECK(event_type_name(parse_event_type(n)) == n);
}

TEST_CASE("non-up events are never measurements", "[lorawan_chirpstack]") {
  for (auto ev : {EventType::join, EventType::status, EventType::ack, EventType::txack, EventType::log,
                  EventType::location, EventType::integration, EventType::unknown}) {
    INFO(event_type_name(ev));
    // A status event's body, even with an `object` in it, gives nothing.
    auto r = decode(ev, "", bytes(R"({"deviceInfo":{"devEui":"0101010101010101"},"margin":10,"batteryLevel":88.3,
        "object":{"x":1}})"), kNow, {});
    REQUIRE(r);
    CHECK(r->event == ev);
    CHECK(r->readings.empty());
  }
  // Without a topic the type is guessed from the body.
  auto status = decode(std::nullopt, "", bytes(R"({"deviceInfo":{"devEui":"0101010101010101"},"margin":10})"), kNow, {});
  REQUIRE(status);
  CHECK(status->event == EventType::unknown);
  CHECK(status->readings.empty());
  auto up = decode(std::nullopt, "", bytes(kUp), kNow, {});
  REQUIRE(up);
  CHECK(up->event == EventType::up);
  CHECK(up->readings.size() == 6);
}

TEST_CASE("up: object metrics, best radio values, fCnt, time", "[lorawan_chirpstack]") {
  auto r = decode(EventType::up, "", bytes(kUp), kNow, {});
  REQUIRE(r);
  std::vector<std::string> metrics;
  for (const auto& x : r->readings) {
    metrics.push_back(x.metric);
    CHECK(x.device == "0101010101010101");
    CHECK(x.src_seq == std::optional<std::uint64_t>(9));
    CHECK(x.observed == *parse_rfc3339("2024-01-01T00:00:00Z"));
    CHECK(x.quality == 0);
  }
  CHECK(metrics == std::vector<std::string>{"temperature", "door.open", "rssi", "snr", "gateway_count", "sf"});
  CHECK(std::get<double>(r->readings[2].value) == -90.0);
  CHECK(std::get<double>(r->readings[3].value) == -3.5);
  CHECK(std::get<std::int64_t>(r->readings[4].value) == 2);
  CHECK(std::get<std::int64_t>(r->readings[5].value) == 9);
  // device from the topic when the body has none; gateway time when `time` is missing
  auto t = decode(EventType::up, "00AA00AA00AA00AA",
                  bytes(R"({"rxInfo":[{"gwTime":"2024-01-01T00:00:02Z","rssi":-1},{"time":"2024-01-01T00:00:01Z"}]})"),
                  kNow, {});
  REQUIRE(t);
  REQUIRE_FALSE(t->readings.empty());
  CHECK(t->readings[0].device == "00aa00aa00aa00aa");
  CHECK(t->readings[0].observed == *parse_rfc3339("2024-01-01T00:00:01Z"));
  CHECK(t->readings[0].quality == quality::kTimeFromGateway);
  CHECK(t->time_fallback);
  CHECK(t->readings[0].src_seq == std::optional<std::uint64_t>(0));
  // an object member named like a radio metric wins
  auto c = decode(EventType::up, "", bytes(R"({"devEUI":"0101010101010101","object":{"rssi":"x"},"rxInfo":[{"rssi":-5}]})"),
                  kNow, {});
  REQUIRE(c);
  REQUIRE(c->readings.size() == 2);
  CHECK(std::get<std::string>(c->readings[0].value) == "x");
  CHECK(c->readings[1].metric == "gateway_count");
}

TEST_CASE("malformed input is rejected with a code, never a crash", "[lorawan_chirpstack]") {
  std::string deep(5000, '{');
  std::string deep_object = R"({"devEUI":"0101010101010101","object":{"a":)" + std::string(40, '[') + "1" +
                            std::string(40, ']') + "}}";
  for (const auto& [json, code] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "json"},
           {"", "json"},
           {deep, "json"},
           {"[]", "not_object"},
           {R"({"fCnt":1})", "no_device"},
           {R"({"deviceInfo":{"devEui":"xyz"},"fCnt":1})", "no_device"},
           {R"({"devEUI":"0101010101010101","fCnt":"4"})", "f_cnt"},
           {R"({"devEUI":"0101010101010101","fCnt":-4})", "f_cnt"},
           {R"({"devEUI":"0101010101010101","fCnt":4.5})", "f_cnt"},
           {deep_object, "depth"},
       }) {
    INFO(json.substr(0, 120));
    auto r = decode(EventType::up, "", bytes(json), kNow, {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == code);
    CHECK(r.error().disposition == Disposition::reject);
  }
  // Not JSON is rejected whatever the event type.
  CHECK_FALSE(decode(EventType::status, "", bytes("{"), kNow, {}));
  CodecOptions small;
  small.max_payload_bytes = 8;
  auto big = decode(EventType::up, "", bytes(kUp), kNow, small);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == "too_large");
}

TEST_CASE("adapter config: defaults and validation", "[lorawan_chirpstack]") {
  const auto& d = lorawan_chirpstack_descriptor();
  CHECK(d.kind == "lorawan_chirpstack");
  std::map<std::string, std::string_view> defaults;
  for (const auto& k : d.keys) defaults[std::string(k.name)] = k.default_value;
  CHECK(defaults["topics"] == "[\"application/+/device/+/event/+\"]");
  CHECK(defaults["qos"] == "1");
  using Map = std::map<std::string, ConfigValue, std::less<>>;
  Map ok{{"broker", std::string("b")}, {"topics", std::vector<std::string>{"application/+/device/+/event/+"}},
         {"qos", std::int64_t{0}}};
  CHECK(d.make("cs1", ConfigView(ok)));
  auto bad_qos = ok;
  bad_qos["qos"] = std::int64_t{-1};
  CHECK_FALSE(d.make("cs1", ConfigView(bad_qos)));
}
