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
