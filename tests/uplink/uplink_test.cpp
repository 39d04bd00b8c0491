// Uplink against the real lake receiver (in-process, real HTTP on loopback) and a real store.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <thread>

#include "lake/lake.hpp"
#include "store/store.hpp"
#include "support/lake_files.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"
#include "uplink/http_sink.hpp"
#include "uplink/uplink.hpp"

using namespace cg;
using namespace std::chrono_literals;

namespace {

struct LakeThread {
  Metrics metrics;  // outlives the io_context: handlers destroyed with it still count
  boost::asio::io_context io;
  std::unique_ptr<lake::LakeReceiver> rx;
  std::thread th;
  LakeThread(const std::filesystem::path& dir, std::uint16_t port) {
    lake::LakeOptions o;
    o.port = port;
    o.dir = dir;
    rx = std::make_unique<lake::LakeReceiver>(io, o, metrics);
    REQUIRE(rx->start());
    th = std::thread([this] { io.run(); });
  }
  ~LakeThread() {
    rx->stop();
    io.stop();
    th.join();
  }
};

Reading reading(const std::string& dev, std::int64_t v, TimeNs t) {
  Reading r;
  r.device = dev;
  r.metric = "v";
  r.value = v;
  r.observed = r.received = t;
  return r;
}

}  // namespace

TEST_CASE("uplink delivers every reading once, survives a lake outage, and drains the outbox", "[uplink]") {
  test::TempDir dir;
  SystemClock clock;
  Metrics metrics;
  store::StoreOptions so;
  so.path = dir / "gw.db";
  auto st = store::Store::open(so, clock, metrics);
  REQUIRE(st);
  auto port = static_cast<std::uint16_t>(test::free_port());
  uplink::HttpSinkOptions ho;
  ho.id = "lake";
  ho.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/batches";
  ho.connect_timeout = 500ms;
  ho.total_timeout = 2000ms;
  ho.gateway_id = "gw-u";
  auto sink = uplink::HttpSink::create(ho);
  REQUIRE(sink);
  std::vector<uplink::SinkSlot> sinks(1);
  sinks[0].id = "lake";
  sinks[0].workers.push_back(std::move(*sink));
  uplink::UplinkOptions uo{"gw-u", 100, 4 << 20, 50ms, 20ms, 200ms};
  uplink::Uplink up(**st, std::move(sinks), uo, clock, metrics);
  (*st)->set_commit_listener([&] { up.notify(); });
  REQUIRE(up.start());

  auto submit = [&](int from, int to) {
    for (int i = from; i < to; ++i) (*st)->submit({reading("d" + std::to_string(i % 7), i, clock.now())}, {}, nullptr);
  };
  // lake down: readings wait in the outbox, the uplink backs off
  submit(0, 500);
  REQUIRE(test::wait_until([&] { return metrics.value("uplink_retries_total", {{"sink", "lake"}}) >= 3; }, 10s));
  {
    LakeThread lake(dir / "lake", port);
    submit(500, 1000);
    REQUIRE(test::wait_until([&] { return metrics.value("uplink_readings_settled_total", {{"sink", "lake"}}) >= 1000; }, 20s));
  }
  auto s = test::summarize(test::read_lake(dir / "lake"));
  CHECK(s.unique == 1000);
  CHECK(s.duplicate_lines == 0);
  for (const auto& [dev, seqs] : s.seqs) CHECK(*seqs.rbegin() == seqs.size());
  CHECK((*st)->outbox_stats().unsent_rows == 0);
  CHECK((*st)->outbox_stats().pending_batches == 0);
  up.stop();
}

namespace {
std::unique_ptr<uplink::Sink> http_sink(const std::string& id, std::uint16_t port) {
  uplink::HttpSinkOptions ho;
  ho.id = id;
  ho.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/batches";
  ho.connect_timeout = 500ms;
  ho.total_timeout = 2000ms;
  ho.gateway_id = "gw-u";
  auto s = uplink::HttpSink::create(ho);
  REQUIRE(s);
  return std::move(*s);
}
}  // namespace

TEST_CASE("uplink: each sink settles on its own, a sink that is down holds back nothing but its own copy",
          "[uplink]") {
  test::TempDir dir;
  SystemClock clock;
  Metrics metrics;
  store::StoreOptions so;
  so.path = dir / "gw.db";
  auto st = store::Store::open(so, clock, metrics);
  REQUIRE(st);
  auto port_a = static_cast<std::uint16_t>(test::free_port());
  auto port_b = static_cast<std::uint16_t>(test::free_port());
  std::vector<uplink::SinkSlot> sinks(2);
  sinks[0].id = "a";
  sinks[0].workers.push_back(http_sink("a", port_a));
  sinks[1].id = "b";
  sinks[1].workers.push_back(http_sink("b", port_b));
  uplink::UplinkOptions uo{"gw-u", 100, 4 << 20, 50ms, 20ms, 200ms};
  uplink::Uplink up(**st, std::move(sinks), uo, clock, metrics);
  (*st)->set_commit_listener([&] { up.notify(); });
  REQUIRE(up.start());
  LakeThread lake_a(dir / "lake-a", port_a);
  for (int i = 0; i < 1000; ++i) (*st)->submit({reading("d" + std::to_string(i % 7), i, clock.now())}, {}, nullptr);
  // sink a delivers everything although sink b is down
  REQUIRE(test::wait_until([&] { return metrics.value("uplink_readings_settled_total", {{"sink", "a"}}) >= 1000; }, 20s));
  CHECK(metrics.value("uplink_readings_settled_total", {{"sink", "b"}}) == 0);
  CHECK(metrics.value("uplink_retries_total", {{"sink", "b"}}) > 0);
  // the outbox keeps what b still owes
  CHECK((*st)->outbox_stats().pending_batches > 0);
  CHECK(test::summarize(test::read_lake(dir / "lake-a")).unique == 1000);
  {
    LakeThread lake_b(dir / "lake-b", port_b);
    REQUIRE(test::wait_until([&] { return metrics.value("uplink_readings_settled_total", {{"sink", "b"}}) >= 1000; }, 30s));
    REQUIRE(test::wait_until([&] { return (*st)->outbox_stats().pending_batches == 0; }, 10s));
  }
  auto b = test::summarize(test::read_lake(dir / "lake-b"));
  CHECK(b.unique == 1000);
  CHECK(b.duplicate_lines == 0);
  up.stop();
}

TEST_CASE("uplink: a sink's bandwidth cap spaces its sends", "[uplink]") {
  test::TempDir dir;
  SystemClock clock;
  Metrics metrics;
  store::StoreOptions so;
  so.path = dir / "gw.db";
  auto st = store::Store::open(so, clock, metrics);
  REQUIRE(st);
  auto port = static_cast<std::uint16_t>(test::free_port());
  LakeThread lake(dir / "lake", port);
  // readings first, then the uplink: the batches are full (100 readings, ~2.5 KB zstd-less body)
  for (int i = 0; i < 1000; ++i) (*st)->submit({reading("d" + std::to_string(i % 7), i, clock.now())}, {}, nullptr);
  (*st)->flush();
  std::vector<uplink::SinkSlot> sinks(1);
  sinks[0].id = "slow";
  sinks[0].policy.bandwidth_bytes_per_s = 4000;
  sinks[0].workers.push_back(http_sink("slow", port));
  uplink::UplinkOptions uo{"gw-u", 100, 4 << 20, 50ms, 20ms, 200ms};
  uplink::Uplink up(**st, std::move(sinks), uo, clock, metrics);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(up.start());
  REQUIRE(test::wait_until([&] { return metrics.value("uplink_readings_settled_total", {{"sink", "slow"}}) >= 1000; }, 60s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double bytes = static_cast<double>(metrics.value("uplink_bytes_sent_total", {{"sink", "slow"}}));
  INFO("sent " << bytes << " bytes in " << secs << " s");
  // The bucket starts full (one second's worth) and a send may take it into debt by one batch
  // (10 batches here): the rest goes at the cap. Uncapped, this takes a fraction of a second.
  CHECK(secs >= (bytes - 4000 - bytes / 10) / 4000 * 0.95);
  CHECK(secs >= 4.0);
  up.stop();
}
