// The lake wire format: encode → decode is the identity for every value type and edge value, and
// the decoder rejects what a lake must not accept.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "wire/batch_codec.hpp"

using cg::Reading;
using cg::wire::BatchHeader;
using cg::wire::decode_batch;
using cg::wire::encode_batch;

namespace {

BatchHeader header() {
  BatchHeader h;
  h.gateway_id = "gw-1";
  h.incarnation_id = "inc-0001";
  h.batch_id = "0190f0a2-7c1e-7d3a-9b4c-123456789abc";
  h.batch_seq = 42;
  h.created_at = cg::from_unix_ns(1'700'000'000'123'456'789);
  h.part = 0;
  h.parts = 0;
  return h;
}

Reading reading(std::string metric, cg::Value v) {
  Reading r;
  r.device = "dev-1";
  r.metric = std::move(metric);
  r.value = std::move(v);
  r.unit = "Cel";
  r.tags = {{"floor", "2"}, {"room", "a\"b"}};
  r.observed = cg::from_unix_ns(1'700'000'000'000'000'001);
  r.received = cg::from_unix_ns(1'700'000'000'500'000'000);
  r.seq = 7;
  r.quality = cg::quality::kTimeFromGateway | cg::quality::kSimulated;
  return r;
}

}  // namespace

TEST_CASE("wire: round trip of every value type and edge values", "[wire]") {
  std::vector<Reading> in;
  in.push_back(reading("f", 21.5));
  in.push_back(reading("f_neg_zero", -0.0));
  in.push_back(reading("f_inf", -std::numeric_limits<double>::infinity()));
  in.push_back(reading("f_min", std::numeric_limits<double>::denorm_min()));
  in.push_back(reading("i", std::int64_t{-5}));
  in.push_back(reading("i_min", std::numeric_limits<std::int64_t>::min()));
  in.push_back(reading("i_max", std::numeric_limits<std::int64_t>::max()));
  in.push_back(reading("u", std::uint64_t{0}));
  in.push_back(reading("u_max", std::numeric_limits<std::uint64_t>::max()));
  in.push_back(reading("b_true", true));
  in.push_back(reading("b_false", false));
  in.push_back(reading("s", std::string("h\xC3\xA9llo \"world\"\n")));
  in.push_back(reading("s_empty", std::string()));
  in.push_back(reading("bytes", cg::Bytes{{0x00, 0xFF, 0x00, 0x01}}));
  in.push_back(reading("bytes_empty", cg::Bytes{}));
  in.back().tags.clear();
  in.back().unit.clear();
  in.back().src_seq = std::numeric_limits<std::uint64_t>::max();
  in.back().seq = std::numeric_limits<std::uint64_t>::max();
  in.back().observed = cg::from_unix_ns(-1);  // before the epoch survives too

  auto h = header();
  auto bytes = encode_batch(h, in);
  CHECK(bytes == encode_batch(h, in));  // deterministic
  auto out = decode_batch(bytes);
  REQUIRE(out.has_value());
  CHECK(out->header.gateway_id == h.gateway_id);
  CHECK(out->header.incarnation_id == h.incarnation_id);
  CHECK(out->header.batch_id == h.batch_id);
  CHECK(out->header.batch_seq == 42);
  CHECK(out->header.created_at == h.created_at);
  CHECK(out->header.part == 0);
  CHECK(out->header.parts == 0);
  REQUIRE(out->readings.size() == in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    INFO(in[i].metric);
    CHECK(out->readings[i] == in[i]);
    CHECK(out->readings[i].value.index() == in[i].value.index());
  }
  // -0.0 == 0.0 numerically; the sign must survive as well
  CHECK(std::signbit(std::get<double>(out->readings[1].value)));
}

TEST_CASE("wire: NaN survives (compared bitwise, NaN != NaN)", "[wire]") {
  std::vector<Reading> in{reading("nan", std::numeric_limits<double>::quiet_NaN())};
  auto out = decode_batch(encode_batch(header(), in));
  REQUIRE(out.has_value());
  REQUIRE(out->readings.size() == 1);
  REQUIRE(std::holds_alternative<double>(out->readings[0].value));
  CHECK(std::isnan(std::get<double>(out->readings[0].value)));
}

TEST_CASE("wire: src_seq absent vs 0", "[wire]") {
  std::vector<Reading> in{reading("a", 1.0), reading("b", 2.0)};
  in[0].src_seq.reset();
  in[1].src_seq = 0;
  auto out = decode_batch(encode_batch(header(), in));
  REQUIRE(out.has_value());
  CHECK(!out->readings[0].src_seq.has_value());
  REQUIRE(out->readings[1].src_seq.has_value());
  CHECK(*out->readings[1].src_seq == 0);
}

TEST_CASE("wire: split batch parts and an empty batch", "[wire]") {
  auto h = header();
  h.part = 2;
  h.parts = 3;
  auto out = decode_batch(encode_batch(h, std::vector<Reading>{reading("x", std::int64_t{1})}));
  REQUIRE(out.has_value());
  CHECK(out->header.part == 2);
  CHECK(out->header.parts == 3);

  auto empty = decode_batch(encode_batch(header(), std::vector<Reading>{}));
  REQUIRE(empty.has_value());
  CHECK(empty->readings.empty());
}

TEST_CASE("wire: the decoder rejects bad input", "[wire]") {
  auto rejects = [](std::string_view bytes, std::string_view code) {
    auto r = decode_batch(bytes);
    REQUIRE(!r.has_value());
    CHECK(r.error().disposition == cg::Disposition::reject);
    CHECK(r.error().code == code);
    CHECK(!r.error().message.empty());
  };
  SECTION("garbage") {
    rejects("this is not a protobuf message", "protobuf");
    rejects(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), "protobuf");
    // a valid batch cut in the middle
    auto bytes = encode_batch(header(), std::vector<Reading>{reading("x", 1.0), reading("y", 2.0)});
    rejects(std::string_view(bytes).substr(0, bytes.size() - 5), "protobuf");
  }
  SECTION("empty input has schema_version 0") { rejects("", "schema_version"); }
  SECTION("wrong schema_version") {
    auto bytes = encode_batch(header(), std::vector<Reading>{reading("x", 1.0)});
    bytes += std::string("\x08\x02", 2);  // field 1 (schema_version) = 2; the last value wins
    rejects(bytes, "schema_version");
  }
  SECTION("bad batch_id") {
    for (std::string id : {"", "not-a-uuid", "0190f0a2-7c1e-7d3a-9b4c-123456789abz", "0190f0a27c1e7d3a9b4c123456789abc",
                           "0190f0a2-7c1e-7d3a-9b4c-123456789abcd"}) {
      INFO(id);
      auto h = header();
      h.batch_id = id;
      rejects(encode_batch(h, std::vector<Reading>{}), "batch_id");
    }
  }
  SECTION("part > parts, or part 0 of a split batch") {
    auto h = header();
    h.part = 3;
    h.parts = 2;
    rejects(encode_batch(h, std::vector<Reading>{}), "part");
    h.part = 0;
    h.parts = 2;
    rejects(encode_batch(h, std::vector<Reading>{}), "part");
  }
  SECTION("missing ids") {
    auto h = header();
    h.gateway_id.clear();
    rejects(encode_batch(h, std::vector<Reading>{}), "gateway_id");
    h = header();
    h.incarnation_id.clear();
    rejects(encode_batch(h, std::vector<Reading>{}), "incarnation_id");
  }
  SECTION("readings without device, metric or value") {
    auto r = reading("x", 1.0);
    r.device.clear();
    rejects(encode_batch(header(), std::vector<Reading>{r}), "reading");
    r = reading("", 1.0);
    rejects(encode_batch(header(), std::vector<Reading>{r}), "reading");
    // a Reading message with device and metric but no value: field 7 (readings) holding
    // {1:"d", 2:"m"}, appended to a valid header
    auto bytes = encode_batch(header(), std::vector<Reading>{});
    bytes += std::string("\x3a\x06\x0a\x01\x64\x12\x01\x6d", 8);
    rejects(bytes, "reading");
  }
}
