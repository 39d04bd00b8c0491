#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "adapter_api/adapter.hpp"
#include "support/fake_context.hpp"

namespace cg {
const AdapterDescriptor& influx_line_descriptor();
}

using namespace cg;

namespace {

using test::FakeContext;
using Subscription = FakeContext::Subscription;

ConfigView config(std::string precision = "ns", std::int64_t max_payload = 1048576) {
  std::map<std::string, ConfigValue, std::less<>> v;
  v["broker"] = std::string("local");
  v["topics"] = std::vector<std::string>{"telegraf/#", "agents/+/lp"};
  v["qos"] = std::int64_t{1};
  v["precision"] = std::move(precision);
  v["max_payload_bytes"] = max_payload;
  return ConfigView(std::move(v));
}

Result<std::vector<Reading>> deliver(const Subscription& s, const std::string& body) {
  MqttMessage m;
  m.topic = "telegraf/host1";
  m.payload = {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
  m.qos = 1;
  return s.decode(m);
}

}  // namespace

TEST_CASE("adapter: descriptor declares the keys", "[influx_line]") {
  const auto& d = influx_line_descriptor();
  CHECK(d.kind == "influx_line");
  std::vector<std::string> names;
  for (const auto& k : d.keys) names.emplace_back(k.name);
  CHECK(names == std::vector<std::string>{"udp_listen", "tcp_listen", "http_path", "http_token_file", "broker",
                                          "topics", "qos", "precision", "max_payload_bytes"});
  for (const auto& k : d.keys) CHECK_FALSE(k.required);  // any one transport will do
  CHECK(d.keys[5].type == KeyType::string_list);
  CHECK(d.keys[6].default_value == "1");
  CHECK(d.keys[7].default_value == "\"ns\"");
  CHECK(d.keys[8].default_value == "1048576");
  CHECK_FALSE(d.make("x", config("minutes")));
  CHECK_FALSE(d.make("x", config("ns", 1)));
  CHECK(d.make("x", config("ms")));
}

TEST_CASE("adapter: subscribes decodes counts partial rejects", "[influx_line]") {
  const auto& d = influx_line_descriptor();
  auto a = d.make("tele1", config());
  REQUIRE(a);
  FakeContext ctx("tele1");
  REQUIRE((*a)->start(ctx));
  REQUIRE(ctx.subs.size() == 2);
  CHECK(ctx.subs[0].broker == "local");
  CHECK(ctx.subs[0].filter == "telegraf/#");
  CHECK(ctx.subs[1].filter == "agents/+/lp");
  CHECK(ctx.subs[0].qos == 1);
  const Labels labels{{"adapter", "tele1"}};

  auto ok = deliver(ctx.subs[0], "cpu,host=h1 usage_idle=99.5,usage_user=0.5 1700000000000000000\n");
  REQUIRE(ok);
  REQUIRE(ok->size() == 2);
  CHECK((*ok)[0].device == "h1");
  CHECK((*ok)[0].metric == "cpu.usage_idle");
  CHECK((*ok)[0].received == ctx.clock_.now());
  CHECK(ctx.metrics_.value("influx_line_rejected_lines_total", labels) == 0);

  // 2nd line bad: the good lines are returned, the bad one counted
  auto partial = deliver(ctx.subs[0], "mem used=1i\nmem used=oops\nmem used=3i\n");
  REQUIRE(partial);
  CHECK(partial->size() == 2);
  CHECK(ctx.metrics_.value("influx_line_rejected_lines_total", labels) == 1);

  // nothing good: an error (the transport keeps the payload), the lines still counted
  auto bad = deliver(ctx.subs[0], "garbage\nmore garbage\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().disposition == Disposition::reject);
  CHECK(ctx.metrics_.value("influx_line_rejected_lines_total", labels) == 3);

  // comments only: valid, empty
  auto empty = deliver(ctx.subs[0], "# nothing\n");
  REQUIRE(empty);
  CHECK(empty->empty());
  (*a)->stop();
}

TEST_CASE("adapter: oversized payloads are rejected whole", "[influx_line]") {
  auto a = influx_line_descriptor().make("tele1", config("ns", 64));
  REQUIRE(a);
  FakeContext ctx("tele1");
  REQUIRE((*a)->start(ctx));
  auto r = deliver(ctx.subs[0], "m v=1\n" + std::string(100, '#') + "\n");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "too_large");
}
