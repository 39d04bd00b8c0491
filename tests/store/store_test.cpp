// Store: group commit, seq assignment, outbox lease/settle, dedup, queries — on real SQLite files.
#include <catch2/catch.hpp>

#include <future>
#include <limits>
#include <thread>

#include "store/store.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

using namespace cg;
using namespace std::chrono_literals;

namespace {

Reading make(const std::string& dev, const std::string& metric, Value v, TimeNs t) {
  Reading r;
  r.device = dev;
  r.metric = metric;
  r.value = std::move(v);
  r.unit = "u";
  r.observed = t;
  r.received = t;
  return r;
}

CommitStatus submit_wait(store::Store& s, std::vector<Reading> rs, SubmitOptions o = {}) {
  std::promise<CommitStatus> p;
  auto f = p.get_future();
  s.submit(std::move(rs), std::move(o), [&](CommitStatus st) { p.set_value(st); });
  return f.get();
}

// One sink ("lake"), as the uplink would ask.
Result<store::LeaseResult> lease(store::Store& s, std::size_t max_rows, std::chrono::milliseconds max_age) {
  store::LeaseRequest req;
  req.sink = "lake";
  req.max_rows = max_rows;
  req.max_age = max_age;
  return s.lease(req);
}

struct Fixture {
  test::TempDir dir;
  ManualClock clock;
  Metrics metrics;
  store::StoreOptions opts() {
    store::StoreOptions o;
    o.path = dir / "gw.db";
    return o;
  }
};

}  // namespace

TEST_CASE("store assigns gap-free per-device seq that survives reopening", "[store]") {
  Fixture f;
  {
    auto s = store::Store::open(f.opts(), f.clock, f.metrics);
    REQUIRE(s);
    for (int i = 0; i < 3; ++i)
      REQUIRE(submit_wait(**s, {make("a", "t", 1.0, f.clock.now()), make("b", "t", 2.0, f.clock.now()),
                                make("a", "h", 3.0, f.clock.now())}) == CommitStatus::committed);
  }
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  REQUIRE(s);
  REQUIRE(submit_wait(**s, {make("a", "t", 1.0, f.clock.now())}) == CommitStatus::committed);
  auto lr = lease(**s, 1000, 0ms);
  REQUIRE(lr);
  REQUIRE(lr->batch);
  std::vector<std::uint64_t> a_seqs, b_seqs;
  for (const auto& r : lr->batch->readings) (r.device == "a" ? a_seqs : b_seqs).push_back(r.seq);
  CHECK(a_seqs == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});
  CHECK(b_seqs == std::vector<std::uint64_t>{1, 2, 3});
}

TEST_CASE("store round-trips every value type exactly", "[store]") {
  Fixture f;
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  REQUIRE(s);
  auto t = f.clock.now();
  std::vector<Reading> in = {
      make("d", "f", 0.1, t),
      make("d", "nan", std::numeric_limits<double>::quiet_NaN(), t),
      make("d", "inf", -std::numeric_limits<double>::infinity(), t),
      make("d", "i", std::numeric_limits<std::int64_t>::min(), t),
      make("d", "u", std::numeric_limits<std::uint64_t>::max(), t),
      make("d", "b", true, t),
      make("d", "s", std::string("h\xC3\xA9llo\n"), t),
      make("d", "empty", std::string(), t),
      make("d", "bytes", Bytes{{0, 1, 0, 255}}, t),
      make("d", "nobytes", Bytes{}, t),
  };
  in[0].tags = {{"a", "1"}, {"z", ""}};
  in[0].src_seq = 0;
  in[1].src_seq = std::numeric_limits<std::uint64_t>::max();
  in[1].device = "d2";  // its own counter: no src_seq gap record between in[0] and in[1]
  in[2].quality = quality::kClockUnsynced | quality::kTimeFromGateway;
  in[3].observed = from_unix_ns(-1'000'000'000);  // before 1970
  REQUIRE(submit_wait(**s, in) == CommitStatus::committed);
  auto lr = lease(**s, 100, 0ms);
  REQUIRE(lr->batch);
  auto& out = lr->batch->readings;
  REQUIRE(out.size() == in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    INFO(in[i].metric);
    CHECK(out[i].device == in[i].device);
    CHECK(out[i].metric == in[i].metric);
    CHECK(out[i].unit == in[i].unit);
    CHECK(out[i].tags == in[i].tags);
    CHECK(out[i].observed == in[i].observed);
    CHECK(out[i].src_seq == in[i].src_seq);
    CHECK(out[i].quality == in[i].quality);
    CHECK(out[i].value.index() == in[i].value.index());
    if (in[i].metric == "nan") CHECK(std::isnan(std::get<double>(out[i].value)));
    else CHECK(out[i].value == in[i].value);
  }
}

TEST_CASE("outbox: a batch is formed once and re-leased unchanged until settled", "[store][outbox]") {
  Fixture f;
  std::string first_id;
  std::vector<Reading> first_rows;
  {
    auto s = store::Store::open(f.opts(), f.clock, f.metrics);
    REQUIRE(s);
    std::vector<Reading> rs;
    for (int i = 0; i < 25; ++i) rs.push_back(make("dev" + std::to_string(i % 3), "m", std::int64_t{i}, f.clock.now()));
    REQUIRE(submit_wait(**s, rs) == CommitStatus::committed);

    auto a = lease(**s, 10, 1h);
    REQUIRE(a->batch);
    CHECK(a->batch->readings.size() == 10);
    CHECK(a->batch->batch_seq == 1);
    CHECK(a->batch->batch_id.size() == 36);
    CHECK(a->batch->batch_id[14] == '7');  // UUIDv7
    auto b = lease(**s, 10, 1h);
    CHECK(b->batch->batch_id == a->batch->batch_id);
    first_id = a->batch->batch_id;
    first_rows = a->batch->readings;
  }
  // restart: the same batch comes back, same id, same readings
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  auto again = lease(**s, 10, 1h);
  REQUIRE(again->batch);
  CHECK(again->batch->batch_id == first_id);
  CHECK(again->batch->readings == first_rows);
  REQUIRE((*s)->settle("lake", again->batch->batch_seq));

  auto next = lease(**s, 10, 1h);
  REQUIRE(next->batch);
  CHECK(next->batch->batch_seq == 2);
  CHECK(next->batch->readings.size() == 10);
  REQUIRE((*s)->settle("lake", 2));
  // 5 rows left: younger than max_age → nothing yet, with a hint when to ask again
  auto young = lease(**s, 10, 1h);
  CHECK_FALSE(young->batch);
  REQUIRE(young->retry_after);
  CHECK(*young->retry_after <= 1h);
  f.clock.advance(2h);
  auto old = lease(**s, 10, 1h);
  REQUIRE(old->batch);
  CHECK(old->batch->readings.size() == 5);
  REQUIRE((*s)->settle("lake", 3));
  auto empty = lease(**s, 10, 0ms);
  CHECK_FALSE(empty->batch);
  CHECK_FALSE(empty->retry_after);
  // settling removes the outbox entry only: readings stay queryable
  auto devs = (*s)->list_devices();
  CHECK(devs.size() == 3);
  CHECK((*s)->outbox_stats().unsent_rows == 0);
}

TEST_CASE("a redelivered MQTT message already committed is not stored twice", "[store][dedup]") {
  Fixture f;
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  REQUIRE(s);
  DedupKey k{"broker/client/adapter", 42, 0xABCDEF, false};
  REQUIRE(submit_wait(**s, {make("d", "m", 1.0, f.clock.now())}, {Durability::committed, k}) == CommitStatus::committed);
  k.is_redelivery = true;
  CHECK(submit_wait(**s, {make("d", "m", 1.0, f.clock.now())}, {Durability::committed, k}) == CommitStatus::duplicate);
  // same packet id, different payload (packet ids are reused): a new message
  k.payload_hash = 0x123;
  CHECK(submit_wait(**s, {make("d", "m", 2.0, f.clock.now())}, {Durability::committed, k}) == CommitStatus::committed);
  // not flagged DUP: never looked up
  k.is_redelivery = false;
  CHECK(submit_wait(**s, {make("d", "m", 2.0, f.clock.now())}, {Durability::committed, k}) == CommitStatus::committed);
  auto lr = lease(**s, 100, 0ms);
  CHECK(lr->batch->readings.size() == 3);
  CHECK(f.metrics.value("mqtt_redeliveries_deduplicated_total") == 1);
}

TEST_CASE("a full ingest queue answers throttled and stores nothing", "[store]") {
  Fixture f;
  auto o = f.opts();
  o.queue_max_rows = 5;
  auto s = store::Store::open(o, f.clock, f.metrics);
  REQUIRE(s);
  std::vector<Reading> six(6, make("d", "m", 1.0, f.clock.now()));
  CHECK(submit_wait(**s, six) == CommitStatus::throttled);
  CHECK(f.metrics.value("store_throttled_total") == 1);
  CHECK(submit_wait(**s, {make("d", "m", 1.0, f.clock.now())}) == CommitStatus::committed);
  auto lr = lease(**s, 100, 0ms);
  CHECK(lr->batch->readings.size() == 1);
}

TEST_CASE("fsynced submissions share group commits and all complete", "[store]") {
  Fixture f;
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  REQUIRE(s);
  constexpr int kThreads = 4, kPer = 200;
  std::atomic<int> committed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i)
        if (submit_wait(**s, {make("d" + std::to_string(t), "m", std::int64_t{i}, f.clock.now())},
                        {Durability::fsynced, std::nullopt}) == CommitStatus::committed)
          ++committed;
    });
  for (auto& t : ts) t.join();
  CHECK(committed == kThreads * kPer);
  // every commit asked for an fsync, and each was one (or shared one)
  CHECK(f.metrics.value("store_fsyncs_total") >= 1);
  CHECK(f.metrics.value("store_fsyncs_total") <= f.metrics.value("store_commits_total"));
  CHECK((*s)->integrity_check() == "ok");
}

TEST_CASE("device queries show the latest value per metric", "[store][query]") {
  Fixture f;
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  REQUIRE(s);
  auto t0 = f.clock.now();
  (*s)->submit_from("sim", {make("aq-1", "pm10", 10.0, t0), make("aq-1", "no2", 5.0, t0)}, {}, nullptr);
  std::promise<void> p;
  (*s)->submit_from("sim", {make("aq-1", "pm10", 12.5, t0 + 1s)}, {}, [&](CommitStatus) { p.set_value(); });
  p.get_future().wait();
  (*s)->flush();
  auto d = (*s)->get_device("aq-1");
  REQUIRE(d);
  CHECK(d->adapter == "sim");
  REQUIRE(d->latest.size() == 2);
  CHECK(d->latest[0].metric == "no2");
  CHECK(d->latest[1].metric == "pm10");
  CHECK(std::get<double>(d->latest[1].value) == 12.5);
  CHECK(d->latest[1].observed == t0 + 1s);
  CHECK_FALSE((*s)->get_device("nope"));
  CHECK((*s)->list_devices().size() == 1);
}

TEST_CASE("rejected payloads are kept, bounded", "[store]") {
  Fixture f;
  auto o = f.opts();
  o.rejected_max = 3;
  auto s = store::Store::open(o, f.clock, f.metrics);
  REQUIRE(s);
  std::vector<std::uint8_t> junk = {'{', 'x'};
  for (int i = 0; i < 5; ++i) (*s)->reject_payload("a", "topic", junk, "json: bad");
  (*s)->flush();
  CHECK((*s)->rejected_payload_count() == 3);
  CHECK(f.metrics.value("rejected_payloads_total") == 5);
}

TEST_CASE("a database from a newer citygate is refused, not migrated down", "[store]") {
  Fixture f;
  { auto s = store::Store::open(f.opts(), f.clock, f.metrics); REQUIRE(s); }
  REQUIRE(std::system(("sqlite3 " + (f.dir / "gw.db").string() + " 'PRAGMA user_version=999'").c_str()) == 0);
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("newer") != std::string::npos);
}

TEST_CASE("redelivery recognition survives reopening the store", "[store][dedup]") {
  Fixture f;
  DedupKey k{"broker/client/adapter", 7, 0x5151, false};
  {
    auto s = store::Store::open(f.opts(), f.clock, f.metrics);
    REQUIRE(s);
    REQUIRE(submit_wait(**s, {make("d", "m", 1.0, f.clock.now()), make("d", "n", 2.0, f.clock.now())},
                        {Durability::committed, k}) == CommitStatus::committed);
  }
  auto s = store::Store::open(f.opts(), f.clock, f.metrics);
  REQUIRE(s);
  k.is_redelivery = true;
  CHECK(submit_wait(**s, {make("d", "m", 1.0, f.clock.now()), make("d", "n", 2.0, f.clock.now())},
                    {Durability::committed, k}) == CommitStatus::duplicate);
  // another source with the same packet id is another message
  DedupKey other{"broker/client/other", 7, 0x5151, true};
  CHECK(submit_wait(**s, {make("d", "m", 3.0, f.clock.now())}, {Durability::committed, other}) == CommitStatus::committed);
  auto lr = lease(**s, 100, 0ms);
  REQUIRE(lr->batch);
  CHECK(lr->batch->readings.size() == 3);
  CHECK(lr->batch->readings.back().seq == 3);
}

TEST_CASE("an idle writer fsyncs committed readings within sync_interval", "[store][durability]") {
  // The power-cut window of docs/delivery.md: a commit that asked for no fsync is still on disk
  // within store.sync_interval, even when nothing else arrives to carry the fsync.
  test::TempDir dir;
  SystemClock clock;
  Metrics metrics;
  store::StoreOptions o;
  o.path = dir / "gw.db";
  o.sync_interval = 300ms;
  auto s = store::Store::open(o, clock, metrics);
  REQUIRE(s);
  REQUIRE(submit_wait(**s, {make("d", "m", 1.0, clock.now())}) == CommitStatus::committed);
  CHECK(metrics.value("store_fsyncs_total") == 0);  // committed, not yet synced
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(test::wait_until([&] { return metrics.value("store_fsyncs_total") >= 1; }, 5s));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}
