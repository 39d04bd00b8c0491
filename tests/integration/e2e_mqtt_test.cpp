// End to end with real parts: publishers → mosquitto → citygate (mqtt_json) → SQLite → lake.
#include <catch2/catch.hpp>

#include <csignal>
#include <thread>

#include "integration/harness.hpp"
#include "support/mqtt_pub.hpp"

using namespace cg::test;
using namespace std::chrono_literals;

namespace {

// Publishes `count` messages from publisher p over `devices` devices; returns the device names.
void publish_range(const std::string& url, int p, int devices, int from, int to) {
  MqttPublisher pub(url, "it-pub-" + std::to_string(p) + "-" + std::to_string(from));
  for (int i = from; i < to; ++i) {
    std::string dev = "p" + std::to_string(p) + "-d" + std::to_string(i % devices);
    REQUIRE(pub.publish("city/zone" + std::to_string(p) + "/" + dev + "/telemetry",
                        "{\"n\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1700000000000LL + i) + "}"));
  }
}

// Every (device, n) published arrived, seq per device is 1..count without gaps.
void check_complete(const LakeSummary& s, const std::vector<LakeLine>& lines, int publishers, int devices, int per_pub) {
  CHECK(s.unique == static_cast<std::size_t>(publishers * per_pub));
  CHECK(s.dup_only_as_repeated_batches);
  for (const auto& [dev, seqs] : s.seqs) {
    INFO(dev);
    REQUIRE(!seqs.empty());
    CHECK(*seqs.begin() == 1);
    CHECK(*seqs.rbegin() == seqs.size());  // gap-free
  }
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& l : lines) got.insert({l.device, l.value_json});
  for (int p = 0; p < publishers; ++p)
    for (int i = 0; i < per_pub; ++i) {
      std::string dev = "p" + std::to_string(p) + "-d" + std::to_string(i % devices);
      if (!got.count({dev, std::to_string(i)})) {
        FAIL("missing " << dev << " n=" << i);
      }
    }
}

}  // namespace

TEST_CASE("10000 QoS 1 messages from several publishers reach the lake exactly once", "[integration][mqtt]") {
  MqttStack st;
  // plain references: clang 14 cannot capture structured bindings in lambdas
  auto& broker = st.broker;
  auto& lake = st.lake;
  auto& gw = *st.gw;

  constexpr int kPublishers = 4, kPer = 2500, kDevices = 5;
  std::vector<std::thread> pubs;
  for (int p = 0; p < kPublishers; ++p) pubs.emplace_back([&, p] { publish_range(broker.url(), p, kDevices, 0, kPer); });
  for (auto& t : pubs) t.join();

  std::vector<LakeLine> lines;
  LakeSummary s;
  bool all = wait_lake_unique(lake, kPublishers * kPer, 60s, &lines, &s);
  INFO(gw.process().log());
  REQUIRE(all);
  check_complete(s, lines, kPublishers, kDevices, kPer);
  CHECK(s.duplicate_lines == 0);  // no fault injected: no duplicates at all
  // the fixed NDJSON fields
  const auto& l = lines.front();
  CHECK(l.metric == "n");
  CHECK(l.observed_at.size() == 24);
  CHECK(l.observed_at.back() == 'Z');
  CHECK(l.batch_id.size() == 36);

  CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM readings") == std::to_string(kPublishers * kPer));
  // the local API shows the devices with their latest values
  auto devs = http_get(gw.url("/api/v1/devices"));
  CHECK(devs.status == 200);
  CHECK(devs.body.find("\"p3-d4\"") != std::string::npos);
  auto one = http_get(gw.url("/api/v1/devices/p0-d1/latest"));
  CHECK(one.status == 200);
  CHECK(one.body.find("\"n\":{\"value\":") != std::string::npos);
  auto missing = http_get(gw.url("/api/v1/devices/no%20such/latest"));
  CHECK(missing.status == 404);
  CHECK(missing.header("content-type") == "application/problem+json");
  CHECK(gw.stop() == 0);
}

TEST_CASE("lake outage under load - nothing lost, duplicates only as repeated batch ids, outbox drains",
          "[integration][outage]") {
  MqttStack st;
  // plain references: clang 14 cannot capture structured bindings in lambdas
  auto& broker = st.broker;
  auto& lake = st.lake;
  auto& gw = *st.gw;

  publish_range(broker.url(), 0, 3, 0, 1000);
  lake.stop();
  publish_range(broker.url(), 0, 3, 1000, 2000);
  // the gateway keeps accepting while upstream is down
  REQUIRE(wait_until([&] { return sql_scalar(gw.db(), "SELECT count(*) FROM readings") == "2000"; }, 30s));
  lake.start();
  publish_range(broker.url(), 0, 3, 2000, 3000);

  std::vector<LakeLine> lines;
  LakeSummary s;
  REQUIRE(wait_lake_unique(lake, 3000, 60s, &lines, &s));
  check_complete(s, lines, 1, 3, 3000);
  // the outbox drains: no formed batch left, every reading batched
  CHECK(wait_until([&] { return sql_scalar(gw.db(), "SELECT count(*) FROM batches") == "0"; }, 20s));
  CHECK(sql_scalar(gw.db(), "SELECT value FROM meta WHERE key='cursor_telemetry'") ==
        sql_scalar(gw.db(), "SELECT max(id) FROM readings"));
  CHECK(gw.stop() == 0);
}

TEST_CASE("a frozen lake (SIGSTOP) is given up on by the total timeout, then delivery resumes",
          "[integration][outage]") {
  MqttStack st;
  // plain references: clang 14 cannot capture structured bindings in lambdas
  auto& broker = st.broker;
  auto& lake = st.lake;
  auto& gw = *st.gw;

  publish_range(broker.url(), 0, 2, 0, 200);
  REQUIRE(wait_lake_unique(lake, 200, 30s));
  lake.process().signal(SIGSTOP);
  publish_range(broker.url(), 0, 2, 200, 400);
  // the connection is accepted by the kernel but never answered: only the total timeout ends it
  bool gave_up = wait_until([&] { return gw.process().log().find("Timeout was reached") != std::string::npos; }, 20s);
  lake.process().signal(SIGCONT);
  REQUIRE(gave_up);
  std::vector<LakeLine> lines;
  LakeSummary s;
  REQUIRE(wait_lake_unique(lake, 400, 30s, &lines, &s));
  check_complete(s, lines, 1, 2, 400);
  CHECK(gw.stop() == 0);
}
