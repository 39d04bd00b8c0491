#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <unistd.h>

#include "adapter_api/adapter.hpp"
#include "support/fake_context.hpp"

namespace cg {
const AdapterDescriptor& http_push_descriptor();
}

using namespace cg;

namespace {

namespace fs = std::filesystem;

ConfigView view(std::map<std::string, ConfigValue, std::less<>> v) { return ConfigView(std::move(v)); }

std::string make_error(const ConfigView& cfg) {
  auto a = http_push_descriptor().make("hp", cfg);
  if (a) return "ok";
  CHECK(a.error().disposition == Disposition::fatal);
  return a.error().message;
}

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& content) {
    path = fs::temp_directory_path() / ("http_push_token_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    std::ofstream(path) << content;
  }
  ~TempFile() { fs::remove(path); }
};

}  // namespace

TEST_CASE("http_push adapter: registers its route with token and content types", "[http_push]") {
  TempFile token("s3cret-token\n");
  auto a = http_push_descriptor().make(
      "hp", view({{"http_path", std::string("/ingest/sc")}, {"http_token_file", token.path.string()},
                  {"format", std::string("sensor_community")}, {"max_body_bytes", std::int64_t{4096}}}));
  REQUIRE(a);
  test::FakeContext ctx("hp");
  REQUIRE((*a)->start(ctx));
  REQUIRE(ctx.routes.size() == 1);
  const auto& r = ctx.routes[0];
  CHECK(r.route.path == "/ingest/sc");
  CHECK(r.route.bearer_token == "s3cret-token");
  CHECK(r.route.content_types == std::vector<std::string>{"application/json"});
  CHECK(r.route.max_body == 4096);

  std::string body = R"({"esp8266id":"1","timestamp":"soon","sensordatavalues":[{"value_type":"SDS_P1","value":"2.5"}]})";
  DecodeInput in;
  in.payload = {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
  in.now = ctx.clock_.now();
  auto out = r.decode(in);
  CHECK(out.errors.empty());
  REQUIRE(out.readings.size() == 1);
  CHECK(out.readings[0].device == "esp8266-1");
  CHECK(ctx.metrics_.value("http_push_time_fallback_total", {{"adapter", "hp"}}) == 1);
}

TEST_CASE("http_push adapter: default content types follow the format", "[http_push]") {
  auto types = [](std::map<std::string, ConfigValue, std::less<>> v) {
    v["http_path"] = std::string("/p");
    auto a = http_push_descriptor().make("hp", view(std::move(v)));
    REQUIRE(a);
    test::FakeContext ctx;
    REQUIRE((*a)->start(ctx));
    REQUIRE(ctx.routes.size() == 1);
    CHECK(ctx.routes[0].route.bearer_token.empty());
    return ctx.routes[0].route.content_types;
  };
  using V = std::vector<std::string>;
  CHECK(types({}) == V{"application/json", "application/senml+json", "application/senml+cbor"});
  CHECK(types({{"format", std::string("json")}}) == V{"application/json"});
  CHECK(types({{"format", std::string("senml")}}) == V{"application/senml+json", "application/senml+cbor"});
  CHECK(types({{"content_types", V{"Text/Plain", "application/json"}}}) == V{"text/plain", "application/json"});
}

TEST_CASE("http_push adapter: bad settings fail the config", "[http_push]") {
  TempFile empty(" \n");
  CHECK(make_error(view({{"http_path", std::string("ingest")}})).find("http_path") != std::string::npos);
  CHECK(make_error(view({{"http_path", std::string("/a?b")}})).find("http_path") != std::string::npos);
  CHECK(make_error(view({{"http_path", std::string("/a")}, {"http_token_file", std::string("/nonexistent/token")}}))
            .find("cannot read") != std::string::npos);
  CHECK(make_error(view({{"http_path", std::string("/a")}, {"http_token_file", empty.path.string()}}))
            .find("empty") != std::string::npos);
  CHECK(make_error(view({{"http_path", std::string("/a")}, {"format", std::string("xml")}})).find("format") !=
        std::string::npos);
  CHECK(make_error(view({{"http_path", std::string("/a")}, {"max_body_bytes", std::int64_t{1}}}))
            .find("max_body_bytes") != std::string::npos);
  CHECK(make_error(view({{"http_path", std::string("/a")}, {"max_readings", std::int64_t{0}}}))
            .find("max_readings") != std::string::npos);
  CHECK(make_error(view({{"http_path", std::string("/a")},
                         {"content_types", std::vector<std::string>{"application/json; charset=utf-8"}}}))
            .find("content_types") != std::string::npos);
}

TEST_CASE("http_push adapter: the offline decoder works without config", "[http_push]") {
  auto s = http_push_descriptor().decoder(ConfigView{});
  REQUIRE(s);
  std::string body = R"({"device":"d","ts":1700000000,"v":"-59 dBm"})";
  DecodeInput in;
  in.payload = {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
  auto out = (*s)->decode(in);
  REQUIRE(out.readings.size() == 1);
  CHECK(out.readings[0].value == Value(std::int64_t{-59}));
  CHECK(out.readings[0].unit == "dBm");
  CHECK_FALSE(http_push_descriptor().decoder(view({{"format", std::string("nope")}})));
}
