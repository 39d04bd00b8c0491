#include <catch2/catch.hpp>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "senml/senml_codec.hpp"

namespace cg {
const AdapterDescriptor& senml_descriptor();
}

namespace {

namespace fs = std::filesystem;
using namespace cg;
using Bytes8 = std::vector<std::uint8_t>;

const fs::path kVectors = fs::path(CITYGATE_SHARED_DIR) / "vectors" / "senml";
const fs::path kCases = fs::path(CITYGATE_SOURCE_DIR) / "adapters" / "senml" / "tests" / "cases";
const TimeNs kReceived = from_unix_ns(1'700'000'000'123'000'000);

Bytes8 slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f.good());
  return Bytes8(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

Bytes8 bytes(std::string_view s) { return Bytes8(s.begin(), s.end()); }

Result<std::vector<Reading>> dec(const Bytes8& b, const senml::CodecOptions& o = {}) {
  return senml::decode(b, kReceived, o);
}

// "ok" or the rejection code.
std::string code_of(const Bytes8& b, const senml::CodecOptions& o = {}) {
  auto r = dec(b, o);
  if (r) return "ok";
  CHECK(r.error().disposition == Disposition::reject);
  return r.error().code;
}

std::string hex(const std::vector<std::uint8_t>& d) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (auto c : d) {
    s += k[c >> 4];
    s += k[c & 15];
  }
  return s;
}

void check_expected(const std::vector<Reading>& got, const fs::path& expected_file) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.load(expected_file.string()).get(doc) == simdjson::SUCCESS);
  simdjson::dom::array want = doc["readings"].get_array().value();
  REQUIRE(got.size() == want.size());
  std::size_t i = 0;
  for (auto w : want) {
    const Reading& r = got[i++];
    INFO("reading " << i - 1 << " of " << expected_file);
    CHECK(r.device == std::string(w["device"].get_string().value()));
    CHECK(r.metric == std::string(w["metric"].get_string().value()));
    CHECK(r.unit == std::string(w["unit"].get_string().value()));
    CHECK(r.received == kReceived);
    std::string_view type = w["type"].get_string().value();
    auto v = w["value"];
    if (type == "f64") {
      REQUIRE(std::holds_alternative<double>(r.value));
      CHECK(std::get<double>(r.value) == v.get_double().value());
    } else if (type == "i64") {
      REQUIRE(std::holds_alternative<std::int64_t>(r.value));
      CHECK(std::get<std::int64_t>(r.value) == v.get_int64().value());
    } else if (type == "string") {
      REQUIRE(std::holds_alternative<std::string>(r.value));
      CHECK(std::get<std::string>(r.value) == std::string(v.get_string().value()));
    } else if (type == "bool") {
      REQUIRE(std::holds_alternative<bool>(r.value));
      CHECK(std::get<bool>(r.value) == v.get_bool().value());
    } else if (type == "bytes") {
      REQUIRE(std::holds_alternative<cg::Bytes>(r.value));
      CHECK(hex(std::get<cg::Bytes>(r.value).data) == std::string(v.get_string().value()));
    } else {
      FAIL("unknown type in expected.json: " << type);
    }
    auto obs = w["observed"];
    if (obs.is_string()) {
      REQUIRE(std::string(obs.get_string().value()) == "now");
      CHECK(r.observed == kReceived);
      CHECK((r.quality & quality::kTimeFromGateway) != 0);
    } else {
      CHECK(r.observed == from_unix_ns(obs.get_int64().value() * 1'000'000'000));
      CHECK((r.quality & quality::kTimeFromGateway) == 0);
    }
  }
}

std::vector<fs::path> vector_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kVectors))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("senml: golden RFC 8428 vectors decode to the expected readings", "[senml]") {
  auto files = vector_files();
  REQUIRE(files.size() >= 6);
  for (const auto& f : files) {
    INFO(f);
    auto expected = kCases / f.stem() / "expected.json";
    REQUIRE(fs::exists(expected));  // every vector needs its expected data
    auto r = dec(slurp(f));
    if (!r) FAIL(r.error().code << ": " << r.error().message);
    check_expected(*r, expected);
  }
}

TEST_CASE("senml: CBOR twins decode to the same readings as their JSON vectors", "[senml]") {
  int twins = 0;
  for (const auto& f : vector_files()) {
    auto cbor = kCases / f.stem() / "pack.cbor";
    if (!fs::exists(cbor)) continue;
    INFO(cbor);
    auto payload = slurp(cbor);
    REQUIRE(senml::detect_format(payload) == senml::Format::cbor);
    auto from_json = dec(slurp(f));
    auto from_cbor = dec(payload);
    REQUIRE(from_json);
    if (!from_cbor) FAIL(from_cbor.error().code << ": " << from_cbor.error().message);
    CHECK(*from_cbor == *from_json);
    check_expected(*from_cbor, kCases / f.stem() / "expected.json");
    ++twins;
  }
  CHECK(twins >= 6);
}

TEST_CASE("senml: 5.1.3 resolves to exactly the records of 5.1.4", "[senml]") {
  auto a = senml::resolve(slurp(kVectors / "rfc8428_5.1.3_multiple_measurements.json"), {});
  auto b = senml::resolve(slurp(kVectors / "rfc8428_5.1.4_resolved_data.json"), {});
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->size() == 13);
  REQUIRE(b->size() == 13);
  for (std::size_t i = 0; i < 13; ++i) {
    INFO(i);
    CHECK((*a)[i].name == (*b)[i].name);
    CHECK((*a)[i].unit == (*b)[i].unit);
    CHECK((*a)[i].value == (*b)[i].value);
    CHECK((*a)[i].time_s == (*b)[i].time_s);
  }
}

TEST_CASE("senml: resolution rules", "[senml]") {
  SECTION("relative and absolute times") {
    auto r = dec(bytes(R"([{"n":"x","v":1,"t":-5},{"n":"y","v":2,"bt":1.7e9,"t":0.25}])"));
    REQUIRE(r);
    REQUIRE(r->size() == 2);
    CHECK((*r)[0].observed == kReceived - std::chrono::seconds(5));
    CHECK((*r)[0].quality == quality::kTimeFromGateway);
    CHECK((*r)[1].observed == from_unix_ns(1'700'000'000'250'000'000));
    CHECK((*r)[1].quality == quality::kNone);
  }
  SECTION("base value, base sum, integers stay integers") {
    auto r = dec(bytes(R"([{"bn":"dev/","bv":10,"n":"a","v":5},{"n":"b","v":0.5},{"n":"e","bs":5,"s":10}])"));
    REQUIRE(r);
    REQUIRE(r->size() == 3);
    CHECK((*r)[0].device == "dev");
    CHECK((*r)[0].value == Value(std::int64_t{15}));
    CHECK((*r)[1].value == Value(10.5));
    CHECK((*r)[2].metric == "e.sum");
    CHECK((*r)[2].value == Value(std::int64_t{15}));
  }
  SECTION("value and sum in one record give two readings; bn only gives metric 'value'") {
    auto r = dec(bytes(R"([{"bn":"meter1:","v":3.5,"s":100,"u":"kWh"}])"));
    REQUIRE(r);
    REQUIRE(r->size() == 2);
    CHECK((*r)[0].device == "meter1");
    CHECK((*r)[0].metric == "value");
    CHECK((*r)[1].metric == "value.sum");
    CHECK((*r)[1].unit == "kWh");
  }
  SECTION("unknown fields ignored, bver 10 accepted, empty pack is fine") {
    auto r = dec(bytes(R"([{"bver":10,"n":"x","v":1,"foo":{"deep":[1,2]},"ut":5}])"));
    REQUIRE(r);
    CHECK(r->size() == 1);
    auto e = dec(bytes(" \n[]"));
    REQUIRE(e);
    CHECK(e->empty());
  }
  SECTION("CBOR accepts text labels and negative integers") {
    // [{"n": "x", -5: 10, 2: -3}]  -> bv 10 + v -3
    Bytes8 b{0x81, 0xa3, 0x61, 'n', 0x61, 'x', 0x24, 0x0a, 0x02, 0x22};
    auto r = dec(b);
    if (!r) FAIL(r.error().code << ": " << r.error().message);
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].value == Value(std::int64_t{7}));
  }
  SECTION("base64url") {
    CHECK(senml::base64url_decode("aGkgCg") == std::vector<std::uint8_t>{0x68, 0x69, 0x20, 0x0a});
    CHECK(senml::base64url_decode("-_8") == std::vector<std::uint8_t>{0xfb, 0xff});
    CHECK(!senml::base64url_decode("aGk="));
    CHECK(!senml::base64url_decode("a+b/"));
    CHECK(!senml::base64url_decode("aGkgC"));
  }
}

TEST_CASE("senml: malformed JSON packs are rejected with their code", "[senml]") {
  CHECK(code_of(bytes(R"([{"bver":11,"n":"x","v":1}])")) == "bver");
  CHECK(code_of(bytes(R"([{"n":"x","v":1,"foo_":2}])")) == "must_understand");
  CHECK(code_of(bytes(R"([{"n":"x","v":1,"vs":"a"}])")) == "two_values");
  CHECK(code_of(bytes(R"([{"v":1}])")) == "no_name");
  CHECK(code_of(bytes(R"([{"n":"ok","v":1},{"v":2}])")) == "no_name");  // whole pack rejected
  CHECK(code_of(bytes(R"([{"n":"x","vd":"aGk="}])")) == "bad_base64");
  CHECK(code_of(bytes(R"([{"n":"x","vd":"a+b/"}])")) == "bad_base64");
  CHECK(code_of(bytes(R"([{"n":"-x","v":1}])")) == "bad_name");
  CHECK(code_of(bytes(R"([{"n":"x","v":"1"}])")) == "field_type");
  CHECK(code_of(bytes(R"([{"n":"x","v":1,"v":2}])")) == "duplicate_field");
  CHECK(code_of(bytes(R"([{"n":"x","v":1,"t":1e300}])")) == "time");
  CHECK(code_of(bytes(R"([1])")) == "not_record");
  CHECK(code_of(bytes(R"([{"n":"x","v":1})")) == "json");
  CHECK(code_of(bytes(R"({"n":"x"})")) == "format");
  CHECK(code_of(bytes("")) == "format");
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  senml::CodecOptions big;
  big.max_payload_bytes = 1 << 20;
  CHECK(code_of(bytes(deep), big) == "depth");
  CHECK(code_of(bytes(deep)) == "depth");
  senml::CodecOptions small;
  small.max_payload_bytes = 100;
  CHECK(code_of(bytes(std::string(200, ' ') + "[]"), small) == "too_large");
  senml::CodecOptions two;
  two.max_records = 2;
  CHECK(code_of(bytes(R"([{"n":"a","v":1},{"n":"b","v":1},{"n":"c","v":1}])"), two) == "too_many_records");
}

TEST_CASE("senml: malformed CBOR packs are rejected with their code", "[senml]") {
  senml::CodecOptions big;
  big.max_payload_bytes = 1 << 20;
  SECTION("truncated") {
    auto full = slurp(kCases / "rfc8428_5.1.5_multiple_data_types" / "pack.cbor");
    for (std::size_t n = 1; n < full.size(); ++n) {
      Bytes8 cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      auto c = code_of(cut);
      INFO(n << " bytes: " << c);
      CHECK((c == "cbor" || c == "too_large"));
    }
    Bytes8 half(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(full.size() / 2));
    CHECK(code_of(half) == "cbor");
    Bytes8 trailing = full;
    trailing.push_back(0x00);
    CHECK(code_of(trailing) == "cbor");
  }
  SECTION("indefinite-length bombs") {
    CHECK(code_of(Bytes8(100000, 0x9f), big) == "depth");
    Bytes8 many{0x9f};
    many.insert(many.end(), 60000, 0xa0);  // 60000 empty maps, never closed
    CHECK(code_of(many, big) == "too_many_items");
    Bytes8 chunks{0x81, 0xa1, 0x08, 0x5f};
    chunks.insert(chunks.end(), 60000, 0x40);  // 60000 empty chunks of one byte string
    CHECK(code_of(chunks, big) == "too_many_items");
    CHECK(code_of(Bytes8{0x9f, 0xff, 0xff}) == "cbor");  // break without an open item
  }
  SECTION("10k-deep nesting") {
    Bytes8 deep(10000, 0x81);
    deep.push_back(0x80);
    CHECK(code_of(deep) == "depth");
  }
  SECTION("huge declared lengths") {
    CHECK(code_of(Bytes8{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) == "too_large");
    CHECK(code_of(Bytes8{0x81, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) == "too_large");
    CHECK(code_of(Bytes8{0x81, 0xa1, 0x00, 0x7b, 0, 0, 0, 0x10, 0, 0, 0, 0, 'x'}) == "cbor");
    CHECK(code_of(Bytes8{0x81, 0xa1, 0x08, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) == "cbor");
    senml::CodecOptions two;
    two.max_records = 2;
    CHECK(code_of(Bytes8{0x83, 0xa0, 0xa0, 0xa0}, two) == "too_many_records");
  }
  SECTION("semantic errors") {
    // [{-1: 11, 0: "x", 2: 1}]
    CHECK(code_of(Bytes8{0x81, 0xa3, 0x20, 0x0b, 0x00, 0x61, 'x', 0x02, 0x01}) == "bver");
    // [{0: "x", 2: 1, "foo_": 1}]
    CHECK(code_of(Bytes8{0x81, 0xa3, 0x00, 0x61, 'x', 0x02, 0x01, 0x64, 'f', 'o', 'o', '_', 0x01}) ==
          "must_understand");
    // [{0: "x", 2: 1, 4: true}]
    CHECK(code_of(Bytes8{0x81, 0xa3, 0x00, 0x61, 'x', 0x02, 0x01, 0x04, 0xf5}) == "two_values");
    // [{2: 1}]
    CHECK(code_of(Bytes8{0x81, 0xa1, 0x02, 0x01}) == "no_name");
    // [{0: "x", 8: "aGk="}]: vd must be a byte string in CBOR
    CHECK(code_of(Bytes8{0x81, 0xa2, 0x00, 0x61, 'x', 0x08, 0x64, 'a', 'G', 'k', '='}) == "field_type");
  }
  SECTION("mutated twins never crash") {
    auto base = slurp(kCases / "rfc8428_5.1.5_multiple_data_types" / "pack.cbor");
    std::uint32_t s = 12345;
    for (int i = 0; i < 5000; ++i) {
      Bytes8 m = base;
      for (int k = 0; k < 3; ++k) {
        s = s * 1664525u + 1013904223u;
        m[(s >> 8) % m.size()] = static_cast<std::uint8_t>(s >> 24);
      }
      (void)dec(m);
    }
  }
}

TEST_CASE("senml: adapter descriptor and config", "[senml]") {
  const auto& d = senml_descriptor();
  CHECK(d.kind == "senml");
  std::vector<std::string> names;
  for (const auto& k : d.keys) names.emplace_back(k.name);
  CHECK(names == std::vector<std::string>{"broker", "topics", "qos", "http_path", "http_token_file",
                                          "max_payload_bytes", "max_records"});
  auto cfg = [](std::vector<std::string> topics, std::int64_t qos) {
    std::map<std::string, ConfigValue, std::less<>> v;
    v["broker"] = std::string("local");
    v["topics"] = std::move(topics);
    v["qos"] = qos;
    v["max_payload_bytes"] = std::int64_t{65536};
    v["max_records"] = std::int64_t{1000};
    return ConfigView(std::move(v));
  };
  CHECK(d.make("s1", cfg({"senml/#", "city/+/senml"}, 1)));
  CHECK(!d.make("s1", cfg({"senml/#/x"}, 1)));
  CHECK(!d.make("s1", cfg({"senml/a+"}, 1)));
  CHECK(!d.make("s1", cfg({"senml/#"}, 2)));
  CHECK(!d.make("s1", cfg({}, 1)));
  // no transport at all: a config error
  CHECK(!d.make("s1", ConfigView({{"max_payload_bytes", std::int64_t{65536}}, {"max_records", std::int64_t{1000}}})));
  // HTTP only
  CHECK(d.make("s1", ConfigView({{"http_path", std::string("/ingest/senml")},
                                 {"max_payload_bytes", std::int64_t{65536}},
                                 {"max_records", std::int64_t{1000}}})));
  CHECK(!d.make("s1", ConfigView({{"http_path", std::string("ingest")},
                                  {"max_payload_bytes", std::int64_t{65536}},
                                  {"max_records", std::int64_t{1000}}})));
}
