#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "http_push/http_push_codec.hpp"
#include "request_file.hpp"
#include "support/golden.hpp"

using namespace cg;
using http_push::Format;
using http_push::Options;

namespace {

namespace fs = std::filesystem;
const TimeNs kNow = *parse_rfc3339("2030-01-01T00:00:00Z");

using Headers = std::vector<std::pair<std::string, std::string>>;
using http_push_test::lower;
using http_push_test::parse_request;

DecodeOutput dec(const std::string& body, const Options& o = {}, Headers headers = {},
                 http_push::Stats* stats = nullptr) {
  DecodeInput in;
  in.payload = golden::bytes(body);
  in.headers = std::move(headers);
  in.now = kNow;
  return http_push::decode(in, o, stats);
}

std::vector<std::string> codes(const DecodeOutput& out) {
  std::vector<std::string> c;
  for (const auto& e : out.errors) {
    CHECK(e.disposition == Disposition::reject);
    CHECK_FALSE(e.message.empty());
    c.push_back(e.code);
  }
  return c;
}

std::string only_code(const DecodeOutput& out) {
  auto c = codes(out);
  if (c.size() != 1) return "errors: " + std::to_string(c.size());
  return c[0];
}

Tags tags_of(simdjson::dom::element e) {
  Tags t;
  simdjson::dom::object o;
  if (e.get(o)) return t;
  for (auto f : o) t.emplace_back(std::string(f.key), std::string(f.value.get_string().value()));
  return t;
}

void check_case(const fs::path& dir, std::set<std::string>& covered) {
  INFO("case " << dir.filename().string());
  simdjson::dom::parser parser;
  auto exp_text = golden::read_file(dir / "expected.json");
  simdjson::dom::element exp;
  REQUIRE(parser.parse(exp_text).get(exp) == simdjson::SUCCESS);
  auto vector = golden::str(exp, "vector");
  REQUIRE_FALSE(vector.empty());
  covered.insert(vector);
  auto text = golden::read_file(golden::vectors_dir() / vector);
  auto req = parse_request(text);
  REQUIRE_FALSE(req.body.empty());
  if (auto cl = req.header("content-length"); !cl.empty()) CHECK(std::stoull(cl) == req.body.size());

  simdjson::dom::object extra;
  if (!exp["headers"].get(extra))
    for (auto f : extra) req.headers.emplace_back(lower(std::string(f.key)), std::string(f.value.get_string().value()));
  Options o;
  simdjson::dom::object opts;
  if (!exp["options"].get(opts))
    for (auto f : opts) {
      if (f.key == "device_field") o.device_field = std::string(f.value.get_string().value());
      else if (f.key == "time_field") o.time_field = std::string(f.value.get_string().value());
      else if (f.key == "numeric_strings") o.numeric_strings = f.value.get_bool().value();
      else if (f.key == "format") o.format = *http_push::parse_format(f.value.get_string().value());
      else FAIL("unknown option " << f.key);
    }
  auto received = golden::time_of(exp, "received");
  REQUIRE(received == kNow);

  http_push::Stats stats;
  auto out = dec(req.body, o, req.headers, &stats);

  std::vector<std::string> want_errors;
  simdjson::dom::array errs;
  if (!exp["errors"].get(errs))
    for (auto e : errs) want_errors.emplace_back(e.get_string().value());
  CHECK(codes(out) == want_errors);
  std::uint64_t fallbacks = 0;
  if (exp["time_fallbacks"].get(fallbacks) != simdjson::SUCCESS) fallbacks = 0;
  CHECK(stats.time_fallbacks == fallbacks);

  simdjson::dom::array rows = exp["readings"].get_array().value();
  REQUIRE(out.readings.size() == rows.size());
  if (out.readings.empty()) return;
  auto device = golden::str(exp, "device");
  auto observed = golden::str(exp, "observed") == "received" ? received : golden::time_of(exp, "observed");
  auto q = std::uint32_t(exp["quality"].get_uint64().value());
  auto common = tags_of(exp["tags"].value());
  std::size_t i = 0;
  for (auto row_el : rows) {
    auto row = row_el.get_array().value();
    const auto& r = out.readings[i++];
    std::string metric(row.at(0).get_string().value());
    INFO("reading " << i - 1 << " expected " << metric << " got " << r.metric << " = " << golden::describe(r.value));
    CHECK(r.metric == metric);
    CHECK(r.value == golden::expected_value(row.at(1).get_string().value(), row.at(2).value()));
    CHECK(r.unit == std::string(row.at(3).get_string().value()));
    CHECK(r.device == device);
    CHECK(r.observed == observed);
    CHECK(r.received == received);
    CHECK(r.quality == q);
    CHECK_FALSE(r.src_seq.has_value());
    Tags want = common;
    simdjson::dom::element extra_tags;
    if (!row.at(4).get(extra_tags)) {
      auto t = tags_of(extra_tags);
      want.insert(want.end(), t.begin(), t.end());
    }
    std::sort(want.begin(), want.end());
    CHECK(r.tags == want);
  }
}

Options with_format(Format f) {
  Options o;
  o.format = f;
  return o;
}

}  // namespace

TEST_CASE("http_push: golden cases over the shared vectors", "[http_push]") {
  std::set<std::string> covered;
  auto dirs = golden::case_dirs(HTTP_PUSH_CASES_DIR);
  REQUIRE(dirs.size() >= 11);
  for (const auto& d : dirs) check_case(d, covered);
  // Every sensor.community and generic JSON vector has at least one case.
  for (const char* folder : {"sensor_community", "generic_json"})
    for (const auto& e : fs::directory_iterator(golden::vectors_dir() / folder)) {
      auto rel = std::string(folder) + "/" + e.path().filename().string();
      INFO(rel);
      CHECK(covered.count(rel) == 1);
    }
}

TEST_CASE("http_push: numbers with and without a unit suffix", "[http_push]") {
  using http_push::parse_quantity;
  auto is = [](std::string_view text, Value v, std::string unit) {
    INFO("'" << text << "'");
    auto q = parse_quantity(text);
    REQUIRE(q);
    CHECK(q->value == v);
    CHECK(q->unit == unit);
  };
  is("-59 dBm", std::int64_t{-59}, "dBm");
  is("1.5e3 Pa", 1500.0, "Pa");
  is("12", std::int64_t{12}, "");
  is(" 7 ", std::int64_t{7}, "");
  is("4.30", 4.30, "");
  is("+5", std::int64_t{5}, "");
  is("0", std::int64_t{0}, "");
  is("-0.5", -0.5, "");
  is("1e5", 1e5, "");
  is("2E-3 m", 2e-3, "m");
  is("20.5 \xC2\xB0" "C", 20.5, "Cel");
  is("20.5\xC2\xB0" "C", 20.5, "Cel");
  is("50%", std::int64_t{50}, "%");
  is("3.2 \xC2\xB5g/m\xC2\xB3", 3.2, "ug/m3");
  is("3 m/s", std::int64_t{3}, "m/s");
  is("9223372036854775807", std::int64_t{INT64_MAX}, "");
  is("18446744073709551615", std::uint64_t{UINT64_MAX}, "");
  is("-9223372036854775809", -9223372036854775809.0, "");
  for (std::string_view bad : {"abc", "", "  ", "-", "+", "007", "0004a30b001c0530", ".5", "5.", "4/5", "12V",
                               "1e", "inf", "nan", "NaN", "0x1F", "1e999", "24e1641092176759", "24e124fffef021be",
                               "1 2", "1 dBm extra", "1,5", "1.5.3", "--1", "1 \"x\"",
                               "1 abcdefghijklmnopqrstuvwxyzabcdefghij"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_quantity(bad).has_value());
  }
}

TEST_CASE("http_push: sensor.community values and headers", "[http_push]") {
  auto body = [](std::string values, std::string extra = "") {
    return R"({"esp8266id":"42",)" + extra + R"("sensordatavalues":[)" + values + "]}";
  };
  SECTION("unit suffix wins over the value_type's unit; unknown types keep text") {
    auto out = dec(body(R"({"value_type":"signal","value":"-59 dBm"},{"value_type":"temperature","value":"68 )"
                        "\xC2\xB0" R"(F"},{"value_type":"GPS_timestamp","value":"2024-05-01T10:00:00"})"));
    REQUIRE(out.errors.empty());
    REQUIRE(out.readings.size() == 3);
    CHECK(out.readings[0].value == Value(std::int64_t{-59}));
    CHECK(out.readings[0].unit == "dBm");
    CHECK(out.readings[1].unit == "[degF]");
    CHECK(out.readings[2].value == Value(std::string("2024-05-01T10:00:00")));
    CHECK(out.readings[2].unit.empty());
    CHECK(out.readings[0].device == "esp8266-42");
  }
  SECTION("garbage in a numeric value_type is an error; the other entries are kept") {
    auto out = dec(body(R"({"value_type":"SDS_P1","value":"abc"},{"value_type":"SDS_P2","value":"3.5"},)"
                        R"({"value_type":"humidity","value":true},{"value_type":"P0","value":null})"));
    CHECK(codes(out) == std::vector<std::string>{"http_push.value", "http_push.value"});
    CHECK(out.errors[0].message.find("sensordatavalues[0] (SDS_P1)") != std::string::npos);
    REQUIRE(out.readings.size() == 1);
    CHECK(out.readings[0].metric == "SDS_P2");
  }
  SECTION("malformed entries") {
    auto out = dec(body(R"(1,{"value":"1"},{"value_type":"","value":"1"},{"value_type":"x"},{"value_type":"x","value":"1"})"));
    CHECK(codes(out) == std::vector<std::string>(4, "http_push.record"));
    REQUIRE(out.readings.size() == 1);
    CHECK(out.readings[0].value == Value(std::int64_t{1}));
  }
  SECTION("sensordatavalues must be an array") {
    CHECK(only_code(dec(R"({"esp8266id":"1","sensordatavalues":{}})")) == "http_push.sensordatavalues");
    CHECK(only_code(dec(R"({"esp8266id":"1","x":1})", with_format(Format::sensor_community))) ==
          "http_push.sensordatavalues");
  }
  SECTION("X-Sensor wins over esp8266id; Sensor and Node are accepted too") {
    auto b = body(R"({"value_type":"P1","value":"1"})");
    CHECK(dec(b, {}, {{"x-sensor", "esp8266-7"}}).readings.at(0).device == "esp8266-7");
    CHECK(dec(b, {}, {{"sensor", "esp8266-8"}}).readings.at(0).device == "esp8266-8");
    CHECK(dec(b, {}, {{"node", "esp32-9"}}).readings.at(0).device == "esp32-9");
    CHECK(dec(b, {}, {{"x-sensor", " "}}).readings.at(0).device == "esp8266-42");
    CHECK(dec(R"({"esp8266id":1234,"sensordatavalues":[{"value_type":"P1","value":"1"}]})").readings.at(0).device ==
          "esp8266-1234");
    CHECK(only_code(dec(b, {}, {{"x-sensor", std::string(200, 'a')}})) == "http_push.bad_device");
  }
  SECTION("X-PIN: 0 keeps the metric; n prefixes it; garbage is refused") {
    auto b = body(R"({"value_type":"temperature","value":"1"})");
    CHECK(dec(b, {}, {{"x-pin", "0"}}).readings.at(0).metric == "temperature");
    auto r = dec(b, {}, {{"x-pin", "11"}}).readings.at(0);
    CHECK(r.metric == "pin11_temperature");
    CHECK(r.unit == "Cel");
    CHECK(dec(b, {}, {{"pin", "7"}}).readings.at(0).metric == "pin7_temperature");
    CHECK(only_code(dec(b, {}, {{"x-pin", "abc"}})) == "http_push.pin");
  }
  SECTION("timestamp: epoch numbers; unreadable text keeps the receive time with a tag") {
    auto b = body(R"({"value_type":"P1","value":"1"})", R"("timestamp":1700000000,)");
    auto r = dec(b).readings.at(0);
    CHECK(r.observed == from_unix_ns(1'700'000'000'000'000'000));
    CHECK(r.quality == quality::kNone);
    http_push::Stats stats;
    auto bad = dec(body(R"({"value_type":"P1","value":"1"})", R"("timestamp":"yesterday",)"), {}, {}, &stats);
    REQUIRE(bad.errors.empty());
    CHECK(bad.readings.at(0).observed == kNow);
    CHECK(bad.readings.at(0).quality == quality::kTimeFromGateway);
    CHECK(bad.readings.at(0).tags == Tags{{"bad_time", "yesterday"}});
    CHECK(stats.time_fallbacks == 1);
  }
}

TEST_CASE("http_push: generic JSON objects and arrays", "[http_push]") {
  SECTION("device and time members are not readings; nested members are flattened") {
    auto out = dec(R"({"device":"d1","ts":1700000000123,"pm":{"p25":"12.5 ug/m3","ok":true},"n":null,"id":"007"})");
    REQUIRE(out.errors.empty());
    REQUIRE(out.readings.size() == 3);
    CHECK(out.readings[0].metric == "pm.p25");
    CHECK(out.readings[0].value == Value(12.5));
    CHECK(out.readings[0].unit == "ug/m3");
    CHECK(out.readings[1].value == Value(true));
    CHECK(out.readings[2].value == Value(std::string("007")));
    for (const auto& r : out.readings) {
      CHECK(r.device == "d1");
      CHECK(r.observed == from_unix_ns(1'700'000'000'123'000'000));
      CHECK(r.quality == quality::kNone);
      CHECK(r.received == kNow);
    }
  }
  SECTION("RFC 3339 time and an integer device id") {
    auto out = dec(R"({"device":17,"ts":"2024-05-01T12:00:00+02:00","v":1})");
    REQUIRE(out.readings.size() == 1);
    CHECK(out.readings[0].device == "17");
    CHECK(out.readings[0].observed == *parse_rfc3339("2024-05-01T10:00:00Z"));
  }
  SECTION("the X-Device-Id header names the device when the body does not") {
    auto out = dec(R"({"v":1})", {}, {{"x-device-id", "hdr-1"}});
    REQUIRE(out.readings.size() == 1);
    CHECK(out.readings[0].device == "hdr-1");
    CHECK(out.readings[0].quality == quality::kTimeFromGateway);
    CHECK(out.readings[0].observed == kNow);
    CHECK(only_code(dec(R"({"v":1})")) == "http_push.no_device");
    CHECK(only_code(dec(R"({"device":{"a":1},"v":1})")) == "http_push.bad_device");
    CHECK(only_code(dec(R"({"device":"d"})")) == "http_push.no_values");
  }
  SECTION("numeric_strings = false keeps text as sent") {
    Options o;
    o.numeric_strings = false;
    auto out = dec(R"({"device":"d","v":"12"})", o);
    REQUIRE(out.readings.size() == 1);
    CHECK(out.readings[0].value == Value(std::string("12")));
  }
  SECTION("an array body: each object on its own; a bad one does not drop the others") {
    auto out = dec(R"([{"device":"a","v":1},{"v":2},3,{"esp8266id":"5","sensordatavalues":[{"value_type":"P2","value":"4"}]}])");
    CHECK(codes(out) == std::vector<std::string>{"http_push.no_device", "http_push.not_object"});
    CHECK(out.errors[0].message.rfind("[1] ", 0) == 0);
    CHECK(out.errors[1].message.rfind("[2] ", 0) == 0);
    REQUIRE(out.readings.size() == 2);
    CHECK(out.readings[0].device == "a");
    CHECK(out.readings[1].device == "esp8266-5");
    CHECK(out.readings[1].unit == "ug/m3");
    auto empty = dec("[]");
    CHECK(empty.errors.empty());
    CHECK(empty.readings.empty());
  }
  SECTION("format json treats a sensor.community body as plain JSON") {
    auto out = dec(R"({"device":"d","sensordatavalues":[{"value_type":"P1","value":"1"}]})", with_format(Format::json));
    REQUIRE(out.errors.empty());
    REQUIRE(out.readings.size() == 2);
    CHECK(out.readings[0].metric == "sensordatavalues.0.value_type");
  }
}

TEST_CASE("http_push: SenML bodies are delegated by Content-Type or format", "[http_push]") {
  std::string pack = R"([{"bn":"urn:dev:x:","n":"t","u":"Cel","v":21.5,"t":1700000000}])";
  auto check = [](const DecodeOutput& out) {
    REQUIRE(out.errors.empty());
    REQUIRE(out.readings.size() == 1);
    CHECK(out.readings[0].device == "urn:dev:x");
    CHECK(out.readings[0].metric == "t");
    CHECK(out.readings[0].unit == "Cel");
    CHECK(out.readings[0].observed == from_unix_ns(1'700'000'000'000'000'000));
  };
  check(dec(pack, {}, {{"content-type", "application/senml+json"}}));
  check(dec(pack, {}, {{"content-type", "Application/SenML+JSON; charset=utf-8"}}));
  check(dec(pack, with_format(Format::senml)));
  // [{-2: "urn:dev:x:", 0: "t", 1: "Cel", 2: 21.5, 6: 1700000000}] in CBOR
  using namespace std::string_literals;
  auto cbor = "\x81\xa5\x21\x6aurn:dev:x:\x00\x61t\x01\x63"
              "Cel\x02\xfb\x40\x35\x80\x00\x00\x00\x00\x00\x06\x1a\x65\x53\xf1\x00"s;
  check(dec(cbor, {}, {{"content-type", "application/senml+cbor"}}));
  // Without its media type a SenML pack is generic JSON: records name no device.
  CHECK(codes(dec(pack)) == std::vector<std::string>{"http_push.no_device"});
  CHECK(only_code(dec("[{\"n\":\"x\",\"v\":1,\"v\":2}]", with_format(Format::senml))).rfind("http_push.", 0) == 0);
  CHECK(only_code(dec("not senml", with_format(Format::senml))) == "http_push.format");
}

TEST_CASE("http_push: malformed bodies get one clear error and no readings", "[http_push]") {
  CHECK(only_code(dec("")) == "http_push.empty");
  CHECK(only_code(dec(" \r\n")) == "http_push.empty");
  CHECK(only_code(dec("{\"device\":\"d\",")) == "http_push.json");
  CHECK(only_code(dec("{\"device\":\"d\",\"v\":1}{")) == "http_push.json");
  CHECK(only_code(dec("\xff\xfe")) == "http_push.json");
  CHECK(only_code(dec("42")) == "http_push.not_object");
  CHECK(only_code(dec("\"x\"")) == "http_push.not_object");
  // 10k-deep nesting stops at the parse; 20 levels at the flattener; both are "depth".
  CHECK(only_code(dec(std::string(10000, '[') + std::string(10000, ']'))) == "http_push.depth");
  std::string deep = "{\"device\":\"d\",\"a\":";
  for (int i = 0; i < 20; ++i) deep += "{\"a\":";
  deep += "1" + std::string(21, '}');
  CHECK(only_code(dec(deep)) == "http_push.depth");
  for (const auto& s : {dec("{}"), dec("[1]")}) CHECK(s.readings.empty());
}

TEST_CASE("http_push: limits refuse the whole request", "[http_push]") {
  Options o;
  o.max_body_bytes = 32;
  auto big = dec(R"({"device":"d","v":1,"w":2,"x":3,"y":4})", o);
  CHECK(only_code(big) == "http_push.too_large");
  CHECK(big.readings.empty());

  Options few;
  few.max_readings = 3;
  auto many = dec(R"([{"device":"a","v":1,"w":2},{"device":"b","v":1,"w":2}])", few);
  CHECK(only_code(many) == "http_push.too_many_values");
  CHECK(many.readings.empty());
  auto sc = dec(R"({"esp8266id":"1","sensordatavalues":[{"value_type":"a","value":"1"},{"value_type":"b","value":"1"},)"
                R"({"value_type":"c","value":"1"},{"value_type":"d","value":"1"}]})",
                few);
  CHECK(only_code(sc) == "http_push.too_many_values");
  CHECK(sc.readings.empty());
  auto ok = dec(R"([{"device":"a","v":1},{"device":"b","v":1,"w":2}])", few);
  CHECK(ok.errors.empty());
  CHECK(ok.readings.size() == 3);

  // A body full of bad entries lists 20 errors and counts the rest in one more.
  std::string bad = R"({"esp8266id":"1","sensordatavalues":[)";
  for (int i = 0; i < 100; ++i) bad += std::string(i ? "," : "") + R"({"value_type":"P1","value":"x"})";
  bad += "]}";
  auto lots = dec(bad);
  REQUIRE(lots.errors.size() == 21);
  CHECK(lots.errors.back().code == "http_push.more_errors");
  CHECK(lots.errors.back().message == "80 more errors not listed");
}

TEST_CASE("http_push: mutated vector bodies never crash", "[http_push]") {
  std::vector<std::string> seeds;
  for (const char* folder : {"sensor_community", "generic_json"})
    for (const auto& e : fs::directory_iterator(golden::vectors_dir() / folder))
      seeds.push_back(parse_request(golden::read_file(e.path())).body);
  std::uint32_t x = 12345;
  auto rnd = [&] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  Headers h{{"x-sensor", "esp8266-1"}, {"x-device-id", "d"}};
  std::size_t decoded = 0;
  for (int i = 0; i < 3000; ++i) {
    auto s = seeds[rnd() % seeds.size()];
    int edits = 1 + static_cast<int>(rnd() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      auto pos = rnd() % s.size();
      switch (rnd() % 3) {
        case 0: s[pos] = static_cast<char>(rnd()); break;
        case 1: s.erase(pos, 1 + rnd() % 8); break;
        default: s.insert(pos, 1, "{}[]\",:0-e. "[rnd() % 12]); break;
      }
    }
    auto out = dec(s, {}, h);
    decoded += out.readings.size();
    for (const auto& r : out.readings) CHECK_FALSE(r.device.empty());
  }
  CHECK(decoded > 0);
}
