#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>

#include "adapter_api/adapter.hpp"
#include "support/golden.hpp"
#include "lorawan_ttn/ttn_codec.hpp"

using namespace cg;
using namespace cg::lorawan_ttn;
using golden::bytes;

namespace cg {
const AdapterDescriptor& lorawan_ttn_descriptor();  // defined in ttn_adapter.cpp
}

namespace {
const TimeNs kNow = *parse_rfc3339("2026-01-02T03:04:05.678Z");

CodecOptions options_for(simdjson::dom::element exp) {
  CodecOptions o;
  if (golden::str(exp, "payload") == "cayenne") o.payload = PayloadMode::cayenne;
  return o;
}

std::string vector_text(const std::string& rel) {
  auto text = golden::read_file(golden::vectors_dir() / rel);
  REQUIRE_FALSE(text.empty());
  return text;
}

const std::string kUplink = R"({"end_device_ids":{"device_id":"d1","dev_eui":"00AABBCCDDEEFF01"},
  "received_at":"2024-01-01T00:00:00Z","uplink_message":{"f_cnt":7,"frm_payload":"AWcA6w==",
  "decoded_payload":{"t":1}}})";
}  // namespace

TEST_CASE("golden: every lorawan_ttn_v3 vector decodes as documented", "[lorawan_ttn][golden]") {
  std::set<std::string> covered;
  simdjson::dom::parser p;
  for (const auto& dir : golden::case_dirs(LORAWAN_TTN_CASES_DIR)) {
    auto exp_text = golden::read_file(dir / "expected.json");
    simdjson::dom::element exp = p.parse(exp_text).value();
    std::string vector = golden::str(exp, "vector");
    covered.insert(vector);
    auto received = golden::time_of(exp, "received");
    INFO("case " << dir.filename().string() << " (" << vector << ")");
    auto text = vector_text(vector);
    auto r = decode(bytes(text), received, options_for(exp));
    REQUIRE(r);
    CHECK(r->kind == golden::str(exp, "kind"));
    CHECK(r->uplink == (r->kind == "uplink"));
    golden::check(exp, r->readings, received);
  }
  for (const auto& e : std::filesystem::directory_iterator(golden::vectors_dir() / "lorawan_ttn_v3")) {
    INFO(e.path().filename().string());
    CHECK(covered.count("lorawan_ttn_v3/" + e.path().filename().string()) == 1);
  }
}

TEST_CASE("dump decoded vectors (bootstrap for expected.json)", "[.dump]") {
  for (const auto& e : std::filesystem::directory_iterator(golden::vectors_dir() / "lorawan_ttn_v3")) {
    for (auto mode : {PayloadMode::decoded, PayloadMode::cayenne}) {
      auto text = golden::read_file(e.path());
      CodecOptions o;
      o.payload = mode;
      auto r = decode(bytes(text), kNow, o);
      std::cout << "== " << e.path().filename().string() << (mode == PayloadMode::cayenne ? " (cayenne)" : "") << "\n";
      if (!r) std::cout << "error " << r.error().code << "\n";
      else {
        std::cout << "kind " << r->kind << " undecoded " << r->payload_undecoded << "\n";
        golden::dump(r->readings);
      }
    }
  }
}

TEST_CASE("device key: lower-case DevEUI, else device_id", "[lorawan_ttn]") {
  CHECK(device_key("0004A30B001C0530", "dev1") == "0004a30b001c0530");
  CHECK(device_key("", "dev1") == "dev1");
  CHECK(device_key("not-hex-at-all!!", "dev1") == "dev1");
  CHECK(device_key("0004A30B001C05", "dev1") == "dev1");  // too short
  auto r = decode(bytes(R"({"end_device_ids":{"device_id":"dev-x"},"uplink_message":{"decoded_payload":{"v":1}}})"), kNow, {});
  REQUIRE(r);
  REQUIRE(r->readings.size() == 1);
  CHECK(r->readings[0].device == "dev-x");
  CHECK(r->readings[0].src_seq == std::optional<std::uint64_t>(0));  // f_cnt omitted = 0
  CHECK(r->readings[0].observed == kNow);                            // no time at all
  CHECK(r->readings[0].quality == quality::kTimeFromGateway);
}

TEST_CASE("time: AS received_at, NS received_at, then gateway time (flagged)", "[lorawan_ttn]") {
  auto ns = decode(bytes(R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"received_at":"2024-01-01T00:00:01Z",
      "decoded_payload":{"v":1}}})"), kNow, {});
  REQUIRE(ns);
  CHECK(ns->readings[0].observed == *parse_rfc3339("2024-01-01T00:00:01Z"));
  CHECK(ns->readings[0].quality == 0);
  auto gw = decode(bytes(R"({"end_device_ids":{"device_id":"d"},"received_at":"garbage","uplink_message":{
      "decoded_payload":{"v":1},"rx_metadata":[{"time":"2024-01-01T00:00:03Z","rssi":-90,"snr":-2.5},
      {"time":"2024-01-01T00:00:02.5Z","rssi":-80,"snr":-7},{"rssi":-100}]}})"), kNow, {});
  REQUIRE(gw);
  std::map<std::string, Value> m;
  for (const auto& r : gw->readings) {
    CHECK(r.observed == *parse_rfc3339("2024-01-01T00:00:02.5Z"));
    CHECK(r.quality == quality::kTimeFromGateway);
    m[r.metric] = r.value;
  }
  CHECK(std::get<double>(m["rssi"]) == -80.0);
  CHECK(std::get<double>(m["snr"]) == -2.5);
  CHECK(std::get<std::int64_t>(m["gateway_count"]) == 3);
  auto st = decode(bytes(R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{"v":1},
      "settings":{"time":"2024-01-01T00:00:04Z"}}})"), kNow, {});
  REQUIRE(st);
  CHECK(st->readings[0].observed == *parse_rfc3339("2024-01-01T00:00:04Z"));
  CHECK(st->readings[0].quality == quality::kTimeFromGateway);
}

TEST_CASE("decoded_payload: bookkeeping members skipped, payload metric beats a radio metric", "[lorawan_ttn]") {
  auto r = decode(bytes(R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{
      "raw":[1,2],"bytes":"AQI=","payload":"0102","err":0,"errors":[],"warnings":["x"],"valid":true,
      "rssi":-1,"nested":{"a":{"b":2}},"none":null,"list":[5]},"rx_metadata":[{"rssi":-50,"snr":3}]}})"), kNow, {});
  REQUIRE(r);
  std::vector<std::string> metrics;
  for (const auto& x : r->readings) metrics.push_back(x.metric);
  CHECK(metrics == std::vector<std::string>{"rssi", "nested.a.b", "list.0", "snr", "gateway_count"});
  CHECK(std::get<std::int64_t>(r->readings[0].value) == -1);
  CHECK(r->readings[0].unit.empty());
}

TEST_CASE("payload modes: undecoded uplinks are counted, cayenne decodes frm_payload", "[lorawan_ttn]") {
  auto undecoded = decode(bytes(R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"frm_payload":"AWcA6w==",
      "rx_metadata":[{"rssi":-50,"snr":3}]}})"), kNow, {});
  REQUIRE(undecoded);
  CHECK(undecoded->payload_undecoded);
  CHECK(undecoded->readings.size() == 3);  // radio metadata only
  CodecOptions c;
  c.payload = PayloadMode::cayenne;
  auto lpp = decode(bytes(kUplink), kNow, c);
  REQUIRE(lpp);
  CHECK_FALSE(lpp->payload_undecoded);
  REQUIRE(lpp->readings.size() == 1);  // decoded_payload ignored in cayenne mode
  CHECK(lpp->readings[0].metric == "temperature_1");
  CHECK(std::get<double>(lpp->readings[0].value) == 23.5);
  CHECK(lpp->readings[0].unit == "Cel");
  CHECK(lpp->readings[0].device == "00aabbccddeeff01");
  CHECK(lpp->readings[0].src_seq == std::optional<std::uint64_t>(7));
  auto dec = decode(bytes(kUplink), kNow, {});
  REQUIRE(dec);
  REQUIRE(dec->readings.size() == 1);
  CHECK(dec->readings[0].metric == "t");
}

TEST_CASE("non-uplink messages give zero readings", "[lorawan_ttn]") {
  for (auto [json, kind] : std::vector<std::pair<std::string, std::string>>{
           {R"({"end_device_ids":{"device_id":"d"},"join_accept":{"session_key_id":"AQI="}})", "join_accept"},
           {R"({"end_device_ids":{"device_id":"d"},"downlink_ack":{"f_port":1}})", "downlink_ack"},
           {R"({"end_device_ids":{"device_id":"d"},"downlink_queued":{"f_port":1}})", "downlink_queued"},
           {R"({"end_device_ids":{"device_id":"d"},"location_solved":{}})", "location_solved"},
           {R"({"end_device_ids":{"device_id":"d"}})", "other"},
           {R"({"name":"as.down.data.forward","data":{"@type":"type.googleapis.com/ttn.lorawan.v3.DownlinkMessage"}})",
            "as.down.data.forward"},
           {R"({"name":"events.stream.start"})", "events.stream.start"},
       }) {
    INFO(json);
    auto r = decode(bytes(json), kNow, {});
    REQUIRE(r);
    CHECK_FALSE(r->uplink);
    CHECK(r->kind == kind);
    CHECK(r->readings.empty());
  }
}

TEST_CASE("malformed input is rejected with a code, never a crash", "[lorawan_ttn]") {
  CodecOptions cayenne;
  cayenne.payload = PayloadMode::cayenne;
  std::string deep(5000, '[');
  std::string deep_payload = R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{"a":)" +
                             std::string(40, '[') + "1" + std::string(40, ']') + "}}}";
  struct Bad {
    std::string json;
    std::string code;
    CodecOptions opts;
  };
  for (const auto& b : std::vector<Bad>{
           {"not json", "json", {}},
           {"", "json", {}},
           {R"({"a":)", "json", {}},
           {"[1,2]", "not_object", {}},
           {"42", "not_object", {}},
           {R"({"uplink_message":{"f_cnt":1}})", "no_device", {}},
           {R"({"end_device_ids":"x","uplink_message":{}})", "no_device", {}},
           {R"({"end_device_ids":{},"uplink_message":{}})", "no_device", {}},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":[]})", "uplink_message", {}},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"f_cnt":"41"}})", "f_cnt", {}},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"f_cnt":-1}})", "f_cnt", {}},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"f_cnt":1.5}})", "f_cnt", {}},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"f_cnt":4294967296}})", "f_cnt", {}},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"f_cnt":null}})", "f_cnt", {}},
           {deep, "json", {}},
           {deep_payload, "depth", {}},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"frm_payload":"A$==="}})", "base64", cayenne},
           {R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"frm_payload":"AWcA"}})", "lpp_truncated", cayenne},
           {R"({"name":"as.up.data.forward","data":{"@type":"type.googleapis.com/ttn.lorawan.v3.ApplicationUp"}})",
            "no_device", {}},
       }) {
    INFO(b.json.substr(0, 120));
    auto r = decode(bytes(b.json), kNow, b.opts);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == b.code);
    CHECK(r.error().disposition == Disposition::reject);
  }
  CodecOptions small;
  small.max_payload_bytes = 16;
  auto big = decode(bytes(kUplink), kNow, small);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == "too_large");
  CodecOptions few;
  few.max_readings = 2;
  auto many = decode(bytes(R"({"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{"a":1,"b":2,"c":3}}})"),
                     kNow, few);
  REQUIRE_FALSE(many);
  CHECK(many.error().code == "too_many_values");
}

TEST_CASE("base64", "[lorawan_ttn]") {
  using Bytes8 = std::optional<std::vector<std::uint8_t>>;
  CHECK(base64_decode("gkHe") == Bytes8(std::vector<std::uint8_t>{0x82, 0x41, 0xde}));
  CHECK(base64_decode("ARI=") == Bytes8(std::vector<std::uint8_t>{0x01, 0x12}));
  CHECK(base64_decode("ARI") == Bytes8(std::vector<std::uint8_t>{0x01, 0x12}));
  CHECK(base64_decode("qg==") == Bytes8(std::vector<std::uint8_t>{0xaa}));
  CHECK(base64_decode("") == std::optional<std::vector<std::uint8_t>>(std::vector<std::uint8_t>{}));
  CHECK_FALSE(base64_decode("A"));
  CHECK_FALSE(base64_decode("AB=C"));
  CHECK_FALSE(base64_decode("AB CD"));
  CHECK_FALSE(base64_decode("qg="));
  CHECK_FALSE(base64_decode("-_8="));  // base64url is not what TTS sends
}

TEST_CASE("adapter config: defaults and validation", "[lorawan_ttn]") {
  const auto& d = lorawan_ttn_descriptor();
  CHECK(d.kind == "lorawan_ttn");
  std::map<std::string, std::string_view> defaults;
  for (const auto& k : d.keys) defaults[std::string(k.name)] = k.default_value;
  CHECK(defaults["topics"] == "[\"v3/+/devices/+/up\"]");
  CHECK(defaults["qos"] == "1");
  CHECK(defaults["payload"] == "\"decoded\"");
  using Map = std::map<std::string, ConfigValue, std::less<>>;
  Map ok{{"broker", std::string("b")}, {"topics", std::vector<std::string>{"v3/+/devices/+/up"}},
         {"qos", std::int64_t{1}}, {"payload", std::string("cayenne")}};
  CHECK(d.make("ttn1", ConfigView(ok)));
  auto bad_payload = ok;
  bad_payload["payload"] = std::string("hex");
  CHECK_FALSE(d.make("ttn1", ConfigView(bad_payload)));
  auto bad_qos = ok;
  bad_qos["qos"] = std::int64_t{2};
  CHECK_FALSE(d.make("ttn1", ConfigView(bad_qos)));
}
