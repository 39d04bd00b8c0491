// Store-and-forward under storage and time faults, from outside (issue 4): the real gateway
// binary, the real lake receiver, HTTP ingest over loopback.
//   - a full filesystem: a small tmpfs in a private mount namespace (the test process unshares
//     its own mount namespace; the gateway it starts inherits it). Where the machine refuses the
//     mount, the test falls back to the disk budget (SQLite max_page_count) and says so.
//   - the wall clock jumping a day forward and a year back (libfaketime, monotonic clock real).
//   - a long outage: the backlog drains while live data keeps arriving, bounded.
#include <sched.h>
#include <sys/mount.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <mutex>
#include <map>
#include <set>
#include <thread>

#include <simdjson.h>

#include "harness.hpp"
#include "support/mqtt_pub.hpp"

using namespace cg;
using namespace cg::test;
using namespace std::chrono_literals;

namespace {

// Line protocol over the gateway's HTTP ingest route (/write): one batch of `n` readings with
// values first..first+n-1, device d<value % devices>. 200 means committed and fsync'd.
std::string lines(std::int64_t first, int n, int devices) {
  std::string body;
  for (int i = 0; i < n; ++i) {
    auto v = first + i;
    body += "m,device=d" + std::to_string(v % devices) + " v=" + std::to_string(v) + "i\n";
  }
  return body;
}

// Admin status JSON of the running gateway, parsed.
struct AdminStatus {
  std::int64_t unsent_rows = -1, pending_batches = -1, backlog_rows = -1, telemetry_rows = -1, evicted_rows = -1;
  std::map<std::string, std::int64_t> counters;
};
AdminStatus admin_status(int admin_port) {
  AdminStatus st;
  auto r = http_get("http://127.0.0.1:" + std::to_string(admin_port) + "/admin/v1/status");
  if (r.status != 200) return st;
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(r.body).get(doc)) return st;
  std::int64_t v;
  if (!doc["outbox"]["unsent_rows"].get(v)) st.unsent_rows = v;
  if (!doc["store"]["evicted_rows"].get(v)) st.evicted_rows = v;
  if (!doc["outbox"]["pending_batches"].get(v)) st.pending_batches = v;
  if (!doc["outbox"]["classes"]["backlog"]["rows"].get(v)) st.backlog_rows = v;
  if (!doc["outbox"]["classes"]["telemetry"]["rows"].get(v)) st.telemetry_rows = v;
  simdjson::dom::object c;
  if (!doc["counters"].get(c))
    for (auto [k, val] : c) {
      std::int64_t x;
      if (!val.get(x)) st.counters[std::string(k)] = x;
    }
  return st;
}

std::int64_t counter(const AdminStatus& s, const std::string& name) {
  auto it = s.counters.find(name);
  return it == s.counters.end() ? 0 : it->second;
}

// Sum of "count" over the gap lines the lake wrote, by kind.
std::uint64_t lake_gap_rows(const std::filesystem::path& lake_dir, const std::string& kind) {
  std::uint64_t n = 0;
  simdjson::dom::parser p;
  for (const auto& line : read_lake_records(lake_dir, "gap")) {
    simdjson::dom::element doc;
    if (p.parse(line).get(doc)) continue;
    std::string_view k;
    std::uint64_t c = 0;
    if (!doc["kind"].get(k) && k == kind && !doc["count"].get(c)) n += c;
  }
  return n;
}

// Unshares this test process's mount namespace and mounts a tmpfs of `mb` MiB at `dir`.
bool private_tmpfs(const std::filesystem::path& dir, int mb, std::string* why) {
  std::filesystem::create_directories(dir);
  if (::unshare(CLONE_NEWNS) != 0) {
    *why = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    return false;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    *why = std::string("making / private: ") + std::strerror(errno);
    return false;
  }
  auto opts = "size=" + std::to_string(mb) + "m";
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
    *why = std::string("mount tmpfs: ") + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

TEST_CASE("disk full: ingest is refused with 503, the oldest unsent telemetry is evicted into aggregates and gap "
          "records, nothing is corrupt, and ingest resumes once space returns",
          "[integration][storage]") {
  TempDir dir;
  const auto disk = dir / "disk";
  std::string why;
  const bool tmpfs = private_tmpfs(disk, 16, &why);
  if (tmpfs) {
    std::printf("disk-full test: private tmpfs of 16 MiB at %s\n", disk.c_str());
  } else {
    std::printf("disk-full test: the machine refused a private tmpfs (%s); using the disk budget "
                "(SQLite max_page_count) to make the store full instead\n",
                why.c_str());
    std::filesystem::create_directories(disk);
  }
  // Something else on the same filesystem holds space the test gives back later.
  const auto filler = disk / "filler";
  if (tmpfs) REQUIRE(std::system(("head -c 4194304 /dev/zero > " + filler.string()).c_str()) == 0);

  const int lake_port = free_port();
  const int ingest_port = free_port();
  Mosquitto broker(dir / "mosquitto");
  GatewaySettings gs;
  gs.lake_port = lake_port;  // the lake is down for now
  gs.ingest_port = ingest_port;
  gs.broker_url = broker.url();  // MQTT ingest too (mqtt_json on city/+/{device}/telemetry)
  gs.batch_max_rows = 2000;
  gs.extra = "[[adapters]]\nkind = \"influx_line\"\nid = \"lp\"\nhttp_path = \"/write\"\nmax_payload_bytes = 1048576\n";
  Gateway gw(dir.path(), gs);
  // the store lives on the small filesystem
  auto cfg = read_file(gw.config());
  auto pos = cfg.find("[store]\npath = \"");
  REQUIRE(pos != std::string::npos);
  auto end = cfg.find('\n', pos + 8);
  cfg.replace(pos, end - pos, "[store]\npath = \"" + (disk / "gw.db").string() + "\"\nreserve_mb = 2\n" +
                                  (tmpfs ? "" : "disk_budget_mb = 8\n"));
  write_file(gw.config(), cfg);
  gw.start();

  const std::string url = "http://127.0.0.1:" + std::to_string(ingest_port) + "/write";
  std::int64_t next = 0, acked = 0;
  int refused = 0;
  // Fill until the gateway pushes back, then keep offering for a while: it must make room by
  // evicting and take data again.
  auto offer = [&](int rounds) {
    int ok_rounds = 0;
    for (int i = 0; i < rounds; ++i) {
      auto r = http_request("POST", url, lines(next, 500, 20), {}, 20000);
      if (r.status == 200) {
        acked += 500;
        next += 500;
        ++ok_rounds;
      } else {
        REQUIRE(r.status == 503);
        CHECK(!r.header("retry-after").empty());
        ++refused;
      }
      REQUIRE(gw.process().running());
    }
    return ok_rounds;
  };
  REQUIRE(wait_until([&] {
    offer(20);
    return refused > 0;
  }, 120s));
  std::printf("first 503 after %lld acknowledged readings\n", static_cast<long long>(acked));
  // MQTT devices keep publishing while the store is full: the broker acknowledges them to the
  // devices; the gateway acknowledges each to the broker only once it is committed.
  constexpr int kMqtt = 300;
  {
    MqttPublisher pub(broker.url(), "full-disk-pub");
    for (int i = 0; i < kMqtt; ++i)
      REQUIRE(pub.publish("city/z/m" + std::to_string(i % 5) + "/telemetry",
                          "{\"n\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1700000000000LL + i) + "}"));
  }
  // Eviction makes room: within a few seconds the gateway takes data again, the oldest unsent
  // telemetry summarised (the filesystem stays full).
  if (!wait_until([&] { return offer(1) > 0; }, 30s)) {
    auto log = gw.process().log();
    FAIL("ingest did not resume after eviction; gateway log tail:\n" << log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  }
  REQUIRE(wait_until([&] { return admin_status(gw.admin_port()).evicted_rows > 0; }, 30s));
  auto st = admin_status(gw.admin_port());
  std::printf("store refusals: %lld HTTP 503s, %lld MQTT messages not acknowledged (redelivered later)\n",
              static_cast<long long>(refused),
              static_cast<long long>(counter(st, "mqtt_messages_refused_total{broker=\"local\"}")));
  CHECK(counter(st, "store_disk_full_total") >= 1);
  CHECK(counter(st, "store_evicted_rows_total{class=\"telemetry\"}") > 0);
  // kill -9 on the full disk, MQTT messages possibly still held unacknowledged: the gateway
  // comes back on the full filesystem (a device-state replay it cannot write must not keep it
  // down, nor make it hand out a seq twice), and the broker still has every message it had not
  // acknowledged (the final count below includes all kMqtt of them).
  gw.kill9();
  REQUIRE(sql_scalar(disk / "gw.db", "PRAGMA integrity_check") == "ok");
  gw.start();
  REQUIRE(wait_until([&] { return offer(1) > 0; }, 30s));

  if (tmpfs) {
    // Space returns: ingest resumes within seconds and stays up.
    std::filesystem::remove(filler);
    REQUIRE(wait_until([&] { return offer(1) > 0; }, 10s));
    int ok = offer(10);
    CHECK(ok >= 8);
  }

  // The lake comes back: everything acknowledged is in the lake, or accounted for by gap records.
  Lake lake(dir.path(), lake_port);
  lake.start();
  if (!wait_until([&] { return admin_status(gw.admin_port()).unsent_rows == 0 &&
                                summarize(read_lake(lake.data())).unique + lake_gap_rows(lake.data(), "evicted") >=
                                    static_cast<std::uint64_t>(acked + kMqtt); },
                  240s)) {
    auto log = gw.process().log();
    auto s2 = admin_status(gw.admin_port());
    auto sum = summarize(read_lake(lake.data()));
    std::string per_dev;
    for (const auto& [dev, seqs] : sum.seqs)
      per_dev += dev + ": " + std::to_string(seqs.size()) + " seqs " + std::to_string(*seqs.begin()) + ".." +
                 std::to_string(*seqs.rbegin()) + "\n";
    FAIL("not drained: unsent " << s2.unsent_rows << ", duplicate lines " << sum.duplicate_lines << "\n" << per_dev
                                << "db readings " << sql_scalar(disk / "gw.db", "SELECT count(*) FROM readings")
                                << ", retention-deleted " << counter(s2, "store_retention_deleted_total")
                                << ", evicted " << counter(s2, "store_evicted_rows_total{class=\"telemetry\"}") << "+"
                                << counter(s2, "store_evicted_rows_total{class=\"backlog\"}") << "\n"
                                << ", lake " << summarize(read_lake(lake.data())).unique
                                << " + gaps " << lake_gap_rows(lake.data(), "evicted") << " of " << acked + kMqtt
                                << "\ngateway log tail:\n" << log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
  }
  st = admin_status(gw.admin_port());
  // readings evicted since the store was created: persisted with each eviction, so the kill -9
  // above does not reset it (the Prometheus-style counters restart with the process)
  const auto evicted = st.evicted_rows;
  REQUIRE(evicted > 0);
  REQUIRE(gw.stop() == 0);
  auto summary = summarize(read_lake(lake.data()));
  const auto gap_rows = lake_gap_rows(lake.data(), "evicted");
  INFO("acked " << acked << ", in lake " << summary.unique << ", evicted " << evicted << ", gap rows " << gap_rows
                << ", refused " << refused);
  CHECK(gap_rows == static_cast<std::uint64_t>(evicted));
  CHECK(summary.unique + gap_rows == static_cast<std::uint64_t>(acked + kMqtt));
  // the MQTT messages of the full phase were committed (not only acknowledged by the broker)
  std::size_t mqtt_in_lake = 0;
  for (const auto& [dev, seqs] : summary.seqs)
    if (dev.rfind("m", 0) == 0) mqtt_in_lake += seqs.size();
  CHECK(mqtt_in_lake > 0);
  CHECK(summary.duplicate_lines == 0);
  CHECK(!read_lake_records(lake.data(), "aggregate").empty());
  // per device: every gateway seq is in the lake or inside an evicted gap
  CHECK(sql_scalar(disk / "gw.db", "PRAGMA integrity_check") == "ok");
}

TEST_CASE("the wall clock jumps a day forward and a year back under load: nothing lost, nothing expired early, "
          "readings flagged",
          "[integration][clock]") {
  const char* lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (!std::filesystem::exists(lib)) {
    FAIL("libfaketime is not installed (packaging/debian-build-deps.txt lists faketime)");
  }
  TempDir dir;
  Lake lake(dir.path());
  lake.start();
  const int ingest_port = free_port();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.ingest_port = ingest_port;
  gs.batch_max_rows = 200;
  gs.extra = "[[adapters]]\nkind = \"influx_line\"\nid = \"lp\"\nhttp_path = \"/write\"\n";
  Gateway gw(dir.path(), gs);
  {
    // forwarded readings are kept 1 hour (monotonic): a day's jump must not expire them
    auto cfg = read_file(gw.config());
    auto pos = cfg.find("[store]\n");
    cfg.insert(pos + 8, "retention_hours = 1\n");
    write_file(gw.config(), cfg);
  }
  const auto offset_file = dir / "faketime";
  write_file(offset_file, "+0\n");
  // The wall clock is read from the file at every call (no cache); the monotonic clock stays real.
  std::vector<std::string> env = {std::string("LD_PRELOAD=") + lib, "FAKETIME_TIMESTAMP_FILE=" + offset_file.string(),
                                  "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1",
                                  "FAKETIME_DONT_RESET=1"};
  // Under ASan (make sanitize) the preloaded libfaketime comes before the ASan runtime.
  if (const char* asan = std::getenv("ASAN_OPTIONS"))
    env.push_back(std::string("ASAN_OPTIONS=") + asan + ":verify_asan_link_order=0");
  gw.start(env);
  const std::string url = "http://127.0.0.1:" + std::to_string(ingest_port) + "/write";
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> acked{0};
  std::int64_t next_value = 0;
  std::mutex mu;
  // Without timestamps: the gateway stamps observed time from its (jumping) wall clock.
  std::thread load([&] {
    while (!stop) {
      std::int64_t first;
      {
        std::lock_guard lk(mu);
        first = next_value;
        next_value += 50;
      }
      auto r = http_request("POST", url, lines(first, 50, 5), {}, 10000);
      if (r.status == 200) acked += 50;
    }
  });
  auto phase = [&](const char* offset) {
    write_file(offset_file, std::string(offset) + "\n");
    auto target = acked.load() + 2000;
    REQUIRE(wait_until([&] { return acked.load() >= target; }, 30s));
  };
  phase("+0");
  phase("+1d");
  phase("-365d");
  phase("+0");
  stop = true;
  load.join();
  REQUIRE(wait_until([&] { return summarize(read_lake(lake.data())).unique >= static_cast<std::size_t>(acked.load()); }, 60s));
  auto lines_in_lake = read_lake(lake.data());
  auto summary = summarize(lines_in_lake);
  CHECK(summary.unique == static_cast<std::size_t>(acked.load()));
  CHECK(summary.duplicate_lines == 0);
  std::size_t stepped = 0, unsynced = 0;
  for (const auto& l : lines_in_lake) {
    if (l.quality & (1u << 4)) ++stepped;    // quality::kClockStepped
    if (l.quality & (1u << 1)) ++unsynced;   // quality::kClockUnsynced
  }
  INFO("acked " << acked.load() << ", stepped " << stepped << ", unsynced " << unsynced);
  CHECK(stepped >= 2000);   // the +1d and -365d phases
  CHECK(unsynced >= 1000);  // the wall clock behind what the store had seen
  CHECK(stepped < static_cast<std::size_t>(acked.load()));  // the +0 phases are not flagged
  // nothing expired early: every reading is still in the store (1 h retention, minutes passed)
  CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM readings") == std::to_string(acked.load()));
  REQUIRE(gw.stop() == 0);
}

TEST_CASE("after an outage the backlog drains at its capped rate while live data keeps flowing, and what is in "
          "flight stays bounded",
          "[integration][outage]") {
  TempDir dir;
  const int lake_port = free_port();
  const int ingest_port = free_port();
  GatewaySettings gs;
  gs.lake_port = lake_port;
  gs.ingest_port = ingest_port;
  gs.batch_max_rows = 500;
  gs.extra = "[[adapters]]\nkind = \"influx_line\"\nid = \"lp\"\nhttp_path = \"/write\"\nmax_payload_bytes = 1048576\n";
  gs.sink_extra = "backlog_rows_per_s = 10000\n";
  Gateway gw(dir.path(), gs);
  {
    auto cfg = read_file(gw.config());
    cfg.insert(cfg.find("[store]\n") + 8, "backlog_threshold_rows = 2000\n");
    write_file(gw.config(), cfg);
  }
  gw.start();
  const std::string url = "http://127.0.0.1:" + std::to_string(ingest_port) + "/write";
  // outage: 40k readings wait
  std::int64_t next = 0;
  for (int i = 0; i < 40; ++i) {
    REQUIRE(http_request("POST", url, lines(next, 1000, 10)).status == 200);
    next += 1000;
  }
  const std::int64_t backlog_end = next;
  Lake lake(dir.path(), lake_port);
  lake.start();
  // live data keeps arriving while the backlog drains (≈ 4 s at 10k rows/s)
  std::int64_t first_live = next;
  std::int64_t max_pending = 0, max_unsent = 0;
  bool live_before_backlog_done = false;
  for (int i = 0; i < 40; ++i) {
    REQUIRE(http_request("POST", url, lines(next, 20, 10)).status == 200);
    next += 20;
    auto st = admin_status(gw.admin_port());
    max_pending = std::max(max_pending, st.pending_batches);
    max_unsent = std::max(max_unsent, st.unsent_rows);
    // a live reading is in the lake while backlog rows still wait
    if (!live_before_backlog_done && st.backlog_rows > 0) {
      for (const auto& l : read_lake(lake.data()))
        if (l.value_json.size() && std::stoll(l.value_json) >= first_live) {
          live_before_backlog_done = true;
          break;
        }
    }
    if (live_before_backlog_done && i > 10) break;
    std::this_thread::sleep_for(50ms);  // the live sender's own pace (a device's send interval), not a wait
  }
  CHECK(live_before_backlog_done);
  // one sink, max_in_flight 1: at most one formed batch per class at a time
  CHECK(max_pending <= 6);
  CHECK(max_unsent <= backlog_end + 1000);
  REQUIRE(wait_until([&] { return summarize(read_lake(lake.data())).unique >= static_cast<std::size_t>(next); }, 60s));
  auto s = summarize(read_lake(lake.data()));
  CHECK(s.unique == static_cast<std::size_t>(next));
  // the status record the gateway sends at start reached the lake, with its figures: the lake can
  // tell a gateway that is down from sensors that are quiet
  {
    auto statuses = read_lake_records(lake.data(), "status");
    REQUIRE(!statuses.empty());
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    REQUIRE(!p.parse(statuses.front()).get(doc));
    std::string_view version;
    std::int64_t db_bytes = 0;
    CHECK(!doc["version"].get(version));
    CHECK(!version.empty());
    CHECK(!doc["db_bytes"].get(db_bytes));
    CHECK(db_bytes > 0);
  }
  CHECK(s.duplicate_lines == 0);
  for (const auto& [dev, seqs] : s.seqs) CHECK(*seqs.rbegin() == seqs.size());
  auto st = admin_status(gw.admin_port());
  CHECK(st.unsent_rows == 0);
  REQUIRE(gw.stop() == 0);
}
