// A kill -9 loop under mixed MQTT and HTTP ingest (docs/delivery.md §8): real mosquitto, the real
// lake receiver and the real gateway binary, each a process on loopback.
//
// While two load threads run — an MQTT publisher (QoS 1 through the broker: acknowledged means
// the broker's PUBACK, and the broker keeps queued messages for the gateway's persistent session,
// so every one of them must reach the lake) and an HTTP pusher (SenML packs POSTed to the ingest
// route: acknowledged means a 200, given only after the commit is fsync'd; refused connections
// and 503s while the gateway is down are expected and not counted) — the gateway is killed with
// SIGKILL at random points, N times. After each kill `PRAGMA integrity_check` must answer "ok",
// the store must keep its incarnation (no quarantine), and the gateway is started again (until
// ready and subscribed). About one iteration in eight also kills -9 and restarts the lake
// receiver, mid-upload.
//
// After the loop the load stops and the gateway drains to the lake; then:
//   - every acknowledged MQTT message and HTTP pack is in the lake;
//   - per device, the gateway seq values in the lake are gap-free 1..max;
//   - each (device, metric, value) — every message value is unique — is in the lake under one
//     seq only: an MQTT redelivery (DUP after a lost PUBACK) was not stored twice;
//   - duplicate lines at the lake only as whole repeated batch_ids, at most one batch per lake
//     kill (the lake answers 409 to a re-sent batch, so only a lake killed between writing a
//     batch and recording it can hold one twice);
//   - the lake's batch_seq has no holes;
//   - in the store, every message is all-or-nothing (2 readings per MQTT message, 3 per HTTP
//     pack, none stored twice) and the readings count equals the lake's distinct (device, seq).
// A summary line gives kills, acknowledged messages per transport, readings, duplicates and times.
//
// Knobs (environment):
//   CITYGATE_KILLS      number of gateway kills (default 50: what `make test` runs through ctest;
//                       `make soak` runs this case alone with 1000 — SOAK_KILLS — and a timeout of
//                       SOAK_TIMEOUT = 3600 s instead of ctest's 300)
//   CITYGATE_KILL_SEED  the random seed (pauses before kills, lake kills); printed at the start of
//                       every run, so that a failing run can be replayed
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "integration/harness.hpp"
#include "support/mqtt_pub.hpp"

using namespace cg::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kDevices = 4;                        // m0..m3 over MQTT, h0..h3 over HTTP
constexpr auto kMqttPeriod = std::chrono::microseconds(4000);  // ≈ 250 messages/s (2 readings each)
constexpr auto kHttpPeriod = std::chrono::microseconds(10000); // ≤ 100 packs/s (3 readings each)
constexpr int kBatchMaxRows = 200;

long env_long(const char* name, long def) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return end && *end == '\0' ? n : def;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// GET /admin/v1/status: outbox.unsent_rows and the redelivery counter of this gateway run.
struct AdminStatus {
  std::int64_t unsent_rows = -1;
  std::int64_t redeliveries_deduplicated = 0;
};
std::optional<AdminStatus> admin_status(int admin_port) {
  auto r = http_request("GET", "http://127.0.0.1:" + std::to_string(admin_port) + "/admin/v1/status", "", {}, 3000);
  if (r.status != 200) return std::nullopt;
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(r.body).get(doc)) return std::nullopt;
  AdminStatus s;
  if (doc["outbox"]["unsent_rows"].get(s.unsent_rows)) return std::nullopt;
  std::int64_t d = 0;
  if (!doc["counters"]["mqtt_redeliveries_deduplicated_total"].get(d)) s.redeliveries_deduplicated = d;
  return s;
}

// GET /v1/stats of the lake: batches answered 409 (re-sent) since it started, batch_seq holes.
struct LakeStats {
  std::int64_t duplicates = -1, batch_seq_missing = -1;
  std::string body;
};
LakeStats lake_stats(const Lake& lake) {
  LakeStats out;
  auto r = http_request("GET", lake.url("/v1/stats"), "", {}, 3000);
  out.body = r.body;
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (r.status != 200 || p.parse(r.body).get(doc)) return out;
  if (doc["duplicates"].get(out.duplicates)) out.duplicates = -1;
  if (doc["batch_seq_missing"].get(out.batch_seq_missing)) out.batch_seq_missing = -1;
  return out;
}

// Stops the load threads and joins them on every way out of the test (a failed REQUIRE throws;
// a joinable std::thread destroyed would terminate the binary).
struct LoadGuard {
  std::atomic<bool>& stop;
  std::vector<std::thread*> threads;
  void join() {
    stop = true;
    for (auto* t : threads)
      if (t->joinable()) t->join();
  }
  ~LoadGuard() { join(); }
};

using Key = std::tuple<std::string, std::string, std::string>;  // device, metric, value (JSON)

}  // namespace

TEST_CASE("kill -9 loop under mixed MQTT and HTTP ingest - nothing acknowledged is lost, the store stays intact, "
          "duplicates bounded",
          "[integration][crash][killloop]") {
  const long kills = std::max(1L, env_long("CITYGATE_KILLS", 50));
  const auto seed = static_cast<std::uint32_t>(env_long("CITYGATE_KILL_SEED", static_cast<long>(std::random_device{}())));
  std::printf("killloop: kills=%ld seed=%u (replay: CITYGATE_KILL_SEED=%u)\n", kills, seed, seed);
  std::fflush(stdout);
  INFO("kills " << kills << ", seed " << seed << " (CITYGATE_KILL_SEED replays the pauses and lake kills)");
  const auto t_start = Clock::now();

  TempDir dir;
  Mosquitto broker(dir / "mosquitto");
  Lake lake(dir.path());
  lake.start();
  const int ingest_port = free_port();
  GatewaySettings gs;
  gs.lake_port = lake.port();
  gs.broker_url = broker.url();
  gs.ingest_port = ingest_port;
  gs.batch_max_rows = kBatchMaxRows;
  gs.extra = "[[adapters]]\nkind = \"senml\"\nid = \"senml-http\"\nhttp_path = \"/ingest/senml\"\n";
  Gateway gw(dir.path(), gs);
  gw.start();
  const std::string incarnation = sql_scalar(gw.db(), "SELECT value FROM meta WHERE key = 'incarnation_id'");
  REQUIRE(incarnation.size() > 8);

  // ---- load: MQTT (m<k>, {"n":i,"k":i}) and HTTP (h<k>, SenML a/b/c = n), every value unique
  std::atomic<bool> stop{false};
  std::vector<std::int64_t> mqtt_acked, http_acked;  // owned by their thread until joined
  std::atomic<long> mqtt_failed{0}, http_refused{0}, http_503{0}, http_other{0};
  std::atomic<long> mqtt_acked_n{0}, http_acked_n{0};  // progress, readable while the threads run
  std::string mqtt_error, http_other_example;

  std::thread mqtt_thread([&] {
    try {
      MqttPublisher pub(broker.url(), "killloop-pub");
      auto next = Clock::now();
      for (std::int64_t i = 0; !stop; ++i) {
        // load pacing (a rate, not a wait for a condition); after a stall, no catch-up burst
        next += kMqttPeriod;
        if (next < Clock::now() - 100ms) next = Clock::now();
        std::this_thread::sleep_until(next);
        const std::string v = std::to_string(i);
        if (pub.publish("city/kl/m" + std::to_string(i % kDevices) + "/telemetry", "{\"n\":" + v + ",\"k\":" + v + "}")) {
          mqtt_acked.push_back(i);
          ++mqtt_acked_n;
        } else {
          ++mqtt_failed;
        }
      }
    } catch (const std::exception& e) {
      mqtt_error = e.what();
    }
  });
  std::thread http_thread([&] {
    const std::string url = "http://127.0.0.1:" + std::to_string(ingest_port) + "/ingest/senml";
    auto next = Clock::now();
    for (std::int64_t n = 0; !stop; ++n) {
      next += kHttpPeriod;
      if (next < Clock::now() - 100ms) next = Clock::now();
      std::this_thread::sleep_until(next);  // load pacing, also while the gateway is down
      const std::string v = std::to_string(n);
      const std::string body = "[{\"bn\":\"h" + std::to_string(n % kDevices) + ":\",\"n\":\"a\",\"v\":" + v +
                               "},{\"n\":\"b\",\"v\":" + v + "},{\"n\":\"c\",\"v\":" + v + "}]";
      auto r = http_request("POST", url, body, {"Content-Type: application/senml+json"}, 5000);
      if (r.status == 200 && r.body == R"({"accepted":3})") {
        http_acked.push_back(n);
        ++http_acked_n;
      } else if (r.status == 0) {
        ++http_refused;  // down, or killed while answering: not acknowledged
      } else if (r.status == 503) {
        ++http_503;
      } else {
        if (http_other++ == 0) http_other_example = std::to_string(r.status) + " " + r.body;
      }
    }
  });
  LoadGuard load{stop, {&mqtt_thread, &http_thread}};

  // ---- the loop
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pause_ms(20, 300);
  long lake_kills = 0;
  std::int64_t resent = 0;  // batches the lake answered 409: re-sent after a fault (sampled per lake run)
  std::int64_t redeliveries_seen = 0;  // the counter as sampled before each kill (a lower bound)
  double restart_ms_total = 0, restart_ms_max = 0, check_ms_total = 0;
  const auto t_loop = Clock::now();
  for (long k = 1; k <= kills; ++k) {
    INFO("kill " << k << " of " << kills);
    const bool kill_lake = rng() % 8 == 0;
    const int p1 = pause_ms(rng);
    const int p2 = pause_ms(rng) / 2;
    // the test's own pacing: kill at a random point of the gateway's life
    std::this_thread::sleep_for(std::chrono::milliseconds(p1));
    if (kill_lake) {
      resent += std::max<std::int64_t>(0, lake_stats(lake).duplicates);  // its counters die with it
      lake.process().stop(9, 10000);
      lake.start();
      ++lake_kills;
      std::this_thread::sleep_for(std::chrono::milliseconds(p2));
    }
    if (auto st = admin_status(gw.admin_port())) redeliveries_seen += st->redeliveries_deduplicated;
    gw.kill9();
    REQUIRE_FALSE(gw.process().running());
    const auto t_check = Clock::now();
    const std::string ic = sql_scalar(gw.db(), "PRAGMA integrity_check");
    if (ic != "ok") {
      const std::string log = gw.process().log();
      FAIL("integrity_check after kill " << k << ": " << ic << "\ngateway log tail:\n"
                                         << log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
    }
    REQUIRE(sql_scalar(gw.db(), "SELECT value FROM meta WHERE key = 'incarnation_id'") == incarnation);
    check_ms_total += ms_since(t_check);
    const auto t_restart = Clock::now();
    gw.start();  // ready and subscribed; throws (fails the test) after 20 s
    const double rms = ms_since(t_restart);
    restart_ms_total += rms;
    restart_ms_max = std::max(restart_ms_max, rms);
    if (rms > 2000) {
      std::printf("killloop: kill %ld: the restart took %.0f ms\n", k, rms);
      std::fflush(stdout);
    }
    if (k % 100 == 0) {
      std::printf("killloop: %ld kills, %.0f ms per kill so far, %ld MQTT + %ld HTTP acknowledged\n", k,
                  ms_since(t_loop) / static_cast<double>(k), mqtt_acked_n.load(), http_acked_n.load());
      std::fflush(stdout);
    }
  }
  const double loop_ms = ms_since(t_loop);
  load.join();
  REQUIRE(mqtt_error.empty());

  // ---- drain: the outbox empty, every acknowledged message in the lake, lake == store
  std::set<std::int64_t> mqtt_set(mqtt_acked.begin(), mqtt_acked.end());
  std::set<std::int64_t> http_set(http_acked.begin(), http_acked.end());
  CHECK(mqtt_set.size() == mqtt_acked.size());
  CHECK(http_set.size() == http_acked.size());
  std::vector<LakeLine> lines;
  LakeSummary s;
  std::map<Key, std::set<std::uint64_t>> seqs_of;  // (device, metric, value) -> seqs in the lake
  std::size_t missing_mqtt = 0, missing_http = 0;
  std::string store_readings;
  std::int64_t last_unsent = -1;
  auto lake_complete = [&] {
    lines = read_lake(lake.data());
    s = summarize(lines);
    seqs_of.clear();
    for (const auto& l : lines) seqs_of[Key{l.device, l.metric, l.value_json}].insert(l.seq);
    missing_mqtt = missing_http = 0;
    for (auto i : mqtt_set) {
      const std::string dev = "m" + std::to_string(i % kDevices), v = std::to_string(i);
      if (!seqs_of.count(Key{dev, "n", v}) || !seqs_of.count(Key{dev, "k", v})) ++missing_mqtt;
    }
    for (auto n : http_set) {
      const std::string dev = "h" + std::to_string(n % kDevices), v = std::to_string(n);
      if (!seqs_of.count(Key{dev, "a", v}) || !seqs_of.count(Key{dev, "b", v}) || !seqs_of.count(Key{dev, "c", v}))
        ++missing_http;
    }
    return missing_mqtt == 0 && missing_http == 0 && std::to_string(s.unique) == store_readings;
  };
  const auto t_drain = Clock::now();
  const bool drained = wait_until(
      [&] {
        auto st = admin_status(gw.admin_port());
        if (!st) return false;
        last_unsent = st->unsent_rows;
        if (st->unsent_rows != 0) return false;
        store_readings = sql_scalar(gw.db(), "SELECT count(*) FROM readings");
        return lake_complete();  // read only once the outbox is empty
      },
      std::chrono::seconds(30 + kills / 10));
  const double drain_ms = ms_since(t_drain);
  if (auto st = admin_status(gw.admin_port())) redeliveries_seen += st->redeliveries_deduplicated;
  INFO("outbox unsent_rows " << last_unsent << ", store readings " << store_readings << ", lake unique " << s.unique
                             << ", missing MQTT " << missing_mqtt << ", missing HTTP " << missing_http);
  CHECK(drained);
  CHECK(missing_mqtt == 0);
  CHECK(missing_http == 0);
  CHECK(std::to_string(s.unique) == store_readings);

  // ---- the lake: gap-free seq per device, one seq per value, duplicates only as repeated batches
  CHECK(s.seqs.size() == 2 * kDevices);
  for (const auto& [dev, seqs] : s.seqs) {
    INFO("device " << dev << ": " << seqs.size() << " seqs, first " << *seqs.begin() << ", last " << *seqs.rbegin());
    CHECK(*seqs.begin() == 1);
    CHECK(*seqs.rbegin() == seqs.size());
  }
  std::size_t stored_twice = 0;
  for (const auto& [key, seqs] : seqs_of)
    if (seqs.size() != 1) ++stored_twice;
  CHECK(stored_twice == 0);  // a redelivered MQTT message (or a pack) under a second seq
  CHECK(s.dup_only_as_repeated_batches);
  CHECK(s.duplicate_batches.size() <= static_cast<std::size_t>(lake_kills));
  CHECK(s.duplicate_lines <= static_cast<std::size_t>(lake_kills) * kBatchMaxRows);
  // The lake's own account: no batch_seq hole, and re-sent batches (answered 409) bounded by the
  // faults: each kill re-sends at most what was in flight — one formed batch
  // per outbox class in use (telemetry, status) with max_in_flight = 1.
  const auto ls = lake_stats(lake);
  INFO("lake stats: " << ls.body);
  REQUIRE(ls.duplicates >= 0);
  resent += ls.duplicates;
  CHECK(ls.batch_seq_missing == 0);
  CHECK(resent <= 2 * (kills + lake_kills));

  // ---- the store, stopped cleanly: intact, every message all-or-nothing and stored once
  CHECK(gw.stop() == 0);
  CHECK(sql_scalar(gw.db(), "PRAGMA integrity_check") == "ok");
  CHECK(sql_scalar(gw.db(), "SELECT value FROM meta WHERE key = 'incarnation_id'") == incarnation);
  CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM readings") == store_readings);
  const std::string by_stream =
      "SELECT count(*) FROM (SELECT 1 FROM readings GROUP BY stream_id, value HAVING count(*) > 1)";
  CHECK(sql_scalar(gw.db(), by_stream) == "0");  // no value twice in a stream: nothing stored twice
  auto not_whole = [&](const std::string& prefix, int per_message) {
    return sql_scalar(gw.db(), "SELECT count(*) FROM (SELECT 1 FROM readings r JOIN streams s USING(stream_id) "
                               "JOIN devices d USING(dev_id) WHERE d.name LIKE '" + prefix +
                                   "%' GROUP BY s.dev_id, r.value HAVING count(*) != " + std::to_string(per_message) + ")");
  };
  CHECK(not_whole("m", 2) == "0");  // an MQTT message is its two readings or nothing
  CHECK(not_whole("h", 3) == "0");  // an HTTP pack is its three readings or nothing
  CHECK(sql_scalar(gw.db(), "SELECT count(*) FROM devices WHERE name NOT GLOB '[mh][0-9]'") == "0");
  bool quarantined = false;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().filename().string().find(".corrupt-") != std::string::npos) quarantined = true;
  CHECK_FALSE(quarantined);

  // ---- load sanity: both transports were acknowledged throughout, nothing unexpected answered
  INFO("HTTP other answers: " << http_other.load() << " e.g. " << http_other_example);
  CHECK(http_other == 0);
  CHECK(mqtt_failed == 0);  // the broker stays up: every publish is acknowledged by it
  CHECK(mqtt_set.size() >= static_cast<std::size_t>(kills));
  CHECK(http_set.size() >= static_cast<std::size_t>(kills));

  std::printf(
      "killloop summary: seed=%u kills=%ld (lake kills %ld) | acknowledged: MQTT %zu messages (%zu readings), HTTP "
      "%zu packs (%zu readings); HTTP refused %ld, 503 %ld | lake: %zu lines, %zu distinct readings, %zu duplicate "
      "lines in %zu repeated batches, %lld re-sent batches answered 409 | store: %s readings, >= %lld MQTT redeliveries deduplicated | loop %.1f s "
      "(%.0f ms per kill: restart %.0f ms avg, %.0f ms max; integrity check %.0f ms avg), drain %.1f s, total %.1f s\n",
      seed, kills, lake_kills, mqtt_set.size(), 2 * mqtt_set.size(), http_set.size(), 3 * http_set.size(),
      http_refused.load(), http_503.load(), s.lines, s.unique, s.duplicate_lines, s.duplicate_batches.size(),
      static_cast<long long>(resent), store_readings.c_str(), static_cast<long long>(redeliveries_seen), loop_ms / 1000, loop_ms / kills,
      restart_ms_total / kills, restart_ms_max, check_ms_total / kills, drain_ms / 1000, ms_since(t_start) / 1000);
  std::fflush(stdout);
}
