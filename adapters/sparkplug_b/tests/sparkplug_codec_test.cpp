// The pure codec: topics, every datatype, arrays, data sets, templates, compression, bad bytes.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <bit>
#include <cstring>
#include <random>

#include "sparkplug_test_util.hpp"

using namespace cg;
using namespace cg::sparkplug;
using spt::metric;
using spt::PbMetric;
using spt::PbPayload;

namespace {

const CodecOptions kOpts{};

// One metric of datatype `t` through parse + expand.
std::vector<Leaf> leaves_of(const PbPayload& p, const CodecOptions& o = kOpts) {
  auto parsed = parse_payload(spt::wire(p), o);
  REQUIRE(parsed);
  REQUIRE(parsed->metrics.size() == 1);
  std::vector<Leaf> out;
  auto r = expand(parsed->metrics[0], parsed->metrics[0].datatype, out, o);
  if (!r) FAIL(r.error().code << ": " << r.error().message);
  return out;
}

std::string expand_error(const PbPayload& p, const CodecOptions& o = kOpts) {
  auto parsed = parse_payload(spt::wire(p), o);
  if (!parsed) return parsed.error().code;
  std::vector<Leaf> out;
  for (const auto& m : parsed->metrics)
    if (auto r = expand(m, m.datatype, out, o); !r) {
      CHECK(r.error().disposition == Disposition::reject);
      return r.error().code;
    }
  return "ok";
}

Value one(PbPayload p) {
  auto l = leaves_of(p);
  REQUIRE(l.size() == 1);
  CHECK(l[0].suffix.empty());
  return l[0].value;
}

PbPayload array(std::uint32_t t, std::vector<std::uint8_t> bytes) {
  auto p = spt::payload(1);
  metric(p, "a", 1, t)->set_bytes_value(std::string(bytes.begin(), bytes.end()));
  return p;
}

std::vector<Value> values(const std::vector<Leaf>& l) {
  std::vector<Value> v;
  for (std::size_t i = 0; i < l.size(); ++i) {
    CHECK(l[i].suffix == "[" + std::to_string(i) + "]");
    v.push_back(l[i].value);
  }
  return v;
}

std::vector<std::uint8_t> zlib_compress(const std::string& s, bool gzip) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, gzip ? 31 : 15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<std::uint8_t> out(deflateBound(&zs, s.size()) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = static_cast<uInt>(s.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

PbPayload compressed(const PbPayload& inner, bool gzip, const char* algorithm) {
  PbPayload outer;
  outer.set_uuid("SPBV1.0_COMPRESSED");
  auto z = zlib_compress(inner.SerializeAsString(), gzip);
  outer.set_body(std::string(z.begin(), z.end()));
  if (algorithm) metric(outer, "algorithm", std::nullopt, dt::kString)->set_string_value(algorithm);
  return outer;
}

}  // namespace

TEST_CASE("sparkplug_b topics: namespace levels and message types", "[sparkplug_b]") {
  auto n = parse_topic("spBv1.0/G 1/NDATA/edge node");
  REQUIRE(n);
  CHECK(n->type == MessageType::ndata);
  CHECK(n->device_key() == "G 1/edge node");
  auto d = parse_topic("spBv1.0/g/DDATA/n/d");
  REQUIRE(d);
  CHECK(d->device_key() == "g/n/d");
  auto s = parse_topic("spBv1.0/STATE/host-1");
  REQUIRE(s);
  CHECK(s->type == MessageType::state);
  CHECK(s->node == "host-1");
  for (const char* bad : {"", "spBv1.0", "spAv1.0/g/NDATA/n", "spBv1.0/g/NDATA", "spBv1.0/g/NDATA/n/d",
                          "spBv1.0/g/DDATA/n", "spBv1.0/g/DDATA/n/d/x", "spBv1.0/g/ndata/n", "spBv1.0/g/FOO/n",
                          "spBv1.0//NDATA/n", "spBv1.0/g/NDATA/", "spBv1.0/+/NDATA/n", "spBv1.0/g/NDATA/#",
                          "spBv1.0/STATE", "spBv1.0/STATE/h/x"}) {
    INFO(bad);
    auto r = parse_topic(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "sparkplug.topic");
  }
}

TEST_CASE("sparkplug_b codec: every scalar datatype", "[sparkplug_b]") {
  auto with = [](std::uint32_t t, auto set) {
    auto x = spt::payload(1);
    set(metric(x, "m", 1, t));
    return one(x);
  };
  // signed types: two's complement in uint32, or sign-extended into uint64 by some encoders
  CHECK(with(dt::kInt8, [](PbMetric* m) { m->set_int_value(0xFFu); }) == Value{std::int64_t{-1}});
  CHECK(with(dt::kInt8, [](PbMetric* m) { m->set_int_value(0xFFFFFF85u); }) == Value{std::int64_t{-123}});
  CHECK(with(dt::kInt8, [](PbMetric* m) { m->set_long_value(0xFFFFFFFFFFFFFF85ull); }) == Value{std::int64_t{-123}});
  CHECK(with(dt::kInt8, [](PbMetric* m) { m->set_int_value(127); }) == Value{std::int64_t{127}});
  CHECK(with(dt::kInt16, [](PbMetric* m) { m->set_int_value(0xFFFF8000u); }) == Value{std::int64_t{-32768}});
  CHECK(with(dt::kInt16, [](PbMetric* m) { m->set_int_value(12345); }) == Value{std::int64_t{12345}});
  CHECK(with(dt::kInt32, [](PbMetric* m) { m->set_int_value(0x80000000u); }) == Value{std::int64_t{INT32_MIN}});
  CHECK(with(dt::kInt32, [](PbMetric* m) { m->set_int_value(2147483647u); }) == Value{std::int64_t{INT32_MAX}});
  CHECK(with(dt::kInt64, [](PbMetric* m) { m->set_long_value(static_cast<std::uint64_t>(INT64_MIN)); }) ==
        Value{std::int64_t{INT64_MIN}});
  CHECK(with(dt::kInt64, [](PbMetric* m) { m->set_long_value(42); }) == Value{std::int64_t{42}});
  CHECK(with(dt::kUInt8, [](PbMetric* m) { m->set_int_value(255); }) == Value{std::uint64_t{255}});
  CHECK(with(dt::kUInt16, [](PbMetric* m) { m->set_int_value(65535); }) == Value{std::uint64_t{65535}});
  CHECK(with(dt::kUInt32, [](PbMetric* m) { m->set_int_value(4294967295u); }) == Value{std::uint64_t{4294967295u}});
  // the npm sparkplug-payload encodes UInt32 in long_value
  CHECK(with(dt::kUInt32, [](PbMetric* m) { m->set_long_value(70000); }) == Value{std::uint64_t{70000}});
  CHECK(with(dt::kUInt64, [](PbMetric* m) { m->set_long_value(UINT64_MAX); }) == Value{std::uint64_t{UINT64_MAX}});
  // Float reads as the decimal it was written as
  CHECK(with(dt::kFloat, [](PbMetric* m) { m->set_float_value(12.1f); }) == Value{12.1});
  CHECK(with(dt::kFloat, [](PbMetric* m) { m->set_float_value(-0.5f); }) == Value{-0.5});
  CHECK(with(dt::kFloat, [](PbMetric* m) { m->set_double_value(3.25); }) == Value{3.25});
  CHECK(with(dt::kDouble, [](PbMetric* m) { m->set_double_value(21.637864339427626); }) == Value{21.637864339427626});
  CHECK(with(dt::kBoolean, [](PbMetric* m) { m->set_boolean_value(true); }) == Value{true});
  CHECK(with(dt::kString, [](PbMetric* m) { m->set_string_value("Tool change \xE2\x86\x92 T15"); }) ==
        Value{std::string("Tool change \xE2\x86\x92 T15")});
  CHECK(with(dt::kText, [](PbMetric* m) { m->set_string_value("long text"); }) == Value{std::string("long text")});
  CHECK(with(dt::kUUID, [](PbMetric* m) { m->set_string_value("0b2d7e5c-5d86-4f4b-9b5c-0e4a1a6f7c11"); }) ==
        Value{std::string("0b2d7e5c-5d86-4f4b-9b5c-0e4a1a6f7c11")});
  CHECK(with(dt::kDateTime, [](PbMetric* m) { m->set_long_value(1486144502122); }) ==
        Value{std::int64_t{1486144502122}});
  CHECK(with(dt::kBytes, [](PbMetric* m) { m->set_bytes_value(std::string("\x00\x01\xff", 3)); }) ==
        Value{Bytes{{0x00, 0x01, 0xff}}});
  CHECK(with(dt::kFile, [](PbMetric* m) { m->set_bytes_value("hello"); }) == Value{Bytes{{'h', 'e', 'l', 'l', 'o'}}});
  // no datatype at all: inferred from the value's field
  CHECK(with(0, [](PbMetric* m) { m->set_int_value(7); }) == Value{std::uint64_t{7}});
  CHECK(with(0, [](PbMetric* m) { m->set_float_value(0.1f); }) == Value{0.1});
  CHECK(with(0, [](PbMetric* m) { m->set_string_value("x"); }) == Value{std::string("x")});

  SECTION("a value that does not fit its datatype is rejected") {
    auto x = spt::payload(1);
    metric(x, "m", 1, dt::kDouble)->set_string_value("12");
    CHECK(expand_error(x) == "sparkplug.value_type");
    auto y = spt::payload(1);
    metric(y, "m", 1, dt::kBoolean)->set_int_value(1);
    CHECK(expand_error(y) == "sparkplug.value_type");
    auto z = spt::payload(1);
    metric(z, "m", 1, 99)->set_int_value(1);
    CHECK(expand_error(z) == "sparkplug.datatype");
  }
  SECTION("null metrics and metrics without a value give nothing") {
    auto x = spt::payload(1);
    auto* m = metric(x, "m", 1, dt::kDouble);
    m->set_is_null(true);
    m->set_double_value(1.0);
    CHECK(leaves_of(x).empty());
    auto y = spt::payload(1);
    metric(y, "m", 1, dt::kDouble);
    CHECK(leaves_of(y).empty());
  }
  SECTION("strings must be UTF-8") {
    auto x = spt::payload(1);
    metric(x, "m", 1, dt::kString)->set_string_value("bad \xC3\x28");
    CHECK(expand_error(x) == "sparkplug.utf8");
    auto y = spt::payload(1);
    metric(y, "bad \xED\xA0\x80 surrogate", 1, dt::kBoolean)->set_boolean_value(true);
    CHECK(expand_error(y) == "sparkplug.utf8");
  }
}

TEST_CASE("sparkplug_b codec: array datatypes are packed little-endian", "[sparkplug_b]") {
  using V = std::vector<Value>;
  CHECK(values(leaves_of(array(dt::kInt8Array, {0xE9, 0x7B}))) == V{std::int64_t{-23}, std::int64_t{123}});
  CHECK(values(leaves_of(array(dt::kInt16Array, {0x34, 0x12, 0xFF, 0xFF}))) ==
        V{std::int64_t{0x1234}, std::int64_t{-1}});
  CHECK(values(leaves_of(array(dt::kInt32Array, {0x15, 0xCD, 0x5B, 0x07, 0x00, 0x00, 0x00, 0x80}))) ==
        V{std::int64_t{123456789}, std::int64_t{INT32_MIN}});
  CHECK(values(leaves_of(array(dt::kInt64Array, {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}))) ==
        V{std::int64_t{-2}});
  CHECK(values(leaves_of(array(dt::kUInt8Array, {0x00, 0xFF}))) == V{std::uint64_t{0}, std::uint64_t{255}});
  CHECK(values(leaves_of(array(dt::kUInt16Array, {0x01, 0x80}))) == V{std::uint64_t{0x8001}});
  CHECK(values(leaves_of(array(dt::kUInt32Array, {0x78, 0x56, 0x34, 0x12}))) == V{std::uint64_t{0x12345678}});
  CHECK(values(leaves_of(array(dt::kUInt64Array, {0x34, 0, 0, 0, 0, 0, 0, 0, 0xD9, 0x9E, 0x02, 0xD1, 0xB2, 0x76,
                                                   0x37, 0xE4}))) ==
        V{std::uint64_t{52}, std::uint64_t{16444743074749521625ull}});
  // 1.5f = 0x3FC00000, 12.1f shows as 12.1; -2.25 = 0xC002000000000000
  auto f121 = std::bit_cast<std::uint32_t>(12.1f);
  CHECK(values(leaves_of(array(dt::kFloatArray, {0x00, 0x00, 0xC0, 0x3F, static_cast<std::uint8_t>(f121),
                                                  static_cast<std::uint8_t>(f121 >> 8), static_cast<std::uint8_t>(f121 >> 16),
                                                  static_cast<std::uint8_t>(f121 >> 24)}))) == V{1.5, 12.1});
  CHECK(values(leaves_of(array(dt::kDoubleArray, {0, 0, 0, 0, 0, 0, 0x02, 0xC0}))) == V{-2.25});
  // the specification's example: 12 booleans, most significant bit first
  CHECK(values(leaves_of(array(dt::kBooleanArray, {0x0C, 0x00, 0x00, 0x00, 0x34, 0xD0}))) ==
        V{false, false, true, true, false, true, false, false, true, true, false, true});
  CHECK(values(leaves_of(array(dt::kBooleanArray, {0x00, 0x00, 0x00, 0x00}))).empty());
  CHECK(values(leaves_of(array(dt::kStringArray, {'A', 'B', 'C', 0, 'h', 'e', 'l', 'l', 'o', 0}))) ==
        V{std::string("ABC"), std::string("hello")});
  CHECK(values(leaves_of(array(dt::kStringArray, {'A', 0, 0, 'b'}))) ==
        V{std::string("A"), std::string(""), std::string("b")});  // a last unterminated one is accepted
  CHECK(values(leaves_of(array(dt::kStringArray, {}))).empty());
  CHECK(values(leaves_of(array(dt::kDateTimeArray, {0x6A, 0x5E, 0x1D, 0x05, 0x5A, 0x01, 0, 0}))) ==
        V{std::int64_t{1486144495210}});
  CHECK(values(leaves_of(array(dt::kInt32Array, {}))).empty());

  SECTION("element names and units") {
    auto p = array(dt::kUInt16Array, {1, 0, 2, 0});
    auto parsed = parse_payload(spt::wire(p), kOpts);
    REQUIRE(parsed);
    std::vector<Leaf> out;
    REQUIRE(expand(parsed->metrics[0], dt::kUInt16Array, out, kOpts));
    REQUIRE(out.size() == 2);
    CHECK(out[0].suffix == "[0]");
    CHECK(out[1].suffix == "[1]");
  }
  SECTION("malformed arrays are rejected") {
    CHECK(expand_error(array(dt::kInt16Array, {1, 2, 3})) == "sparkplug.array");
    CHECK(expand_error(array(dt::kInt32Array, {1, 2, 3, 4, 5})) == "sparkplug.array");
    CHECK(expand_error(array(dt::kDoubleArray, {1, 2, 3, 4, 5, 6, 7})) == "sparkplug.array");
    CHECK(expand_error(array(dt::kBooleanArray, {0x0C, 0x00, 0x00})) == "sparkplug.array");
    CHECK(expand_error(array(dt::kBooleanArray, {0x0C, 0x00, 0x00, 0x00, 0x34})) == "sparkplug.array");
    CHECK(expand_error(array(dt::kBooleanArray, {0x01, 0x00, 0x00, 0x00, 0x80, 0x00})) == "sparkplug.array");
    CHECK(expand_error(array(dt::kBooleanArray, {0xFF, 0xFF, 0xFF, 0xFF, 0x00})) == "sparkplug.array");
    CHECK(expand_error(array(dt::kStringArray, {'a', 0xC3, 0x28, 0})) == "sparkplug.utf8");
    auto p = spt::payload(1);
    metric(p, "a", 1, dt::kInt8Array)->set_int_value(3);
    CHECK(expand_error(p) == "sparkplug.value_type");
  }
  SECTION("an array over max_values is rejected") {
    CodecOptions small;
    small.max_leaves = 3;
    CHECK(expand_error(array(dt::kUInt8Array, {1, 2, 3, 4}), small) == "sparkplug.too_many_values");
    CHECK(leaves_of(array(dt::kUInt8Array, {1, 2, 3}), small).size() == 3);
    CHECK(expand_error(array(dt::kBooleanArray, {0x20, 0, 0, 0, 0, 0, 0, 0}), small) == "sparkplug.too_many_values");
  }
}

TEST_CASE("sparkplug_b codec: data sets and templates are flattened", "[sparkplug_b]") {
  SECTION("data set cells are <name>/<column>[<row>]") {
    auto p = spt::payload(1);
    auto* m = metric(p, "Table", 1, dt::kDataSet);
    auto* ds = m->mutable_dataset_value();
    ds->set_num_of_columns(2);
    ds->add_columns("Speed");
    ds->add_columns("Label");
    ds->add_types(dt::kInt16);
    ds->add_types(dt::kString);
    auto* r0 = ds->add_rows();
    r0->add_elements()->set_int_value(0xFFFFFFFEu);
    r0->add_elements()->set_string_value("a");
    auto* r1 = ds->add_rows();
    r1->add_elements()->set_int_value(7);
    r1->add_elements();  // null cell
    auto l = leaves_of(p);
    REQUIRE(l.size() == 3);
    CHECK(l[0].suffix == "/Speed[0]");
    CHECK(l[0].value == Value{std::int64_t{-2}});
    CHECK(l[1].suffix == "/Label[0]");
    CHECK(l[1].value == Value{std::string("a")});
    CHECK(l[2].suffix == "/Speed[1]");
    CHECK(l[2].value == Value{std::int64_t{7}});

    ds->add_rows()->add_elements()->set_int_value(1);  // a short row
    CHECK(expand_error(p) == "sparkplug.dataset");
    auto q = spt::payload(1);
    auto* d2 = metric(q, "T", 1, dt::kDataSet)->mutable_dataset_value();
    d2->add_columns("a");  // a column without a type
    CHECK(expand_error(q) == "sparkplug.dataset");
  }
  SECTION("template instances become <name>/<member> with the members' own details") {
    auto p = spt::payload(1);
    auto* m = metric(p, "Motor 1", 1, dt::kTemplate);
    m->set_timestamp(1000);
    auto* t = m->mutable_template_value();
    t->set_template_ref("Motor");
    t->set_is_definition(false);
    auto* rpm = t->add_metrics();
    rpm->set_name("RPM");
    rpm->set_datatype(dt::kFloat);
    rpm->set_float_value(1450.5f);
    spt::unit(rpm, "engUnit", "r/min");
    auto* inner = t->add_metrics();
    inner->set_name("Bearing");
    inner->set_datatype(dt::kTemplate);
    inner->set_timestamp(2000);
    auto* it = inner->mutable_template_value();
    it->set_template_ref("Bearing");
    auto* temp = it->add_metrics();
    temp->set_name("Temp");
    temp->set_datatype(dt::kDouble);
    temp->set_double_value(61.25);
    auto* nul = t->add_metrics();
    nul->set_name("Fault");
    nul->set_datatype(dt::kBoolean);
    nul->set_is_null(true);
    auto l = leaves_of(p);
    REQUIRE(l.size() == 2);
    CHECK(l[0].suffix == "/RPM");
    CHECK(l[0].value == Value{1450.5});
    CHECK(l[0].unit == std::optional<std::string>("r/min"));
    CHECK(l[0].timestamp_ms == std::nullopt);  // the host falls back to the template metric's
    CHECK(l[1].suffix == "/Bearing/Temp");
    CHECK(l[1].value == Value{61.25});
    CHECK(l[1].timestamp_ms == std::optional<std::uint64_t>(2000));
  }
  SECTION("template definitions carry no values") {
    auto p = spt::payload(0);
    auto* m = metric(p, "_types_/Motor", std::nullopt, dt::kTemplate);
    auto* t = m->mutable_template_value();
    t->set_is_definition(true);
    auto* rpm = t->add_metrics();
    rpm->set_name("RPM");
    rpm->set_datatype(dt::kFloat);
    rpm->set_float_value(0);
    CHECK(leaves_of(p).empty());
  }
  SECTION("templates nested too deep are rejected") {
    auto p = spt::payload(1);
    auto* m = metric(p, "t", 1, dt::kTemplate);
    for (int i = 0; i < 20; ++i) {
      auto* member = m->mutable_template_value()->add_metrics();
      member->set_name("t" + std::to_string(i));
      member->set_datatype(dt::kTemplate);
      m = member;
    }
    m->set_int_value(1);
    CHECK(expand_error(p) == "sparkplug.depth");
  }
  SECTION("property-set metrics and extension values give nothing") {
    auto p = spt::payload(1);
    metric(p, "ps", 1, dt::kPropertySet)->set_string_value("x");
    CHECK(leaves_of(p).empty());
  }
}

TEST_CASE("sparkplug_b codec: compressed payloads are inflated", "[sparkplug_b]") {
  auto inner = spt::payload(3);
  spt::dbl(inner, "t", 1, 21.5);
  for (bool gzip : {false, true})
    for (const char* algorithm : {static_cast<const char*>(nullptr), gzip ? "GZIP" : "DEFLATE"}) {
      INFO("gzip " << gzip << " algorithm " << (algorithm ? algorithm : "-"));
      auto parsed = parse_payload(spt::wire(compressed(inner, gzip, algorithm)), kOpts);
      REQUIRE(parsed);
      CHECK(parsed->was_compressed);
      CHECK(parsed->seq == std::optional<std::uint64_t>(3));
      REQUIRE(parsed->metrics.size() == 1);
      REQUIRE(std::holds_alternative<double>(parsed->metrics[0].value));
      CHECK(std::get<double>(parsed->metrics[0].value) == 21.5);
    }
  CHECK(parse_payload(spt::wire(compressed(inner, false, "LZ4")), kOpts).error().code == "sparkplug.compressed");
  auto broken = compressed(inner, false, nullptr);
  broken.set_body(broken.body().substr(0, broken.body().size() - 3));
  CHECK(parse_payload(spt::wire(broken), kOpts).error().code == "sparkplug.compressed");
  // a bomb: 2 MB of zeros inside a small body stays below max_payload_bytes only as a body
  auto bomb_inner = spt::payload(1);
  metric(bomb_inner, "b", 1, dt::kBytes)->set_bytes_value(std::string(2 * 1024 * 1024, '\0'));
  auto bomb = compressed(bomb_inner, true, nullptr);
  CHECK(bomb.ByteSizeLong() < 16 * 1024);
  CHECK(parse_payload(spt::wire(bomb), kOpts).error().code == "sparkplug.compressed");
}

TEST_CASE("sparkplug_b codec: malformed payloads are rejected and never crash", "[sparkplug_b]") {
  auto good = spt::payload(1);
  spt::dbl(good, "Temperature", 100, 22.5);
  metric(good, "arr", 101, dt::kInt16Array)->set_bytes_value(std::string("\x01\x00\x02\x00", 4));
  auto* ds = metric(good, "ds", 102, dt::kDataSet)->mutable_dataset_value();
  ds->add_columns("c");
  ds->add_types(dt::kInt32);
  ds->add_rows()->add_elements()->set_int_value(5);
  auto bytes = spt::wire(good);

  std::vector<std::vector<std::uint8_t>> bad = {
      {0xFF}, {0x0A}, {0x12, 0x05, 0x0A}, {0x08, 0x80, 0x80, 0x80}, {0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F},
      std::vector<std::uint8_t>(64, 0xFF), {'{', '"', 'a', '"', ':', '1', '}'}};
  for (const auto& b : bad) {
    auto r = parse_payload(b, kOpts);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "sparkplug.protobuf");
    CHECK(r.error().disposition == Disposition::reject);
  }
  CodecOptions tiny;
  tiny.max_payload_bytes = 8;
  CHECK(parse_payload(bytes, tiny).error().code == "sparkplug.too_large");

  // every truncation and 20000 random mutations: an error or a value, never a crash
  std::size_t ok = 0;
  auto run = [&](const std::vector<std::uint8_t>& b) {
    auto r = parse_payload(b, kOpts);
    if (!r) return;
    std::vector<Leaf> out;
    for (const auto& m : r->metrics) (void)expand(m, m.datatype, out, kOpts);
    ++ok;
  };
  for (std::size_t n = 0; n < bytes.size(); ++n) run(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + n));
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    auto b = bytes;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    run(b);
  }
  CHECK(ok > 0);
}

TEST_CASE("sparkplug_b codec: rebirth request and STATE payload", "[sparkplug_b]") {
  auto bytes = encode_rebirth_request(1700000000123);
  PbPayload p;
  REQUIRE(p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  CHECK(p.timestamp() == 1700000000123u);
  CHECK_FALSE(p.has_seq());
  REQUIRE(p.metrics_size() == 1);
  CHECK(p.metrics(0).name() == "Node Control/Rebirth");
  CHECK(p.metrics(0).datatype() == dt::kBoolean);
  CHECK(p.metrics(0).boolean_value());
  CHECK(ncmd_topic("Sparkplug B Devices", "Raspberry Pi") == "spBv1.0/Sparkplug B Devices/NCMD/Raspberry Pi");
  CHECK(state_topic("scada-1") == "spBv1.0/STATE/scada-1");
  auto on = state_payload(true, 1700000000123);
  CHECK(std::string(on.begin(), on.end()) == R"({"online":true,"timestamp":1700000000123})");
  auto off = state_payload(false, 5);
  CHECK(std::string(off.begin(), off.end()) == R"({"online":false,"timestamp":5})");
}
