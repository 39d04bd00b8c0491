// The adapter glue: config keys, subscriptions, rebirth NCMDs, host STATE, gauges, decode sessions.
#include <catch2/catch.hpp>

#include "adapter_api/adapter.hpp"
#include "sparkplug_test_util.hpp"
#include "support/fake_context.hpp"
#include "support/process.hpp"

namespace cg {
const AdapterDescriptor& sparkplug_b_descriptor();
}

using namespace cg;
using namespace std::chrono_literals;
using test::FakeContext;

namespace {

std::map<std::string, ConfigValue, std::less<>> defaults() {
  std::map<std::string, ConfigValue, std::less<>> v;
  v["broker"] = std::string("local");
  v["topics"] = std::vector<std::string>{};
  v["qos"] = std::int64_t{1};
  v["host_id"] = std::string("");
  v["rebirth_min_interval_ms"] = std::int64_t{5000};
  v["max_payload_bytes"] = std::int64_t{1048576};
  v["max_values"] = std::int64_t{50000};
  return v;
}

ConfigView config(std::map<std::string, ConfigValue, std::less<>> over = {}) {
  auto v = defaults();
  for (auto& [k, val] : over) v[k] = std::move(val);
  return ConfigView(std::move(v));
}

Result<std::vector<Reading>> deliver(const FakeContext::Subscription& s, const std::string& topic,
                                     const std::vector<std::uint8_t>& payload) {
  MqttMessage m;
  m.topic = topic;
  m.payload = payload;
  m.qos = 0;
  return s.decode(m);
}

std::vector<std::uint8_t> nbirth() {
  auto p = spt::payload(0);
  spt::bdseq(p, 1, 0);
  spt::rebirth_metric(p, 1);
  spt::dbl(p, "Temperature", 2, 20.0);
  return spt::wire(p);
}

std::vector<std::uint8_t> ndata(std::uint64_t seq) {
  auto p = spt::payload(seq);
  spt::metric(p, "", 2, 0)->set_double_value(21.0);
  return spt::wire(p);
}

std::int64_t gauge(FakeContext& ctx, const std::string& name, const std::string& state) {
  return ctx.metrics_.value(name, {{"adapter", "sp1"}, {"state", state}});
}

}  // namespace

TEST_CASE("sparkplug_b adapter: config keys are validated", "[sparkplug_b]") {
  const auto& d = sparkplug_b_descriptor();
  CHECK(d.kind == "sparkplug_b");
  std::vector<std::string> names;
  for (const auto& k : d.keys) names.emplace_back(k.name);
  CHECK(names == std::vector<std::string>{"broker", "topics", "qos", "host_id", "rebirth_min_interval_ms",
                                          "max_payload_bytes", "max_values"});
  CHECK(d.keys[0].required);
  CHECK(d.keys[1].default_value == "[\"spBv1.0/#\"]");
  for (const auto& k : d.keys) CHECK_FALSE(k.doc.empty());
  CHECK(d.make("sp1", config()));
  CHECK_FALSE(d.make("sp1", config({{"qos", std::int64_t{2}}})));
  CHECK_FALSE(d.make("sp1", config({{"topics", std::vector<std::string>{"spBv1.0/#/x"}}})));
  CHECK_FALSE(d.make("sp1", config({{"host_id", std::string("a/b")}})));
  CHECK_FALSE(d.make("sp1", config({{"host_id", std::string("a+")}})));
  CHECK_FALSE(d.make("sp1", config({{"rebirth_min_interval_ms", std::int64_t{10}}})));
  CHECK_FALSE(d.make("sp1", config({{"max_payload_bytes", std::int64_t{1}}})));
  CHECK_FALSE(d.make("sp1", config({{"max_values", std::int64_t{0}}})));
  REQUIRE(d.decoder);
  CHECK(d.decoder(ConfigView{}));  // offline decoding needs no broker
}

TEST_CASE("sparkplug_b adapter: subscribes and sends rebirth requests as NCMD", "[sparkplug_b]") {
  const auto& d = sparkplug_b_descriptor();
  auto a = d.make("sp1", config({{"rebirth_min_interval_ms", std::int64_t{1000}}}));
  REQUIRE(a);
  FakeContext ctx("sp1");
  REQUIRE((*a)->start(ctx));
  REQUIRE(ctx.subs.size() == 1);
  CHECK(ctx.subs[0].broker == "local");
  CHECK(ctx.subs[0].filter == "spBv1.0/#");
  CHECK(ctx.subs[0].qos == 1);
  CHECK(ctx.presence.empty());  // no host_id: no STATE
  const auto& sub = ctx.subs[0];

  // data before birth: rejected, and a rebirth request goes out
  auto r = deliver(sub, "spBv1.0/G/NDATA/n1", ndata(1));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "sparkplug.no_birth");
  REQUIRE(ctx.publishes.size() == 1);
  const auto pub = ctx.publishes[0];  // a copy: later publishes may move the vector
  CHECK(pub.broker == "local");
  CHECK(pub.topic == "spBv1.0/G/NCMD/n1");
  CHECK(pub.qos == 0);
  CHECK_FALSE(pub.retain);
  spt::PbPayload cmd;
  REQUIRE(cmd.ParseFromArray(pub.payload.data(), static_cast<int>(pub.payload.size())));
  REQUIRE(cmd.metrics_size() == 1);
  CHECK(cmd.metrics(0).name() == "Node Control/Rebirth");
  CHECK(cmd.metrics(0).boolean_value());
  CHECK(cmd.timestamp() == static_cast<std::uint64_t>(to_unix_ns(ctx.clock_.now()) / 1'000'000));
  CHECK(ctx.metrics_.value("sparkplug_rebirth_requests_total", {{"adapter", "sp1"}}) == 1);
  CHECK(gauge(ctx, "sparkplug_edge_nodes", "stale") == 1);

  // again at once: rate-limited
  CHECK_FALSE(deliver(sub, "spBv1.0/G/NDATA/n1", ndata(2)));
  CHECK(ctx.publishes.size() == 1);
  CHECK(ctx.metrics_.value("sparkplug_rebirth_suppressed_total", {{"adapter", "sp1"}}) == 1);

  // the node answers with a birth: readings flow, the node is online
  auto b = deliver(sub, "spBv1.0/G/NBIRTH/n1", nbirth());
  REQUIRE(b);
  CHECK(b->size() == 3);
  CHECK(gauge(ctx, "sparkplug_edge_nodes", "online") == 1);
  CHECK(gauge(ctx, "sparkplug_edge_nodes", "stale") == 0);
  auto dd = deliver(sub, "spBv1.0/G/NDATA/n1", ndata(1));
  REQUIRE(dd);
  REQUIRE(dd->size() == 1);
  CHECK((*dd)[0].device == "G/n1");
  CHECK((*dd)[0].metric == "Temperature");
  CHECK((*dd)[0].received == ctx.clock_.now());

  // a gap after the interval: a second request
  ctx.clock_.advance(1s);
  auto g = deliver(sub, "spBv1.0/G/NDATA/n1", ndata(9));
  REQUIRE(g);
  CHECK(ctx.publishes.size() == 2);
  CHECK(ctx.metrics_.value("sparkplug_seq_gaps_total", {{"adapter", "sp1"}}) == 1);

  // commands and STATE pass by
  auto c = deliver(sub, "spBv1.0/G/NCMD/n1", std::vector<std::uint8_t>(pub.payload));
  REQUIRE(c);
  CHECK(c->empty());
}

TEST_CASE("sparkplug_b adapter: host_id declares a retained STATE presence", "[sparkplug_b]") {
  const auto& d = sparkplug_b_descriptor();
  auto a = d.make("sp1", config({{"host_id", std::string("citygate-1")},
                                 {"topics", std::vector<std::string>{"spBv1.0/A/#", "spBv1.0/B/#"}},
                                 {"qos", std::int64_t{0}}}));
  REQUIRE(a);
  FakeContext ctx("sp1");
  REQUIRE((*a)->start(ctx));
  REQUIRE(ctx.presence.size() == 1);
  const auto& p = ctx.presence[0];
  CHECK(p.topic == "spBv1.0/STATE/citygate-1");
  CHECK(p.qos == 1);
  CHECK(p.retain);
  auto on = p.payload(true, 1700000000123);
  auto off = p.payload(false, 1700000000123);
  CHECK(std::string(on.begin(), on.end()) == R"({"online":true,"timestamp":1700000000123})");
  CHECK(std::string(off.begin(), off.end()) == R"({"online":false,"timestamp":1700000000123})");
  REQUIRE(ctx.subs.size() == 2);
  CHECK(ctx.subs[1].filter == "spBv1.0/B/#");
  CHECK(ctx.subs[1].qos == 0);
}

TEST_CASE("sparkplug_b adapter: a decode session keeps state across inputs", "[sparkplug_b]") {
  const auto& d = sparkplug_b_descriptor();
  auto s = d.decoder(config());
  REQUIRE(s);
  auto birth = nbirth();
  auto data = ndata(1);
  DecodeInput in;
  in.now = from_unix_ns(1'800'000'000'000'000'000);
  in.topic = "spBv1.0/G/NBIRTH/n1";
  in.payload = birth;
  auto b = (*s)->decode(in);
  CHECK(b.errors.empty());
  CHECK(b.readings.size() == 3);
  in.topic = "spBv1.0/G/NDATA/n1";
  in.payload = data;
  auto x = (*s)->decode(in);
  CHECK(x.errors.empty());
  REQUIRE(x.readings.size() == 1);
  CHECK(x.readings[0].metric == "Temperature");
  // another session knows nothing of that birth
  auto fresh = d.decoder(config());
  REQUIRE(fresh);
  auto y = (*fresh)->decode(in);
  REQUIRE(y.errors.size() == 1);
  CHECK(y.errors[0].code == "sparkplug.no_birth");
  // without a topic there is nothing to decode
  in.topic = "";
  auto z = (*fresh)->decode(in);
  REQUIRE(z.errors.size() == 1);
  CHECK(z.errors[0].code == "sparkplug.topic");
}

TEST_CASE("sparkplug_b adapter: one decode topic serves a birth and its data", "[sparkplug_b]") {
  const auto& d = sparkplug_b_descriptor();
  auto birth = nbirth();
  auto data = ndata(1);
  for (const char* topic : {"spBv1.0/G/NDATA/n1", "spBv1.0/G/NBIRTH/n1"}) {
    INFO(topic);
    auto s = d.decoder(config());
    REQUIRE(s);
    DecodeInput in;
    in.topic = topic;
    in.payload = birth;
    auto b = (*s)->decode(in);
    CHECK(b.errors.empty());
    CHECK(b.readings.size() == 3);
    in.payload = data;
    auto x = (*s)->decode(in);
    CHECK(x.errors.empty());
    REQUIRE(x.readings.size() == 1);
    CHECK(x.readings[0].metric == "Temperature");
    CHECK(x.readings[0].device == "G/n1");
  }
  SECTION("a death on the same topic") {
    auto s = d.decoder(config());
    DecodeInput in;
    in.topic = "spBv1.0/G/NDATA/n1";
    in.payload = birth;
    REQUIRE((*s)->decode(in).errors.empty());
    auto dp = spt::payload(std::nullopt);
    spt::bdseq(dp, 1);
    auto dw = spt::wire(dp);
    in.payload = dw;
    auto x = (*s)->decode(in);
    CHECK(x.errors.empty());
    CHECK(x.readings.empty());
    in.payload = data;
    auto y = (*s)->decode(in);  // the node is gone: its data has no birth
    REQUIRE(y.errors.size() == 1);
    CHECK(y.errors[0].code == "sparkplug.no_birth");
  }
  SECTION("data alone on an NBIRTH topic is still a birth (and fails as one)") {
    auto s = d.decoder(config());
    DecodeInput in;
    in.topic = "spBv1.0/G/NBIRTH/n1";
    in.payload = data;
    auto x = (*s)->decode(in);
    REQUIRE(x.errors.size() == 1);
    CHECK(x.errors[0].code == "sparkplug.no_name");
  }
  SECTION("a device birth then its data on the DBIRTH topic") {
    auto s = d.decoder(config());
    DecodeInput in;
    in.topic = "spBv1.0/G/NBIRTH/n1";
    in.payload = birth;
    REQUIRE((*s)->decode(in).errors.empty());
    auto db = spt::payload(1);
    spt::dbl(db, "Level", 50, 1.0);
    auto dbw = spt::wire(db);
    auto dd = spt::payload(2);
    spt::metric(dd, "", 50, 0)->set_double_value(2.0);
    auto ddw = spt::wire(dd);
    in.topic = "spBv1.0/G/DBIRTH/n1/tank";
    in.payload = dbw;
    REQUIRE((*s)->decode(in).readings.size() == 1);
    in.payload = ddw;
    auto x = (*s)->decode(in);
    CHECK(x.errors.empty());
    REQUIRE(x.readings.size() == 1);
    CHECK(x.readings[0].metric == "Level");
    CHECK(x.readings[0].value == Value{2.0});
  }
}

TEST_CASE("sparkplug_b cli: citygate decode takes a birth and its data as one session", "[sparkplug_b]") {
  const auto vectors = std::filesystem::path(CITYGATE_SHARED_DIR) / "vectors" / "sparkplug_b" / "binary";
  test::TempDir dir;
  auto run = [&](const std::string& topic, std::vector<std::string> files, const std::string& log) {
    std::vector<std::string> argv{CITYGATE_BIN, "decode", "--kind", "sparkplug_b", "--topic", topic};
    for (auto& f : files) argv.push_back((vectors / f).string());
    test::Process p(argv, dir / log);
    int rc = p.wait(20000);
    return std::make_pair(rc, p.log());
  };
  auto count = [](const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
  };
  auto umh = run("spBv1.0/umh/NDATA/edge-1", {"umh_nbirth_v1.bin", "umh_ndata_v1.bin"}, "umh.log");
  INFO(umh.second);
  CHECK(umh.first == 0);
  CHECK(count(umh.second, "\n") == 4);
  CHECK(count(umh.second, R"({"device":"umh/edge-1","metric":"Temperature","value":22.5,"unit":"",)"
                          R"("observed_at":"2025-06-25T12:47:23.474Z","src_seq":1})") == 1);
  auto tedge = run("spBv1.0/tedge/NBIRTH/sim-cnc01", {"tedge_cnc_nbirth.bin", "tedge_cnc_ndata_named.bin"}, "tedge.log");
  INFO(tedge.second);
  CHECK(tedge.first == 0);
  CHECK(count(tedge.second, R"({"device":"tedge/sim-cnc01",)") == 24 + 28);
  CHECK(count(tedge.second, "\"metric\":\"Event/tool_change\",\"value\":\"Tool change \xE2\x86\x92 T15\"") == 1);
  auto alone = run("spBv1.0/umh/NDATA/edge-1", {"umh_ndata_before_birth.bin"}, "alone.log");
  CHECK(alone.first == 65);  // EX_DATAERR: the error is reported, nothing decoded
  CHECK(count(alone.second, "sparkplug.no_birth") == 1);
}
